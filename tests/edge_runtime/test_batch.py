"""``edge-anonymize batch``: a recording on disk gives the records the live gateway gives, whole files
only, resumable, one error line per bad input, and no raw sample in any output."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.cli import main
from edge_runtime.config import from_dict
from edge_runtime.pipeline import Pipeline
from edge_runtime.sinks import MemorySink
from edge_runtime.sources.replay import ReplaySource

from .conftest import CANARY, canonical, sample_frames, walk_counts, wire
from .test_privacy import leaks

GYRO_DEG = 180 / np.pi


def _csv(path: Path, counts: np.ndarray) -> None:
    """The same samples as ``wire(sample_frames(counts))``, in g and deg/s."""
    c = canonical(counts).astype(np.float64)
    rows = np.hstack([c[:, :3] / 9.80665, c[:, 3:] * GYRO_DEG])
    with path.open("w") as f:
        f.write("ax,ay,az,gx,gy,gz\n")
        np.savetxt(f, rows, delimiter=",", fmt="%.9g")


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_capture_gives_the_live_gateways_records_and_a_csv_the_same(manifest, anonymizer, bundle: Path,
                                                                        tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    counts = walk_counts(50 * 40)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "walk.imu").write_bytes(wire(sample_frames(counts)))
    _csv(tmp_path / "in" / "walk.csv", counts)
    sink = MemorySink()
    Pipeline(ReplaySource(tmp_path / "in" / "walk.imu", speed=0), manifest, anonymizer, [sink],
             from_dict({"runtime": {"status_interval_s": 0}})).run()  # fmt: skip
    rc = main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--bundle", str(bundle),
               "--acc-unit", "g", "--gyro-unit", "deg/s", "--batch", "7"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    live = sink.windows
    for name in ("walk.imu", "walk.csv"):
        got = _lines(tmp_path / "out" / f"{name}.jsonl")
        assert [r["start_sample"] for r in got] == [w.start_sample for w in live] and len(got) == len(live) > 10
        assert {r["stream"] for r in got} == {name} and [r["window_id"] for r in got] == list(range(len(got)))
        np.testing.assert_allclose(np.array([r["data"] for r in got]), np.stack([w.data for w in live]), atol=2e-4)


def test_outputs_are_whole_resumable_and_a_bad_input_stops_nothing(bundle: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.imu").write_bytes(wire(sample_frames(walk_counts(50 * 20))))
    (src / "b.csv").write_text("a,b\n1,2\n")
    (src / "c.csv").write_text("ax,ay,az,gx,gy,gz\n1,2,3,x,5,6\n")
    out = tmp_path / "out"
    argv = ["batch", str(src), "--out", str(out), "--bundle", str(bundle)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "batch: b.csv: error: header lacks column(s) acc_x" in err and "batch: c.csv: error: not a numeric CSV" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.imu.jsonl"]  # no partial or temporary file
    first = (out / "a.imu.jsonl").read_bytes()
    assert main(argv) == 1 and "a.imu: " in (err := capsys.readouterr().err) and "exists, skipped" in err
    assert main([*argv, "--force"]) == 1 and (out / "a.imu.jsonl").read_bytes() != first  # redone (new t_gateway)
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_no_raw_sample_reaches_a_batch_output(bundle: Path, tmp_path: Path, fmt: str) -> None:
    counts = walk_counts(50 * 20, canary_every=7)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.imu").write_bytes(data := wire(sample_frames(counts)))
    assert struct.pack("<6h", *CANARY) in data
    assert main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--bundle", str(bundle),
                 "--format", fmt]) == 0  # fmt: skip
    out = tmp_path / "out" / f"x.imu.{fmt}"
    if fmt == "parquet":
        pq = pytest.importorskip("pyarrow.parquet")
        table = pq.read_table(out).to_pylist()
        assert len(table) > 5 and len(table[0]["data"]) == 128 * 2 and table[0]["view"] == "default"
        blob = json.dumps(table).encode()
    else:
        blob = out.read_bytes()
    assert leaks(blob) == []
