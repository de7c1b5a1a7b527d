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


def output_text(path: Path) -> bytes:
    """An output as text to search: JSON lines as they are, Parquet rows as JSON."""
    if path.suffix == ".parquet":
        pq = pytest.importorskip("pyarrow.parquet")
        return json.dumps(pq.read_table(path).to_pylist()).encode()
    return path.read_bytes()


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


@pytest.mark.parametrize("which", ["int8-io", "shipped"])
def test_run_batch_is_bit_identical_to_run_on_each_window(manifest, which: str) -> None:  # type: ignore[no-untyped-def]
    from edge_runtime.cli import DEFAULT_BUNDLE
    from edge_runtime.interpreter import Anonymizer
    from edge_runtime.manifest import load

    a = Anonymizer(manifest if which == "int8-io" else load(DEFAULT_BUNDLE))
    assert a.quant_in == (which == "int8-io")
    rng = np.random.default_rng(1)
    x = np.abs(rng.normal([9.8, 0.4], [4.0, 1.0], size=(300, 128, 2))).astype(np.float32)
    x[:3] = [[40.0, 9.0]]  # saturates the int8 input
    ref = np.stack([a.run(w) for w in x])
    for b in (1, 7, 256, 300):
        got = np.concatenate([a.run_batch(x[i : i + b]) for i in range(0, len(x), b)])
        assert got.dtype == np.float32 and got.shape == ref.shape
        assert np.array_equal(got.view(np.uint32), ref.view(np.uint32)), f"batch {b}"
    assert a.run_batch(x[:0]).shape == (0, 128, 2)
    with pytest.raises(ValueError, match="shape"):
        a.run_batch(x[:, :64])


def test_parquet_rows_are_the_jsonl_records(bundle: Path, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    (tmp_path / "in").mkdir()
    frames = sample_frames(walk_counts(50 * 30))
    del frames[100]  # 5 samples lost: bridged, the windows holding them flagged "interpolated"
    (tmp_path / "in" / "w.imu").write_bytes(wire(frames))
    _csv(tmp_path / "in" / "w.csv", walk_counts(50 * 12))  # no device time: t_device_us null
    for fmt in ("jsonl", "parquet"):
        assert main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--bundle", str(bundle),
                     "--format", fmt, "--t-gateway", "1700000000.25", "--batch", "5"]) == 0  # fmt: skip
    for name in ("w.imu", "w.csv"):
        lines = _lines(tmp_path / "out" / f"{name}.jsonl")
        table = pq.read_table(tmp_path / "out" / f"{name}.parquet")
        assert table.column_names == list(lines[0]) and table.schema.field("data").type.value_type == "float"
        rows = table.to_pylist()
        assert len(rows) == len(lines) > 5
        for row, rec in zip(rows, lines, strict=True):
            want = np.asarray(rec.pop("data"), np.float32).ravel()
            np.testing.assert_array_equal(np.asarray(row.pop("data"), np.float32), want)
            assert row == rec
        assert rows[0]["t_gateway"] == 1700000000.25 and rows[-1]["window_id"] == len(rows) - 1
        if name == "w.imu":
            assert rows[0]["t_device_us"] == 0 and {tuple(r["flags"]) for r in rows} == {(), ("interpolated",)}
        else:
            assert {r["t_device_us"] for r in rows} == {None} and rows[0]["stream"] == "w.csv"


def test_an_interrupted_job_redoes_only_what_is_missing(bundle: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(3):
        (src / f"r{i}.imu").write_bytes(wire(sample_frames(walk_counts(50 * 12, seed=i))))
    argv = ["batch", str(src), "--out", str(out), "--bundle", str(bundle), "--t-gateway", "5"]
    assert main(argv) == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "r1.imu.jsonl").unlink()  # killed while r1 was written: only the temporary file was there
    (out / ".r1.imu.jsonl.x1y2.tmp").write_bytes(b'{"type":')
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.count("exists, skipped") == 2 and "r1.imu: " in err and '"done": 1' in err and '"skipped": 2' in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if not p.name.endswith(".tmp")} == first


def test_progress_is_a_bar_on_a_terminal_and_a_line_per_file_otherwise() -> None:
    import io

    from edge_runtime.batch import Progress
    from edge_runtime.batch_dist import Result

    results = [Result("a.csv", "o/a.csv.jsonl", 100, 0.5), Result("b.csv", "o/b.csv.jsonl", error="CSV: no rows"),
               Result("c.csv", "o/c.csv.jsonl", 50, 0.25)]  # fmt: skip
    for tty in (True, False):
        s = io.StringIO()
        p = Progress(3, s, tty=tty)
        for r in results:
            p.done(r)
        p.close()
        text = s.getvalue()
        assert "batch: b.csv: error: CSV: no rows\n" in text and p.failed == 1 and p.windows == 150
        if tty:
            assert text.count("\r") >= 3 and "3/3 files, 150 windows" in text and "windows/s, 1 failed" in text
            assert "a.csv: 100 windows" not in text
        else:
            assert "\r" not in text and text.count("\n") == 3
            assert "batch: a.csv: 100 windows in 0.50 s (200 windows/s) -> o/a.csv.jsonl" in text


def test_no_raw_sample_of_a_csv_reaches_an_output(bundle: Path, tmp_path: Path) -> None:
    counts = walk_counts(50 * 20, canary_every=7)
    (tmp_path / "in").mkdir()
    _csv(tmp_path / "in" / "x.csv", counts)
    text = (tmp_path / "in" / "x.csv").read_text()
    c = canonical(np.array([CANARY], np.int16))[0].astype(np.float64)
    planted = [f"{v:.9g}" for v in (*(c[:3] / 9.80665), *(c[3:] * GYRO_DEG))]
    assert all(p in text for p in planted)
    for fmt in ("jsonl", "parquet"):
        assert main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--bundle", str(bundle),
                     "--format", fmt, "--acc-unit", "g", "--gyro-unit", "deg/s", "--t-gateway", "1"]) == 0  # fmt: skip
    for fmt in ("jsonl", "parquet"):
        blob = output_text(tmp_path / "out" / f"x.csv.{fmt}")
        assert len(blob) > 1000 and leaks(blob) == [] and not any(p.encode() in blob for p in planted)
