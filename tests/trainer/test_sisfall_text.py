"""sisfall_text: pyarrow's counts are the numpy parser's, bit for bit, or it leaves the file to numpy."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

pytest.importorskip("pyarrow")

from trainer.data import sisfall  # noqa: E402
from trainer.data import sisfall_text as st  # noqa: E402
from trainer.errors import DatasetError  # noqa: E402

from ..conftest import SHARED_DATASETS  # noqa: E402

REAL = ["SisFall_dataset/SA01/D01_SA01_R01.txt", "SisFall_dataset/SA21/D05_SA21_R03.txt",  # ends in spaces
        "SisFall_dataset/SA23/D19_SA23_R05.txt"]  # fmt: skip


def numpy_counts(data: bytes, monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    with monkeypatch.context() as m:
        m.setattr(sisfall, "arrow_counts", lambda data: None)
        return sisfall.parse_counts(data, "t.txt")


def same(a: np.ndarray | None, b: np.ndarray) -> bool:
    return a is not None and a.dtype == b.dtype and a.shape == b.shape and a.flags.c_contiguous and np.array_equal(a, b)


@pytest.fixture(scope="module")
def real() -> dict[str, bytes]:
    src = SHARED_DATASETS / "sisfall" / "SisFall_dataset.zip"
    if not src.is_file():
        pytest.skip(f"SisFall not found at {src} (set EDGE_ANON_DATASETS)")
    with zipfile.ZipFile(src) as z:
        return {n: z.read(n) for n in REAL if n in z.namelist()}


def test_real_files_give_the_numpy_arrays(real: dict[str, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(st, "_MIN_BYTES", 0)  # real trials are below the size pyarrow is used from
    for name, data in real.items():
        assert same(st.arrow_counts(data), numpy_counts(data, monkeypatch)), name
    blob = b"".join(real.values()) * 3  # a long trial in the archive's layout: pyarrow by default
    assert len(blob) > st._MIN_BYTES and same(st.arrow_counts(blob), numpy_counts(blob, monkeypatch))
    unpadded = blob.translate(None, b" ").replace(b";\r\n", b";\n")  # the benchmark's layout
    assert same(st.arrow_counts(unpadded), numpy_counts(unpadded, monkeypatch))
    monkeypatch.setattr(st, "_BLOCK", 1 << 16)  # a day-long trial is parsed in many blocks, each its own dictionary
    assert same(st.arrow_counts(blob), numpy_counts(blob, monkeypatch))


ROW = b"1,-2,3,-4,5,-6,7,-8,9;\n"


@pytest.mark.parametrize(
    "data",
    [ROW * 3, b"\n\n" + ROW + b"\n" + ROW + b"  \r\n\t ", ROW.replace(b";", b"") * 2, b" -0, 07,3,4,5,6,7,8,9 ;;\r\n" * 2,
     ROW + b"   \n" + ROW, b"32768,-32768,0,0,0,0,0,0,0;\n"],
)  # fmt: skip
def test_plain_layouts_agree(data: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(st, "_MIN_BYTES", 0)
    assert same(st.arrow_counts(data), numpy_counts(data, monkeypatch))


@pytest.mark.parametrize(
    ("data", "match"),
    [(ROW + b"1 2,3,4,5,6,7,8,9,10;\n", "values in"), (ROW + b"1,2,3\n", "line 2 holds 3 values"),
     (ROW + b"1,,3,4,5,6,7,8,9;\n", "values in"), (ROW.replace(b"\n", b"\r") * 2, "line 1 holds 17"),
     (ROW + b"40000,2,3,4,5,6,7,8,9;\n", "16-bit"), (ROW + b"9999999999,2,3,4,5,6,7,8,9;\n", "16-bit"),
     (ROW + b"1,2,3,4,5,6,7,8,9,10;\n", "holds 10 values"), (ROW + b"1,2,3,4,5,6,7,8,x;\n", "holds b'x'"),
     (b" \r\n ", "is empty")],
)  # fmt: skip
def test_anything_else_is_left_to_numpy_and_its_error(data: bytes, match: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(st, "_MIN_BYTES", 0)
    assert st.arrow_counts(data) is None
    with pytest.raises(DatasetError, match=match):
        sisfall.parse_counts(data, "t.txt")
