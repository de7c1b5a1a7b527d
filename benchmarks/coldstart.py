"""Cold start and peak memory of a runtime process: process start -> first anonymized window out.

The child (``python -m benchmarks.coldstart --child ...``) does what the gateway does before its
first window: import the runtime (never TensorFlow), load and verify the bundle manifest (sha256)
when there is one, open the interpreter, run one window through the per-window pipeline and print
``FIRST``. The parent times that from just before ``Popen``. The child then processes ``--windows``
more windows and reports its peak RSS (VmHWM), the steady-state footprint of one stream.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["measure_cold_start"]


def _child(work: Path, model: Path, bundle: Path | None, n: int) -> int:
    import numpy as np

    from edge_runtime.contract import WindowSpec
    from edge_runtime.normalizer import Normalization

    from .latency import make_pipeline, open_runner, peak_rss_mb

    if bundle is not None and (bundle / "manifest.json").is_file():
        from edge_runtime.manifest import load

        m = load(bundle, allow_ungated=True)
        spec, norm, model = m.window, m.normalization, m.model_path
    else:
        meta = json.loads((work / "norm.json").read_text(encoding="utf-8"))
        spec = WindowSpec(float(meta["rate_hz"]), int(meta["length"]), int(meta["stride"]), str(meta["view"]))
        norm = Normalization.from_dict(meta["normalization"])
    fn, _ = make_pipeline(open_runner(model), norm, "ours", spec.rate_hz, spec.channels, spec.units)
    windows = np.load(work / "windows.npy", mmap_mode="r")
    fn(np.asarray(windows[0]))
    print("FIRST", flush=True)
    for i in range(n):
        fn(np.asarray(windows[i % len(windows)]))
    print(json.dumps({"peak_rss_mb": peak_rss_mb(), "tensorflow_imported": "tensorflow" in sys.modules}), flush=True)
    return 0


def _time_to_first(cmd: list[str]) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as p:
        assert p.stdout is not None
        line = p.stdout.readline()
        t = time.perf_counter() - t0
        rest = p.stdout.read()
        p.wait(60)
    if line.strip() != "FIRST" or p.returncode != 0:
        raise RuntimeError(f"cold-start child failed (exit {p.returncode})")
    return t, (json.loads(rest.strip().splitlines()[-1]) if rest.strip() else {})


def measure_cold_start(work: Path, model: Path, bundle: Path | None, *, repeats: int = 5, windows: int = 200) -> dict[str, Any]:
    """Median/min cold start [ms] over ``repeats`` fresh processes, peak RSS, and Python's own start-up."""
    cmd = [sys.executable, "-m", "benchmarks.coldstart", "--child", "--work", str(work), "--model", str(model),
           "--windows", str(windows)] + (["--bundle", str(bundle)] if bundle is not None else [])  # fmt: skip
    times, info = [], {}
    for _ in range(repeats):
        t, info = _time_to_first(cmd)
        times.append(t * 1e3)
    bare = [_time_to_first([sys.executable, "-c", "print('FIRST')"])[0] * 1e3 for _ in range(repeats)]
    return {
        "cold_start_ms_median": statistics.median(times),
        "cold_start_ms_min": min(times),
        "python_startup_ms_median": statistics.median(bare),
        "peak_rss_mb": info.get("peak_rss_mb"),
        "tensorflow_imported": info.get("tensorflow_imported"),
        "repeats": repeats,
        "windows_after_first": windows,
        "what": "fresh process: import runtime, load+verify manifest (if bundle), open interpreter, 1 window out",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.coldstart", description=__doc__.splitlines()[0])
    p.add_argument("--child", action="store_true", help="be the measured runtime process")
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--bundle", type=Path)
    p.add_argument("--windows", type=int, default=200)
    a = p.parse_args(argv)
    if a.child:
        return _child(a.work, a.model, a.bundle, a.windows)
    print(json.dumps(measure_cold_start(a.work, a.model, a.bundle, windows=a.windows), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
