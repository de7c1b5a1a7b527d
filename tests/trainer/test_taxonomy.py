"""One activity vocabulary across datasets, the coarse taxonomy, and the config keys that choose them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_runtime.contract import WindowSpec
from trainer.config import TrainConfig, dataset_names, load_config
from trainer.data import ACTIVITIES, COARSE_ACTIVITIES, Recording, load_hapt, load_windows, make_windows, relabel
from trainer.data.taxonomy import FINE_TO_COARSE, SISFALL_FINE, activity_names
from trainer.errors import DatasetError, TrainerError

SHIPPED = ("walking", "upstairs", "downstairs", "sitting", "standing", "laying", "jogging")


def test_fine_indices_of_the_shipped_model_never_move() -> None:
    assert ACTIVITIES[:7] == SHIPPED
    assert ACTIVITIES[7:] == ("stairs", "transition", "jumping")
    assert COARSE_ACTIVITIES == ("walk", "stairs", "jog", "static", "transition", "jump")
    assert set(FINE_TO_COARSE) == set(ACTIVITIES) and set(FINE_TO_COARSE.values()) == set(COARSE_ACTIVITIES)
    assert activity_names("fine") == ACTIVITIES and activity_names("coarse") == COARSE_ACTIVITIES


def test_relabel_to_coarse() -> None:
    fine = np.array([-1, *range(len(ACTIVITIES))])
    coarse = [COARSE_ACTIVITIES[i] if i >= 0 else None for i in relabel(fine, "coarse")]
    assert coarse == [None, "walk", "stairs", "stairs", "static", "static", "static", "jog", "stairs", "transition", "jump"]
    np.testing.assert_array_equal(relabel(fine, "fine"), fine)
    with pytest.raises(DatasetError, match="unknown activity taxonomy 'medium'"):
        relabel(fine, "medium")
    with pytest.raises(DatasetError, match="outside"):
        relabel(np.array([10]), "coarse")


def test_sisfall_rules() -> None:
    names = {code: SISFALL_FINE[code] for code in range(1, 20)}
    assert names[1] == names[2] == "walking" and names[3] == names[4] == "jogging" and names[5] == names[6] == "stairs"
    assert all(names[c] == "transition" for c in range(7, 18)) and names[18] is None and names[19] == "jumping"


def test_coarse_windows_are_the_fine_windows_relabelled() -> None:
    rng = np.random.default_rng(3)
    labels = np.full(1200, -1, np.int8)
    for a, b, name in ((0, 300, "walking"), (300, 600, "upstairs"), (600, 900, "sitting"), (900, 1200, "standing")):
        labels[a:b] = ACTIVITIES.index(name)
    rec = Recording("t", 1, 1, rng.normal(size=(1200, 6)).astype(np.float32), labels)
    spec = WindowSpec(stride=64)
    fine, coarse = make_windows([rec], spec), make_windows([rec], spec, taxonomy="coarse")
    np.testing.assert_array_equal(coarse.x, fine.x)
    np.testing.assert_array_equal(coarse.bout, fine.bout)  # sitting and standing stay two bouts
    assert len(np.unique(coarse.bout)) == 4 and coarse.activity_names == COARSE_ACTIVITIES
    assert [COARSE_ACTIVITIES[a] for a in coarse.activity[np.unique(coarse.bout, return_index=True)[1]]] == [
        "walk", "stairs", "static", "static",
    ]


def test_hapt_transitions_only_in_the_coarse_load(hapt_small_root: Path) -> None:
    table = np.loadtxt(hapt_small_root / "RawData" / "labels.txt", dtype=np.int64, ndmin=2)
    n_transition = int(sum(e - s + 1 for _, _, act, s, e in table if act >= 7))
    fine, coarse = load_hapt(hapt_small_root), load_hapt(hapt_small_root, transitions=True)
    t = ACTIVITIES.index("transition")
    assert sum(int((r.labels == t).sum()) for r in fine) == 0
    assert sum(int((r.labels == t).sum()) for r in coarse) == n_transition > 0
    for a, b in zip(fine, coarse, strict=True):  # nothing else changes
        keep = b.labels != t
        np.testing.assert_array_equal(a.labels[keep], b.labels[keep])
    ws = load_windows("hapt", hapt_small_root, WindowSpec(stride=64), taxonomy="coarse")
    present = {COARSE_ACTIVITIES[a] for a in ws.activities}
    assert present == {"walk", "stairs", "static", "transition"}  # HAPT lacks jog and jump: no windows, no error


def test_config_datasets_and_taxonomy_keys(tmp_path: Path) -> None:
    assert dataset_names(TrainConfig()) == ("hapt",)
    p = tmp_path / "c.toml"
    p.write_text('datasets = ["hapt", "sisfall"]\ntaxonomy = "coarse"\n')
    cfg = load_config(p)
    assert cfg.datasets == ("hapt", "sisfall") and cfg.taxonomy == "coarse" and dataset_names(cfg) == ("hapt", "sisfall")
    assert load_config(datasets=("sisfall",)).datasets == ("sisfall",)
    for text, match in (
        ('datasets = "hapt"\n', "datasets must be a list of str, got str"),
        ("datasets = [1]\n", "datasets must be a list of str, got the element 1"),
        ('taxonomy = "medium"\n', "taxonomy must be one of fine, coarse"),
        ("taxonomy = 3\n", "taxonomy must be str"),
    ):
        p.write_text(text)
        with pytest.raises(TrainerError, match=match) as info:
            load_config(p)
        assert "\n" not in str(info.value)
