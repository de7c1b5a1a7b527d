"""Smoke tests of the benchmark harness: it measures, counts and writes; never asserts on timings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import coldstart, e2e, energy, latency, report, throughput
from edge_runtime.normalizer import Normalization
from edge_runtime.sinks.base import AnonymizedWindow


@pytest.mark.parametrize("name", ["tiny_int8.tflite", "tiny_float.tflite"])
def test_latency_worker_measures_a_real_model(work: Path, tmp_path: Path, name: str) -> None:
    out = tmp_path / "r.json"
    assert latency.main(["--model", str(work / name), "--work", str(work), "--out", str(out),
                         "--reps", "30", "--warmup", "3", "--seconds", "0.05", "--keep", "4"]) == 0  # fmt: skip
    r = json.loads(out.read_text())
    for key in ("invoke", "pipeline"):
        assert r[key]["n"] == 30 and 0 < r[key]["p50_us"] <= r[key]["p99_us"]
    assert r["throughput"]["windows"] >= 50 and r["throughput"]["streams_per_core_50hz"] > 0
    assert r["pipeline_over_invoke_p50"] > 0 and r["threads"] == 1
    assert r["input_dtype"] == ("int8" if "int8" in name else "float32")
    assert np.load(r["released_file"]).shape == (4, 128, 2)


def test_pipeline_returns_anonymized_windows_in_view_units(work: Path) -> None:
    meta = json.loads((work / "norm.json").read_text())
    norm = Normalization.from_dict(meta["normalization"])
    r = latency.open_runner(work / "tiny_int8.tflite")
    fn, path = latency.make_pipeline(r, norm, "ours", 50.0, ("acc_mag", "gyro_mag"), ("m/s^2", "rad/s"))
    w = fn(np.load(work / "windows.npy")[0])
    assert isinstance(w, AnonymizedWindow) and w.data.shape == (128, 2) and w.data.dtype == np.float32
    assert np.isfinite(w.data).all() and path


def test_throughput_formula() -> None:
    assert throughput.streams_per_core(100.0, 64, 50.0) == pytest.approx(128.0)
    res = throughput.measure(lambda w: w.sum(), np.zeros((3, 128, 2), np.float32), seconds=0.01, stride=64, rate_hz=50.0)
    assert res["windows"] >= 50 and res["windows_per_s_wall"] > 0


@pytest.mark.parametrize(("first", "last", "offset", "want"), [
    (0, 127, 0, 1), (0, 126, 0, 0), (0, 191, 0, 2), (128, 191, 0, 1), (0, 1279, 0, 19), (0, 200, 10, 1), (0, 201, 10, 2), (192, 255, 0, 1),
])  # fmt: skip
def test_expected_window_count(first: int, last: int, offset: int, want: int) -> None:
    assert e2e._expected(first, last, 128, 64, offset) == want


def test_energy_estimate_uses_cited_boards() -> None:
    est = energy.estimate(100.0)
    pi4 = next(b for b in est["boards"] if "Pi 4" in b["name"])
    assert pi4["uj_per_window"] == pytest.approx(100.0 * (6.4 - 2.7) / 4)
    assert all(b["source"] for b in est["boards"]) and "estimated" in est["method"]


def test_cold_start_child_reports_rss_without_tensorflow(work: Path) -> None:
    r = coldstart.measure_cold_start(work, work / "tiny_int8.tflite", None, repeats=1, windows=5)
    assert r["cold_start_ms_median"] > 0 and r["peak_rss_mb"] > 0 and r["tensorflow_imported"] is False


def test_end_to_end_over_a_real_pty_loses_nothing(work: Path) -> None:
    r = e2e.run_e2e(work, work / "tiny_int8.tflite", bundle=None, data_root=None, length=128, stride=64,
                    realtime_s=1.5, stage_s=0.02)  # fmt: skip
    assert "error" not in r, r.get("error")
    assert r["recording"].startswith("generated")  # the shipped generator's motion, not the simple synthetic walk
    assert r["realtime"]["windows_received"] == r["realtime"]["windows_expected"] >= 1
    assert r["ramp"]["stages"] and all(s["windows_expected"] > 0 for s in r["ramp"]["stages"])
    assert r["bad_datagrams"] == 0 and r["max_sustained_speed"] is None or r["max_sustained_speed"] > 0


def test_report_files_are_written_with_expected_keys(work: Path, tmp_path: Path) -> None:
    lat = tmp_path / "l.json"
    latency.main(["--model", str(work / "tiny_float.tflite"), "--work", str(work), "--out", str(lat),
                  "--reps", "10", "--warmup", "1", "--seconds", "0.01", "--keep", "2"])  # fmt: skip
    v = {"ours-float-tflite": {**json.loads(lat.read_text()), "size_bytes": 1, "format": "tflite"},
         "ours-float-keras": {"format": "keras", "p50_us": 50.0, "p99_us": 60.0}}  # fmt: skip
    res = {
        "mode": "smoke", "seconds": 1.0, "errors": [], "windows_source": "test", "variants": v,
        "machine": {"cpu": "x", "cores": 2, "machine": "x86_64", "kernel": "k", "python": "3.11", "versions": {},
                    "loadavg_start": (0.0, 0.0, 0.0), "loadavg_end": (0.0, 0.0, 0.0)},
        "window": {"length": 128, "stride": 64, "rate_hz": 50.0, "view": "magnitude", "source": "test"},
        "models": {"ours": {"source": "test", "params": 10}, "reference": {"params": 20}, "converter": "test"},
        "ratios": report.ratios(v, "ours-float-tflite"), "energy": {"method": "estimated", "per_variant": {"ours-float-tflite": energy.estimate(10.0)}},
    }  # fmt: skip
    paths = report.write_all(tmp_path, res)
    assert {p.name for p in paths} >= {"bench.json", "bench.md"}
    assert res["ratios"]["ours-float-tflite"]["invoke_p50"] == pytest.approx(1.0)
    back = json.loads((tmp_path / "bench.json").read_text())
    assert {"variants", "ratios", "machine", "energy"} <= back.keys()
    md = (tmp_path / "bench.md").read_text()
    assert "| ours-float-tflite |" in md and "Energy per window" in md
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left behind
