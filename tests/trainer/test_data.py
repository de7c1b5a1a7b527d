"""Dataset loaders and window cutting: real HAPT counts and units, a generated MotionSense fixture,
window provenance and attributes, and several datasets loaded at once."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.contract import G, WindowSpec, sliding_windows, to_view, window_starts
from trainer.data import (
    ACTIVITIES,
    COARSE_ACTIVITIES,
    Recording,
    SubjectInfo,
    WindowSet,
    load_dataset,
    load_hapt,
    load_motionsense,
    load_windows,
    make_windows,
    resolve_roots,
)
from trainer.errors import DatasetError

from ..conftest import SHARED_DATASETS
from .conftest import SISFALL_SMALL, copy_hapt_subset


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
    wlk = by[(1, 10000 + 7 * 100 + ACTIVITIES.index("walking"))]
    assert (wlk.labels == ACTIVITIES.index("walking")).all() and len(wlk.samples) == 300
    assert abs(np.median(wlk.samples[:, 2]) - G) < 0.1  # gravity + userAcceleration, g -> m/s²
    assert (by[(2, 20000 + 9 * 100 + ACTIVITIES.index("jogging"))].labels == ACTIVITIES.index("jogging")).all()
    assert len({r.trial for r in recs}) == 4 and all(r.info is None for r in recs)  # no subjects file here
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


# --- provenance and subject attributes ----------------------------------------------------------

# Fine HAPT windows at stride 64, measured before the vocabulary grew: the shipped model's data
HAPT_FINE_IDS_SHA256 = "f0a5c3f4319c9b74f1ba5dfe1dc68a1a67d3c385660a0bdb0efced95ce7c2830"
HAPT_FINE_X_SUM = (13512898.45674962, 508739.74165588)


def test_fine_hapt_windows_are_unchanged(hapt: list[Recording]) -> None:
    ws = make_windows(hapt, WindowSpec(stride=64))
    assert len(ws) == 10411 and np.bincount(ws.activity).tolist() == [1722, 1544, 1407, 1801, 1979, 1958]
    h = hashlib.sha256()
    for a in (ws.activity, ws.subject, ws.trial, ws.bout, ws.start):
        h.update(np.ascontiguousarray(a).astype("<i8").tobytes())
    assert h.hexdigest() == HAPT_FINE_IDS_SHA256
    np.testing.assert_allclose(ws.x.astype(np.float64).sum(axis=(0, 1)), HAPT_FINE_X_SUM, rtol=1e-9)
    assert ws.activity_names[:7] == ACTIVITIES[:7] and ws.dataset == "hapt" and ws.datasets == ("hapt",)
    assert (ws.gender() == "").all() and np.isnan(ws.attribute("age")).all() and ws.subject_info == {}


def test_load_windows_is_make_windows_of_the_loader(hapt_small_root: Path) -> None:
    spec = WindowSpec(stride=64)
    a, b = load_windows("hapt", hapt_small_root, spec), make_windows(load_hapt(hapt_small_root), spec)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.subject, b.subject)
    assert a.activity_names == ACTIVITIES


def test_motionsense_attributes_from_the_published_csv(tmp_path: Path) -> None:
    info_csv = SHARED_DATASETS / "motionsense" / "data_subjects_info.csv"
    if not info_csv.is_file():
        pytest.skip(f"MotionSense subject table not found at {info_csv}")
    root = write_motionsense(tmp_path / "ms", {"wlk_7": [1, 3], "jog_9": [3]}, n=200)
    shutil.copy(info_csv, root / "data_subjects_info.csv")  # next to A_DeviceMotion_data
    recs = load_motionsense(root)
    info = {r.subject: r.info for r in recs}
    assert info[1] == SubjectInfo("M", 46.0, 188.0, 102.0) and info[3] == SubjectInfo("F", 28.0, 161.0, 48.0)
    ws = make_windows(recs, WindowSpec(length=64, stride=32))
    assert set(ws.gender().tolist()) == {"M", "F"}
    np.testing.assert_array_equal(ws.attribute("weight_kg"), np.where(ws.subject == 1, 102.0, 48.0))
    assert [r.subject for r in load_motionsense(root, subjects={3})] == [3, 3]
    nested = tmp_path / "above" / "data"  # one level above A_DeviceMotion_data's parent
    shutil.copytree(root / "A_DeviceMotion_data", nested / "A_DeviceMotion_data")
    shutil.copy(info_csv, tmp_path / "above" / "data_subjects_info.csv")
    assert load_motionsense(nested)[0].info is not None
    (root / "data_subjects_info.csv").write_text("code,weight,height,age,gender\n1,70,170,30,2\n")
    with pytest.raises(DatasetError, match="data_subjects_info.csv"):
        load_motionsense(root)


def small_set() -> WindowSet:
    rng = np.random.default_rng(0)
    recs = [
        Recording("a", s, s, rng.normal(size=(300, 6)).astype(np.float32), np.zeros(300, np.int8), info=info)
        for s, info in ((1, SubjectInfo("F", 20.0, 160.0, 50.0)), (2, SubjectInfo("M", None, 180.0, 80.0)), (3, None))
    ]
    return make_windows(recs, WindowSpec(stride=64))


def test_window_attributes_and_subset_keep_provenance() -> None:
    ws = small_set()
    assert ws.gender().tolist() == ["F"] * 3 + ["M"] * 3 + [""] * 3
    np.testing.assert_array_equal(ws.attribute("age"), [20.0] * 3 + [np.nan] * 6)
    np.testing.assert_array_equal(ws.attribute("height_cm"), [160.0] * 3 + [180.0] * 3 + [np.nan] * 3)
    assert ws.dataset_of().tolist() == ["a"] * 9 and ws.origin is not None and ws.origin.dtype == np.int16
    sub = ws.subset(np.array([8, 0, 4]))
    assert sub.gender().tolist() == ["", "F", "M"] and sub.datasets == ("a",) and sub.origin is not None
    assert sub.subject_info == ws.subject_info and sub.subset(np.array([], int)).gender().shape == (0,)
    with pytest.raises(ValueError, match="unknown subject attribute"):
        ws.attribute("shoe_size")


def test_one_subject_id_in_two_datasets_is_refused() -> None:
    x, y = np.zeros((200, 6), np.float32), np.zeros(200, np.int8)
    with pytest.raises(DatasetError, match="subject id 1 is in a and b"):
        make_windows([Recording("a", 1, 1, x, y), Recording("b", 1, 1, x, y)], WindowSpec())


# --- several datasets -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed(hapt_small_root: Path, sisfall_small_root: Path) -> WindowSet:
    return load_windows(["hapt", "sisfall"], {"hapt": hapt_small_root, "sisfall": sisfall_small_root}, WindowSpec(stride=64))


def test_hapt_and_sisfall_together(mixed: WindowSet, hapt_small_root: Path, sisfall_small_root: Path) -> None:
    assert mixed.activity_names == COARSE_ACTIVITIES and mixed.datasets == ("hapt", "sisfall")
    assert mixed.dataset == "hapt+sisfall"
    ids = set(mixed.subjects.tolist())
    assert ids == {1001, 1002, 1003, 1004, 1005, 1006} | {2000 + s for s in SISFALL_SMALL}
    origin = mixed.dataset_of()
    assert set(mixed.subject[origin == "hapt"] // 1000) == {1} and set(mixed.subject[origin == "sisfall"] // 1000) == {2}
    assert (mixed.trial[origin == "hapt"] // 10_000_000 == 1).all() and (mixed.trial[origin == "sisfall"] // 10_000_000 == 2).all()
    assert not set(mixed.bout[origin == "hapt"]) & set(mixed.bout[origin == "sisfall"])
    assert (mixed.gender()[origin == "hapt"] == "").all()
    assert mixed.gender()[mixed.subject == 2021][0] == "M" and mixed.attribute("weight_kg")[mixed.subject == 2015][0] == 52.0
    names = {d: {COARSE_ACTIVITIES[a] for a in mixed.activity[origin == d]} for d in mixed.datasets}
    assert names == {"hapt": {"walk", "stairs", "static", "transition"}, "sisfall": {"walk", "stairs", "jog", "transition", "jump"}}
    alone = load_windows("sisfall", sisfall_small_root, WindowSpec(stride=64), taxonomy="coarse")
    np.testing.assert_array_equal(alone.x, mixed.x[origin == "sisfall"])  # same windows, renumbered only
    np.testing.assert_array_equal(alone.subject + 2000, mixed.subject[origin == "sisfall"])
    fine = load_windows(["hapt", "sisfall"], {"hapt": hapt_small_root, "sisfall": sisfall_small_root}, WindowSpec(stride=64), taxonomy="fine")
    assert fine.activity_names == ACTIVITIES and len(fine) < len(mixed)  # fine: HAPT transitions stay unlabelled


def test_resolve_roots_in_a_parent_folder(tmp_path: Path, hapt_small_root: Path, sisfall_small_root: Path) -> None:
    (tmp_path / "uci-hapt").symlink_to(hapt_small_root)
    (tmp_path / "SisFall").symlink_to(sisfall_small_root)
    assert resolve_roots(["hapt", "sisfall"], tmp_path) == {"hapt": tmp_path / "uci-hapt", "sisfall": tmp_path / "SisFall"}
    assert resolve_roots("hapt", tmp_path) == {"hapt": tmp_path / "uci-hapt"}  # one name, a parent: its subfolder
    assert resolve_roots("hapt", hapt_small_root) == {"hapt": hapt_small_root}
    with pytest.raises(DatasetError, match="dataset motionsense not found: looked in .*motionsense") as info:
        resolve_roots(["hapt", "motionsense"], tmp_path)
    assert "point --data at" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(DatasetError, match="dataset hapt not found"):
        load_windows("hapt", tmp_path / "nowhere", WindowSpec())
    with pytest.raises(DatasetError, match="no path given for dataset sisfall"):
        resolve_roots(["hapt", "sisfall"], {"hapt": hapt_small_root})
    with pytest.raises(DatasetError, match="named twice"):
        resolve_roots(["hapt", "hapt"], tmp_path)
    with pytest.raises(DatasetError, match="unknown dataset 'nope'"):
        load_windows(["hapt", "nope"], tmp_path, WindowSpec())
