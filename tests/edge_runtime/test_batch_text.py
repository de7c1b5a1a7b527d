"""batch_text: numeric text read block by block gives numpy's samples; a bad value anywhere is one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import edge_runtime.batch_inputs as bi
import edge_runtime.batch_text as bt


def test_text_in_many_blocks_reads_whole_and_a_later_bad_value_is_one_line(manifest, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(bt, "_TEXT_BLOCK", 4096)
    long_then_short = "".join(f"{i}.123456,-2.123456,3.5e-3,4.123456,5.123456,6.123456\n" for i in range(1000)) + "1,2,3,4,5,6\n" * 4000
    (tmp_path / "grows.csv").write_text("ax,ay,az,gx,gy,gz\n" + long_then_short)  # the first block's row count guesses short
    got = bt.columns(tmp_path / "grows.csv", [0, 1, 2, 3, 4, 5], [1.0] * 6, skip=1, delimiter=",", what="CSV")
    assert np.array_equal(got, np.loadtxt(tmp_path / "grows.csv", delimiter=",", skiprows=1).astype(np.float32))
    rows = "".join(f"{i % 7}.25,0.5,-1.75,3,4,5\n" for i in range(3000))
    for bad, why in (("7.25,0.5,-1.75,3,,5\n", r"^CSV: an empty or NaN value"), ("7.25,0.5,-1.75,3,x9,5\n", r"^not a numeric CSV"),
                     ("7.25,0.5\n", r"^CSV: a row has 2 values, the first 6")):  # fmt: skip
        (tmp_path / "late.csv").write_text("ax,ay,az,gx,gy,gz\n" + rows + bad + rows)
        with pytest.raises(bi.SourceError, match=why) as err:
            list(bi.csv_windows(tmp_path / "late.csv", manifest, 64, 50.0, "g", "deg/s"))
        assert "7.25" not in str(err.value) and "\n" not in str(err.value)
