"""SisFall loader: the real zip's published facts, zip == extracted folder, and a synthetic archive's errors."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.contract import G, WindowSpec
from trainer.data import ACTIVITIES, Recording, SubjectInfo, load_sisfall, make_windows
from trainer.data.sisfall import parse_readme_subjects, parse_subjects_csv
from trainer.errors import DatasetError

from .conftest import SISFALL_SMALL

FEMALE = {1, 3, 7, 8, 12, 13, 14, 15, 16, 20, 22, 23}  # the dataset README's list
FILES_PER_CODE = {1: 23, 2: 23, 3: 23, 4: 23, 5: 115, 6: 113, 17: 114} | {c: 115 for c in (*range(7, 17), 18, 19)}
ROWS_200HZ = 6_861_804


def code_of(rec: Recording) -> int:
    return rec.trial // 100 % 100


# --- the real archive --------------------------------------------------------------------------


def test_counts_match_the_published_dataset(sisfall: list[Recording]) -> None:
    assert len(sisfall) == 1814 and {r.subject for r in sisfall} == set(range(1, 24))
    assert len({r.trial for r in sisfall}) == 1814  # trial ids are unique in the dataset
    codes = np.bincount([code_of(r) for r in sisfall], minlength=20)
    assert {c: int(codes[c]) for c in range(1, 20)} == FILES_PER_CODE
    total = sum(len(r.samples) for r in sisfall)  # ceil(rows / 4) per file
    assert ROWS_200HZ / 4 <= total < ROWS_200HZ / 4 + 1814
    assert all(r.rate_hz == 50.0 and r.samples.dtype == np.float32 and r.dataset == "sisfall" for r in sisfall)


def test_subject_comes_from_the_folder(sisfall: list[Recording]) -> None:
    d17 = [r for r in sisfall if r.subject == 15 and code_of(r) == 17]  # the D17_SE15_R0x files in SA15/
    assert sorted(r.trial for r in d17) == [151701, 151702, 151703, 151704, 151705]
    # SA15's standing gravity, not SE15's (about -0.50 g on z): the README's check of these files
    z = np.mean([r.samples[:25, 2].mean() for r in d17]) / G
    assert -0.2 < z < 0.4


def test_genders_and_attributes(sisfall: list[Recording]) -> None:
    info = {r.subject: r.info for r in sisfall}
    assert {s for s, i in info.items() if i is not None and i.gender == "F"} == FEMALE
    assert {s for s, i in info.items() if i is not None and i.gender == "M"} == set(range(1, 24)) - FEMALE
    assert info[1] == SubjectInfo("F", 26.0, 165.0, 53.0) and info[2] == SubjectInfo("M", 23.0, 176.0, 58.5)


def test_labels_follow_the_taxonomy(sisfall: list[Recording]) -> None:
    expect = {1: "walking", 2: "walking", 3: "jogging", 4: "jogging", 5: "stairs", 6: "stairs", 19: "jumping"}
    for r in sisfall:
        code = code_of(r)
        want = -1 if code == 18 else ACTIVITIES.index(expect.get(code, "transition"))
        assert (r.labels == want).all(), r.trial


def test_units_still_windows_gravity_and_gyro(sisfall: list[Recording]) -> None:
    ws = make_windows(sisfall, WindowSpec(stride=64, view="axes"))
    acc, gyro = np.linalg.norm(ws.x[..., :3], axis=2), np.linalg.norm(ws.x[..., 3:], axis=2)
    still = (acc.std(axis=1) < 0.1) & (gyro.mean(axis=1) < 0.1)
    assert still.sum() > 3000 and 9.6 < acc[still].mean() < 10.0  # README: 9.79 m/s² (measured 9.79)
    standing = np.array([r.samples[:25, :3].mean(axis=0) for r in sisfall if code_of(r) in (15, 16)]) / G
    assert len(standing) == 230 and -1.05 < standing[:, 1].mean() < -0.9  # y vertical, negative upright
    gyro_mean = {c: np.mean([np.linalg.norm(r.samples[:, 3:], axis=1).mean() for r in sisfall if code_of(r) == c]) for c in (1, 2, 3)}
    assert 0.4 < gyro_mean[1] < gyro_mean[2] < gyro_mean[3] < 2.0  # rad/s: slow walk 0.54, fast 0.79, jog 1.36


def test_trailing_whitespace_file_loads(sisfall_root: Path, sisfall: list[Recording]) -> None:
    with zipfile.ZipFile(sisfall_root / "SisFall_dataset.zip") as z:
        raw = z.read("SisFall_dataset/SA21/D05_SA21_R03.txt")
    assert raw.endswith(b" ") and raw.rstrip().endswith(b";")  # the quirk is there
    rec = next(r for r in sisfall if r.trial == 210503)
    assert len(rec.samples) == math.ceil(raw.count(b";") / 4)


def test_zip_and_extracted_folder_give_identical_recordings(sisfall: list[Recording], sisfall_small_root: Path, sisfall_root: Path) -> None:
    from_zip = [r for r in sisfall if r.subject in SISFALL_SMALL]
    for root in (sisfall_small_root, sisfall_small_root / "SisFall_dataset"):  # no subjects.csv here: the Readme's table
        got = load_sisfall(root)
        assert [(r.subject, r.trial) for r in got] == [(r.subject, r.trial) for r in from_zip]
        for a, b in zip(got, from_zip, strict=True):
            np.testing.assert_array_equal(a.samples, b.samples)
            np.testing.assert_array_equal(a.labels, b.labels)
            assert a.info == b.info and a.info is not None and a.rate_hz == b.rate_hz
    zip_file = load_sisfall(sisfall_root / "SisFall_dataset.zip", subjects={15})
    assert [r.trial for r in zip_file] == [r.trial for r in from_zip if r.subject == 15]


def test_readme_table_equals_subjects_csv(sisfall_root: Path) -> None:
    with zipfile.ZipFile(sisfall_root / "SisFall_dataset.zip") as z:
        readme = parse_readme_subjects(z.read("SisFall_dataset/Readme.txt").decode("cp1252"), "Readme.txt")
    table = parse_subjects_csv((sisfall_root / "subjects.csv").read_text(encoding="utf-8"), "subjects.csv")
    young = {f"SA{i:02d}" for i in range(1, 24)}
    assert set(table) == young and {k for k in readme if k.startswith("SA")} == young
    assert {k: readme[k] for k in young} == table
    assert len(readme) == 38 and readme["SE01"] == SubjectInfo("M", 71.0, 171.0, 102.0)


# --- a synthetic archive in the official layout --------------------------------------------------

CONST = (256, 0, -512, 1000, -2000, 0, 11, 22, 33)  # ADXL345 x=1 g, z=-2 g; ITG3200 x=+1000, y=-2000 counts


def rows(n: int, values: tuple[int, ...] = CONST) -> bytes:
    return b"".join(b",".join(b"%4d" % v for v in values) + b";\r\n" for _ in range(n))


README = (
    "Subjects:\r\n\r\n+---------+-----+--------+--------+--------+\r\n| Subject | Age | Height | Weight | Gender |\r\n"
    "+---------+-----+--------+--------+--------+\r\n| SA01    | 26  | 165    | 53     | F      |\r\n"
    "| SA15    | 25  | 160    | 52     | F      |\r\n| SE01    | 71  | 171    | 102    | M      |\r\n"
    "+---------+-----+--------+--------+--------+\r\n* Height in cm and Weight in kg. One’s back\r\n"
).encode("cp1252")


def write_archive(path: Path, files: dict[str, bytes], *, readme: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        if readme:
            z.writestr("SisFall_dataset/Readme.txt", README)
        for name, data in files.items():
            z.writestr(f"SisFall_dataset/{name}", data)
    return path


def official(n: int = 400) -> dict[str, bytes]:
    return {
        "SA01/D01_SA01_R01.txt": rows(n),
        "SA01/D18_SA01_R02.txt": rows(n),
        "SA01/F01_SA01_R01.txt": rows(n),  # a fall: not loaded
        "SA01/desktop.ini": b"[.ShellClassInfo]\r\n",
        "SA15/D17_SE15_R03.txt": rows(n) + b"  ",  # misnamed, and stray spaces after the last CRLF
        "SE01/D01_SE01_R01.txt": rows(n),  # elderly: only with elderly=True
    }


def test_synthetic_archive_units_ids_and_options(tmp_path: Path) -> None:
    zpath = write_archive(tmp_path / "SisFall_dataset.zip", official())
    recs = load_sisfall(tmp_path)
    assert [(r.subject, r.trial) for r in recs] == [(1, 10101), (1, 11802), (15, 151703)]
    r = recs[0]
    assert len(r.samples) == 100 and r.rate_hz == 50.0 and (r.labels == ACTIVITIES.index("walking")).all()
    deg = 4000 / 65536 * np.pi / 180
    np.testing.assert_allclose(r.samples[0], [G, 0, -2 * G, 1000 * deg, -2000 * deg, 0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(r.samples, np.tile(r.samples[0], (100, 1)), rtol=1e-6, atol=1e-6)  # DC gain 1, ends too
    assert (recs[1].labels == -1).all() and r.info == SubjectInfo("F", 26.0, 165.0, 53.0)  # info from the Readme
    elderly = load_sisfall(zpath, elderly=True, subjects={101})
    assert [(e.subject, e.trial, e.info) for e in elderly] == [(101, 1010101, SubjectInfo("M", 71.0, 171.0, 102.0))]
    assert len(load_sisfall(zpath, rate_hz=100.0)[0].samples) == 200
    with pytest.raises(DatasetError, match="integer"):
        load_sisfall(zpath, rate_hz=60.0)


def test_subjects_csv_beside_the_zip_wins_over_the_readme(tmp_path: Path) -> None:
    write_archive(tmp_path / "SisFall_dataset.zip", official())
    (tmp_path / "subjects.csv").write_text("code,age,height_cm,weight_kg,gender\nSA01,40,170,60.5,F\nSA15,25,160,52,F\n")
    assert load_sisfall(tmp_path, subjects={1})[0].info == SubjectInfo("F", 40.0, 170.0, 60.5)
    (tmp_path / "subjects.csv").write_text("code,age,height_cm,weight_kg,gender\nSA01,40,170,60.5,X\n")
    with pytest.raises(DatasetError, match=r"subjects\.csv row SA01: gender"):
        load_sisfall(tmp_path)


@pytest.mark.parametrize(
    ("name", "data", "match"),
    [
        ("SA01/D01_SA01_R01.txt", rows(50) + b" -10,-180, -7", "line 51 holds 3 values"),  # truncated last row
        ("SA01/D01_SA01_R01.txt", b"", "is empty"),
        ("SA01/D01_SA01_R01.txt", rows(5) + b"  12, 3x,1,2,3,4,5,6,7;\r\n", "holds b'x'"),
        ("SA01/D20_SA01_R01.txt", rows(5), "unknown ADL code D20"),
        ("SA15/D17_SA15_R03.txt", rows(5), "two files for SA15 D17 R03"),
    ],
)
def test_corrupt_file_is_a_one_line_error_naming_the_member(tmp_path: Path, name: str, data: bytes, match: str) -> None:
    write_archive(tmp_path / "SisFall_dataset.zip", {**official(), name: data})
    with pytest.raises(DatasetError, match=match) as info:
        load_sisfall(tmp_path)
    assert f"SisFall_dataset/{name}" in str(info.value) and "\n" not in str(info.value)


def test_missing_readme_and_subjects_csv(tmp_path: Path) -> None:
    write_archive(tmp_path / "SisFall_dataset.zip", official(), readme=False)
    with pytest.raises(DatasetError, match="subject table not found"):
        load_sisfall(tmp_path)


def test_missing_or_unusable_dataset_says_what_to_point_data_at(tmp_path: Path) -> None:
    for root in (tmp_path / "nowhere", tmp_path):
        with pytest.raises(DatasetError, match="point --data at") as info:
            load_sisfall(root)
        assert "\n" not in str(info.value)
    (tmp_path / "SisFall_dataset.zip").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="not a readable zip"):
        load_sisfall(tmp_path)
    write_archive(tmp_path / "b" / "SisFall_dataset.zip", official())
    with pytest.raises(DatasetError, match="no SisFall ADL trials"):
        load_sisfall(tmp_path / "b", subjects={7})
