"""Per-window cost of several views (views.py) against the bare model calls they need -> views.json, views.md.

    python -m benchmarks.views --out reports/bench [--smoke]

One process, 1 interpreter thread, real HAPT windows (synthetic if the dataset is absent). A bundle
set of the shipped anonymizer twice (``default`` and ``strict``, two interpreters) and the shipped
activity estimator. For each scenario the *path* is ``Pipeline._window`` (estimate, models, records,
three counting sinks) per window; the *bare* cost is the sum of the bare interpreter calls that
window needed (``invoke`` on a prepared input, per model, times the calls the views made). The target
(issue 14) is path <= 2x bare with three views. *Bare* replays, per window, the same models in the
same order as the path ran them (so both see the same caches: three interpreters take turns),
timed in blocks alternating with the path's; ``ratio_isolated`` divides by each model called alone
in a tight loop instead (warm caches; the stricter figure).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from .report import _atomic_text

__all__ = ["main", "SCENARIOS"]

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {
    "model + label + dynamic switch": ["", "label", "default;switch=strict@walk,stairs,jog"],
    "model + generalized + delete": ["", "default;rate=6.25", "default;delete=static,transition"],
    "one model, three sinks": ["", "", ""],
}


def _median_s(fn: Any, reps: int) -> float:
    for _ in range(min(reps, 200)):
        fn()
    times = np.empty(reps)
    for i in range(reps):
        t0 = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - t0
    return float(np.median(times))


def _call_sequences(pipe: Any, ws: list[Any], runners: dict[str, Any]) -> list[list[Any]]:
    """Per window, the models the path ran, in order (one untimed pass with the calls recorded)."""
    seq: list[list[Any]] = []
    saved = {name: (r.run, getattr(r, "estimate", None)) for name, r in runners.items()}

    def recording(runner: Any, fn: Any) -> Any:
        def call(*a: Any) -> Any:
            seq[-1].append(runner)
            return fn(*a)

        return call

    for r, (run, estimate) in zip(runners.values(), saved.values(), strict=True):
        r.run = recording(r, run)
        if estimate is not None:
            r.estimate = recording(r, estimate)
    try:
        for w in ws:
            seq.append([])
            pipe._window(w)
    finally:
        for r in runners.values():
            for attr in ("run", "estimate"):
                r.__dict__.pop(attr, None)
    return seq


def _alternating(path: Any, bare: Any, reps: int, block: int = 250) -> tuple[float, float]:
    """Median per-call time of ``path`` and ``bare`` [s], timed in alternating blocks so that both
    see the same machine (this shared VM's speed drifts by tens of percent within a minute)."""
    for _ in range(min(reps, 200)):
        path()
        bare()
    p, b = [], []
    for _ in range(max(1, reps // block)):
        for fn, out in ((path, p), (bare, b)):
            t0 = time.perf_counter()
            for _ in range(block):
                fn()
            out.append((time.perf_counter() - t0) / block)
    return float(np.median(p)), float(np.median(b))


def scenario(specs: list[str], windows: np.ndarray, reps: int) -> dict[str, Any]:
    from edge_runtime.bundleset import ModelSet
    from edge_runtime.cli import DEFAULT_BUNDLE, ESTIMATOR_BUNDLE
    from edge_runtime.config import RuntimeConfig
    from edge_runtime.estimator import Estimator
    from edge_runtime.interpreter import Anonymizer
    from edge_runtime.manifest import load
    from edge_runtime.pipeline import Pipeline
    from edge_runtime.sinks.base import Sink
    from edge_runtime.sources.replay import ReplaySource
    from edge_runtime.windower import Window

    class Counting(Sink):
        url = "count://"

        def _send(self, window: Any) -> None:
            self.stats.sent += 1

    m, e = load(DEFAULT_BUNDLE), load(ESTIMATOR_BUNDLE)
    members = {"default": (m, Anonymizer(m)), "strict": (m, Anonymizer(m))}
    models = ModelSet(members, "default", (e, Estimator(e)))
    sinks = []
    for spec in specs:
        s = Counting()
        s.view = spec
        sinks.append(s)
    pipe = Pipeline(ReplaySource(data=b""), m, members["default"][1], sinks, RuntimeConfig(), models=models)
    ws = [Window(i * 64, i * 1_280_000, w) for i, w in enumerate(windows)]
    runners = {name: a for name, (_, a) in members.items()} | {"label": models.estimator[1]}  # type: ignore[index]
    seq = _call_sequences(pipe, ws, runners)
    for runner in runners.values():
        runner.prepare(windows[0])
    k = [0]

    def one() -> None:
        pipe._window(ws[k[0] % len(ws)])
        k[0] += 1

    j = [0]

    def bare_one() -> None:  # the same models in the same order as the path called them for this window
        for runner in seq[j[0] % len(seq)]:
            runner.invoke()
        j[0] += 1

    path, bare = _alternating(one, bare_one, reps)
    name_of = {id(r): name for name, r in runners.items()}
    calls: dict[str, float] = {}
    for window_calls in seq:  # model runs per window
        for r in window_calls:
            calls[name_of[id(r)]] = calls.get(name_of[id(r)], 0) + 1 / len(seq)
    bare_each = {name: _median_s(runners[name].invoke, reps) for name in calls}
    isolated = sum(bare_each[name] * c for name, c in calls.items())
    return {"views": specs, "path_us": round(path * 1e6, 2), "bare_us": round(bare * 1e6, 2),
            "ratio": round(path / bare, 2), "bare_isolated_us": round(isolated * 1e6, 2),
            "ratio_isolated": round(path / isolated, 2),
            "calls_per_window": {k_: round(v, 3) for k_, v in calls.items()},
            "bare_call_us": {k_: round(v * 1e6, 2) for k_, v in bare_each.items()},
            "sent": [s.stats.sent for s in sinks]}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.views", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--smoke", action="store_true")
    a = p.parse_args(argv)
    from edge_runtime.cli import DEFAULT_BUNDLE
    from edge_runtime.manifest import load

    from .run import load_bench_windows

    windows, source = load_bench_windows(load(DEFAULT_BUNDLE).window, ROOT.parent / "shared" / "datasets" / "uci-hapt", 512)
    reps = 500 if a.smoke else 20000
    results = {name: scenario(specs, windows, reps) for name, specs in SCENARIOS.items()}
    a.out.mkdir(parents=True, exist_ok=True)
    doc = {"windows": source, "reps": reps, "target_ratio": 2.0, "scenarios": results}
    _atomic_text(a.out / "views.json", json.dumps(doc, indent=2) + "\n")
    lines = ["# Views: per-window path vs bare model calls", "", f"Windows: {source}; {reps} per scenario, 1 thread.", "",
             "| views | path µs | bare calls µs | ratio (target ≤ 2) | model runs per window |", "|---|---|---|---|---|"]
    for name, r in results.items():
        runs = ", ".join(f"{k} {v:g}" for k, v in r["calls_per_window"].items())
        lines.append(f"| {name}: `{'`, `'.join(s or 'default' for s in r['views'])}` | {r['path_us']} | {r['bare_us']} | "
                     f"{r['ratio']} | {runs} |")  # fmt: skip
    _atomic_text(a.out / "views.md", "\n".join(lines) + "\n")
    print("\n".join(lines[4:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
