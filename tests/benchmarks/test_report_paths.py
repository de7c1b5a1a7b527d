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
