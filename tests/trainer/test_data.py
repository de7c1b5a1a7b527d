"""Dataset loaders and window cutting: real HAPT counts and units, a generated MotionSense fixture."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.contract import G, WindowSpec, sliding_windows, to_view, window_starts
from trainer.data import ACTIVITIES, Recording, load_dataset, load_hapt, load_motionsense, make_windows
from trainer.errors import DatasetError

from .conftest import copy_hapt_subset


@pytest.fixture(scope="module")
def hapt(hapt_root: Path) -> list[Recording]:
    return load_hapt(hapt_root)


def test_hapt_counts_match_the_published_dataset(hapt: list[Recording]) -> None:
    assert len({r.subject for r in hapt}) == 30
    assert len({r.trial for r in hapt}) == 61
    assert sum(len(r.samples) for r in hapt) == 1_122_772
    assert all(r.samples.dtype == np.float32 and r.samples.shape[1] == 6 for r in hapt)


def test_hapt_units_are_canonical(hapt: list[Recording]) -> None:
    at_rest = [ACTIVITIES.index(a) for a in ("sitting", "standing", "laying")]
    acc = np.concatenate([np.linalg.norm(r.samples[np.isin(r.labels, at_rest), :3], axis=1) for r in hapt])
    gyro = np.concatenate([np.linalg.norm(r.samples[np.isin(r.labels, at_rest), 3:], axis=1) for r in hapt])
    assert 9.3 < np.median(acc) < 10.3  # ≈ 1 g in m/s² (measured 10.03; the files are in g)
    assert np.median(gyro) < 0.1  # rad/s, a still phone barely rotates


def test_hapt_labels_in_range_and_all_activities_present(hapt: list[Recording]) -> None:
    labels = np.concatenate([r.labels for r in hapt])
    assert labels.min() == -1 and labels.max() == 5
    assert set(np.unique(labels[labels >= 0]).tolist()) == set(range(6))  # HAPT has no jogging


def test_hapt_missing_folder_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found") as info:
        load_hapt(tmp_path / "nowhere")
    assert "\n" not in str(info.value)


@pytest.fixture
def hapt_copy(hapt_root: Path, tmp_path: Path) -> Path:
    return copy_hapt_subset(hapt_root, tmp_path / "hapt", (1,))


def test_hapt_subset_copy_loads(hapt_copy: Path) -> None:
    recs = load_hapt(hapt_copy)
    assert {r.subject for r in recs} == {1} and {r.trial for r in recs} == {1, 2}


def test_hapt_corrupt_file_names_the_file(hapt_copy: Path) -> None:
    bad = hapt_copy / "RawData" / "acc_exp01_user01.txt"
    with open(bad, "a") as f:
        f.write("0.1 garbage 0.3\n")
    with pytest.raises(DatasetError) as info:
        load_hapt(hapt_copy)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)


def test_hapt_truncated_gyro_and_missing_gyro_are_errors(hapt_copy: Path) -> None:
    gyro = hapt_copy / "RawData" / "gyro_exp02_user01.txt"
    lines = gyro.read_text().splitlines()
    gyro.write_text("\n".join(lines[:-10]) + "\n")
    with pytest.raises(DatasetError, match="experiment 2"):
        load_hapt(hapt_copy)
    gyro.unlink()
    with pytest.raises(DatasetError, match="gyro_exp02_user01.txt"):
        load_hapt(hapt_copy)


def test_hapt_label_row_outside_the_recording_is_an_error(hapt_copy: Path) -> None:
    labels = hapt_copy / "RawData" / "labels.txt"
    labels.write_text(labels.read_text() + "1 1 1 10 99999999\n")
    with pytest.raises(DatasetError, match="does not fit"):
        load_hapt(hapt_copy)


MS_HEADER = [
    "", "attitude.roll", "attitude.pitch", "attitude.yaw", "gravity.x", "gravity.y", "gravity.z",
    "rotationRate.x", "rotationRate.y", "rotationRate.z", "userAcceleration.x", "userAcceleration.y", "userAcceleration.z",
]


def write_motionsense(root: Path, layout: dict[str, list[int]], n: int = 300, seed: int = 0) -> Path:
    """Generate ``A_DeviceMotion_data/<act>_<trial>/sub_<n>.csv`` files: gravity on z, small motion."""
    rng = np.random.default_rng(seed)
    base = root / "A_DeviceMotion_data"
    for folder, subjects in layout.items():
        (base / folder).mkdir(parents=True)
        for s in subjects:
            with open(base / folder / f"sub_{s}.csv", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(MS_HEADER)
                for i in range(n):
                    user = rng.normal(0, 0.05, 3)
                    w.writerow([i, 0.1, 0.2, 0.3, 0.0, 0.0, 1.0, *rng.normal(0, 0.5, 3), *user])
    return root


def test_motionsense_fixture_loads_in_canonical_units(tmp_path: Path) -> None:
    root = write_motionsense(tmp_path, {"wlk_7": [1, 2], "sit_5": [1], "jog_9": [2]})
    recs = load_motionsense(root)
    assert len(recs) == 4 and {r.subject for r in recs} == {1, 2}
    by = {(r.subject, r.trial): r for r in recs}
    wlk = by[(1, 7 * 100 + ACTIVITIES.index("walking"))]
    assert (wlk.labels == ACTIVITIES.index("walking")).all() and len(wlk.samples) == 300
    assert abs(np.median(wlk.samples[:, 2]) - G) < 0.1  # gravity + userAcceleration, g -> m/s²
    assert (by[(2, 9 * 100 + ACTIVITIES.index("jogging"))].labels == ACTIVITIES.index("jogging")).all()
    assert load_dataset("motionsense", root / "A_DeviceMotion_data")[0].dataset == "motionsense"


def test_motionsense_gyro_columns_are_rotation_rate(tmp_path: Path) -> None:
    root = write_motionsense(tmp_path, {"ups_3": [4]}, n=50)
    with open(root / "A_DeviceMotion_data" / "ups_3" / "sub_4.csv", newline="") as f:
        rows = list(csv.reader(f))
    expected = np.array([[float(v) for v in r[7:10]] for r in rows[1:]], np.float32)
    np.testing.assert_allclose(load_motionsense(root)[0].samples[:, 3:], expected, rtol=1e-6)


def test_motionsense_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        load_motionsense(tmp_path)
    root = write_motionsense(tmp_path / "a", {"wlk_1": [1]}, n=20)
    bad = root / "A_DeviceMotion_data" / "wlk_1" / "sub_1.csv"
    bad.write_text(bad.read_text() + "1,2,3,x,5\n")
    with pytest.raises(DatasetError) as info:
        load_motionsense(root)
    assert str(bad) in str(info.value)
    root = write_motionsense(tmp_path / "b", {"fly_1": [1]}, n=20)
    with pytest.raises(DatasetError, match="unknown activity"):
        load_motionsense(root)
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset("nope", root)


def test_make_windows_uses_the_contract_and_never_straddles_a_bout() -> None:
    rng = np.random.default_rng(1)
    samples = rng.normal(size=(1000, 6)).astype(np.float32)
    labels = np.full(1000, -1, np.int8)
    labels[0:300], labels[300:700], labels[750:1000] = 0, 3, 0  # 3 bouts; 700-750 unlabelled
    spec = WindowSpec(length=128, stride=32, view="magnitude")
    ws = make_windows([Recording("t", 9, 1, samples, labels)], spec)
    view = to_view(samples, spec.view)
    expected = np.concatenate([sliding_windows(view[a:b], spec) for a, b in ((0, 300), (300, 700), (750, 1000))])
    np.testing.assert_array_equal(ws.x, expected)
    assert len(ws) == sum(len(window_starts(n, spec)) for n in (300, 400, 250))
    assert len(np.unique(ws.bout)) == 3
    for i in range(len(ws)):  # every window lies inside one bout of its label
        seg = labels[ws.start[i] : ws.start[i] + spec.length]
        assert (seg == ws.activity[i]).all()
        np.testing.assert_array_equal(ws.x[i], view[ws.start[i] : ws.start[i] + spec.length])


def test_make_windows_rejects_wrong_rate_and_no_fit() -> None:
    rec = Recording("t", 1, 1, np.zeros((100, 6), np.float32), np.zeros(100, np.int8), rate_hz=100.0)
    with pytest.raises(DatasetError, match="Hz"):
        make_windows([rec], WindowSpec())
    short = Recording("t", 1, 1, np.zeros((100, 6), np.float32), np.zeros(100, np.int8))
    with pytest.raises(DatasetError, match="no 128-sample window"):
        make_windows([short], WindowSpec())
