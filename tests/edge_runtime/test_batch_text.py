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


@pytest.mark.parametrize("rows", [127, 128, 129, 191, 192, 64 * 9 + 127, 64 * 9 + 128, 64 * 27 + 300, 5000])
def test_a_csv_read_block_by_block_gives_the_whole_files_chunks_bit_for_bit(manifest, tmp_path: Path, monkeypatch,  # type: ignore[no-untyped-def]
                                                                            rows: int) -> None:  # fmt: skip
    """``csv_windows`` never holds the whole file (``block_run_windows``): its chunks must be those of the
    whole file's samples (``run_windows(columns(...))``), chunk for chunk, at every text block and chunk size."""
    x = np.random.default_rng(rows).normal(size=(rows, 6)).round(5)
    x[:, 2] += 9.8
    path = tmp_path / "r.csv"
    np.savetxt(path, x, delimiter=",", header="ax,ay,az,gx,gy,gz", comments="", fmt="%.5f")
    monkeypatch.setattr(bi, "_BLOCK", 8)  # chunks of 8 windows: many chunk boundaries in a small file
    for text_block in (1 << 24, 4096, 777):
        monkeypatch.setattr(bt, "_TEXT_BLOCK", text_block)
        for stride in (64, 50, 128):
            spec = manifest.window.with_stride(stride)
            whole = list(bi.run_windows(bt.columns(path, list(range(6)), [1.0] * 6, skip=1, delimiter=",", what="CSV"), spec))
            blocks = list(bi.csv_windows(path, manifest, stride, 50.0, "m/s^2", "rad/s"))
            assert len(blocks) == len(whole)
            for (w1, s1, t1, f1), (w2, s2, t2, f2) in zip(whole, blocks, strict=True):
                assert w1.dtype == w2.dtype and np.array_equal(w1, w2) and np.array_equal(s1, s2) and (t1, f1) == (t2, f2)

