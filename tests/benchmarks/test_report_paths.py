"""Benchmark reports get committed (docs/bench-latest.md): they must hold repo-relative paths only."""

from __future__ import annotations

from pathlib import Path

from benchmarks import report

ROOT = Path(__file__).resolve().parents[2]


def test_paths_under_the_checkout_become_repo_relative():
    text = (f"bundle {ROOT}/edge_runtime/bundled/hapt-magnitude, UCI HAPT ({ROOT.parent}/shared/datasets/uci-hapt), "
            f"trained run {ROOT}/runs/hapt, cwd {ROOT}, other {ROOT.parent}x/y")  # fmt: skip
    out = report.repo_relative(text)
    assert out == ("bundle edge_runtime/bundled/hapt-magnitude, UCI HAPT (../shared/datasets/uci-hapt), "
                   f"trained run runs/hapt, cwd ., other {ROOT.parent}x/y")  # fmt: skip


def test_markdown_report_holds_no_machine_path():
    r = {
        "mode": "smoke", "seconds": 1.0, "errors": [], "variants": {}, "ratios": {},
        "windows_source": f"UCI HAPT ({ROOT.parent}/shared/datasets/uci-hapt), 8 windows",
        "machine": {"cpu": "x", "cores": 2, "machine": "x86_64", "kernel": "k", "python": "3.11", "versions": {},
                    "loadavg_start": (0.0, 0.0, 0.0), "loadavg_end": (0.0, 0.0, 0.0)},
        "window": {"length": 128, "stride": 64, "rate_hz": 50.0, "view": "magnitude",
                   "source": f"bundle {ROOT}/edge_runtime/bundled/hapt-magnitude"},
        "models": {"ours": {"source": f"trained run {ROOT}/runs/hapt", "params": 10}, "reference": {"params": 20},
                   "converter": "test"},
    }  # fmt: skip
    md = report.markdown(r)
    assert str(ROOT) not in md and str(ROOT.parent) + "/" not in md
    assert "(../shared/datasets/uci-hapt)" in md and "bundle edge_runtime/bundled/hapt-magnitude" in md


def test_the_streams_target_is_the_measured_run_and_views_are_reported():
    """The >=1,000 streams row comes from the measured TCP run (not the one-window extrapolation), with
    its p99 and the views' ratio as their own target rows; a loss makes the streams row a miss."""
    base = {
        "mode": "full", "seconds": 1.0, "errors": [], "variants": {}, "ratios": {}, "windows_source": "w",
        "machine": {"cpu": "x", "cores": 2, "machine": "x86_64", "kernel": "k", "python": "3.11", "versions": {},
                    "loadavg_start": (0.0, 0.0, 0.0), "loadavg_end": (0.0, 0.0, 0.0)},
        "window": {"length": 128, "stride": 64, "rate_hz": 50.0, "view": "magnitude", "source": "b"},
        "models": {"ours": {"source": "s", "params": 10}, "reference": {"params": 20}, "converter": "test"},
        "streams": {"streams": 1000, "seconds": 600.0, "windows_lost": 0, "counters_add_up": True,
                    "latency_ms": {"p50": 1.8, "p99": 57.9}},
        "views": {"scenarios": {"a": {"views": ["", "label"], "path_us": 50.0, "bare_us": 20.0, "ratio": 2.5}}},
    }  # fmt: skip
    md = report.markdown(base)
    assert "| concurrent 50 Hz streams on one core, measured (600 s over TCP, 0 lost) | 1000 | ≥ 1000 | meets |" in md
    assert "| their window latency p99 [ms] | 57.9 | ≤ 5 | MISSES |" in md
    assert "| three views per window / their bare model calls (worst scenario) | 2.50 | ≤ 2 | MISSES |" in md
    assert "| `default`, `label` | 50.0 | 20.0 | 2.50 |" in md
    lost = report.markdown({**base, "streams": {**base["streams"], "windows_lost": 3}})
    assert "| 1000 | ≥ 1000 | MISSES (3 windows lost, counters add up: True) |" in lost
