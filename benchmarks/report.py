"""bench.json / bench.md / latency.png from one benchmark result, each written atomically (temp + rename)."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["ratios", "markdown", "plot", "write_all", "repo_relative", "TARGETS"]

ROOT = Path(__file__).resolve().parents[1]

TARGETS = {"pipeline_over_invoke": 2.0, "streams_per_core": 1000.0, "cold_start_ms": 250.0, "peak_rss_mb": 60.0,
           "stream_p99_ms": 5.0, "views_over_bare": 2.0}


def ratios(variants: dict[str, Any], baseline: str) -> dict[str, Any]:
    """Each variant's p50 times / the baseline's, measured in the same run (baseline = 1.0)."""
    base = variants.get(baseline, {})
    out: dict[str, Any] = {"baseline": baseline}
    for name, v in variants.items():
        row = {}
        for key in ("invoke", "pipeline"):
            if v.get(key) and base.get(key):
                row[f"{key}_p50"] = v[key]["p50_us"] / base[key]["p50_us"]
        if "p50_us" in v and base.get("invoke"):  # keras: one call vs the bare invoke
            row["invoke_p50"] = v["p50_us"] / base["invoke"]["p50_us"]
        out[name] = row
    return out


def repo_relative(text: str, root: Path = ROOT) -> str:
    """Reports get committed (docs/bench-latest.md): paths under the checkout become repo-relative
    (``edge_runtime/bundled/...``, ``../shared/datasets/...``), the home folder ``~``."""
    root = root.resolve()
    for prefix, short in ((root, ""), (root.parent, "../"), (Path.home(), "~/")):
        if str(prefix) in ("/", ""):
            continue
        text = text.replace(f"{prefix}/", short)
        text = re.sub(re.escape(str(prefix)) + r"(?![\w.-])", short.rstrip("/") or ".", text)
    return text


def _f(x: Any, nd: int = 1) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:,.{nd}f}"
    return str(x)


def _check(value: float | None, target: float, *, below: bool) -> str:
    if value is None:
        return "n/a"
    ok = value <= target if below else value >= target
    return "meets" if ok else "MISSES"


def markdown(r: dict[str, Any]) -> str:
    m, v, rat = r["machine"], r["variants"], r.get("ratios", {})
    lines = [
        f"# Benchmark ({r['mode']})", "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['machine']}, Linux {m['kernel']}, Python {m['python']}; "
        + ", ".join(f"{k} {x}" for k, x in m["versions"].items()) + ".",
        f"Load average at start/end: {_f(m['loadavg_start'][0], 2)} / {_f(m.get('loadavg_end', [None])[0], 2)} "
        "(numbers on a busy machine are noisy; compare ratios within one run).", "",
        f"Windows: {r['windows_source']}; window {r['window']['length']} samples, stride {r['window']['stride']}, "
        f"{r['window']['rate_hz']} Hz, view {r['window']['view']} (from {r['window']['source']}).",
        f"Our model: {r['models']['ours']['source']}, {r['models']['ours']['params']:,} parameters; converter: "
        f"{r['models']['converter']}. Paper-size reference: {r['models']['reference']['params']:,} parameters, random init.", "",
        "## Per window (1 thread)", "",
        f"| variant | size [B] | invoke p50 [µs] | invoke p99 [µs] | pipeline p50 [µs] | pipeline p99 [µs] | pipeline/invoke | "
        f"windows/CPU-s | 50 Hz streams/core | instr./invoke | vs {rat.get('baseline', '?')} (invoke p50) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for name, x in v.items():
        if x.get("error"):
            lines.append(f"| {name} | failed: {x['error'][:120]} |||||||||| ")
            continue
        inv, pip, tp = x.get("invoke") or {}, x.get("pipeline") or {}, x.get("throughput") or {}
        if x.get("format") == "keras":
            inv = {"p50_us": x.get("p50_us"), "p99_us": x.get("p99_us")}
        ins = x.get("instructions_invoke") or {}
        lines.append(
            f"| {name} | {_f(x.get('size_bytes'))} | {_f(inv.get('p50_us'))} | {_f(inv.get('p99_us'))} | "
            f"{_f(pip.get('p50_us'))} | {_f(pip.get('p99_us'))} | {_f(x.get('pipeline_over_invoke_p50'), 2)} | "
            f"{_f(tp.get('windows_per_cpu_s'), 0)} | {_f(tp.get('streams_per_core_50hz'), 0)} | "
            f"{_f(ins.get('value'), 0)} | {_f(rat.get(name, {}).get('invoke_p50'), 2)} |"
        )
    lines += ["", "Keras rows: `predict_on_batch` of one window in a TensorFlow process (1 thread); no pipeline.",
              "Instruction counts: " + "; ".join(sorted({(x.get("instructions_invoke") or {}).get("how", "n/a") + (
                  f" ({(x.get('instructions_invoke') or {}).get('reason')})" if (x.get("instructions_invoke") or {}).get("reason") else "")
                  for x in v.values() if x.get("instructions_invoke")})) + ".", ""]  # fmt: skip
    ag = r.get("agreement_int8_vs_float", {})
    if ag:
        lines += ["## int8 vs float output (same windows, normalized units)", "", "| model | RMSE | max abs | float output std | windows |", "|---|---|---|---|---|"]
        lines += [f"| {k} | {_f(a['rmse_normalized'], 4)} | {_f(a['max_abs_normalized'], 3)} | {_f(a['float_output_std_normalized'], 3)} | {a['windows']} |"
                  for k, a in ag.items()]  # fmt: skip
        lines.append("")
    cs = r.get("cold_start")
    ours = v.get("ours-int8-tflite", {})
    lines += ["## Targets (our int8 model)", "", "| figure | measured | target | verdict |", "|---|---|---|---|"]
    ratio = ours.get("pipeline_over_invoke_p50")
    spc = (ours.get("throughput") or {}).get("streams_per_core_50hz")
    lines.append(f"| pipeline / bare invoke (p50) | {_f(ratio, 2)} | ≤ {TARGETS['pipeline_over_invoke']} | {_check(ratio, TARGETS['pipeline_over_invoke'], below=True)} |")
    lines.append(f"| 50 Hz streams per core, extrapolated from one window's CPU cost | {_f(spc, 0)} | – | – |")
    st = r.get("streams") or {}
    if st and "error" not in st:
        clean = st.get("windows_lost") == 0 and bool(st.get("counters_add_up"))
        verdict = _check(st["streams"], TARGETS["streams_per_core"], below=False) if clean else \
            f"MISSES ({st.get('windows_lost')} windows lost, counters add up: {st.get('counters_add_up')})"
        p99 = (st.get("latency_ms") or {}).get("p99")
        lines.append(f"| concurrent 50 Hz streams on one core, measured ({st['seconds']:.0f} s over TCP, 0 lost) | {st['streams']} | ≥ {TARGETS['streams_per_core']:.0f} | {verdict} |")
        lines.append(f"| their window latency p99 [ms] | {_f(p99, 1)} | ≤ {TARGETS['stream_p99_ms']:.0f} | {_check(p99, TARGETS['stream_p99_ms'], below=True)} |")
    vw = (r.get("views") or {}).get("scenarios") or {}
    if vw:
        worst = max(x["ratio"] for x in vw.values())
        lines.append(f"| three views per window / their bare model calls (worst scenario) | {_f(worst, 2)} | ≤ {TARGETS['views_over_bare']:.0f} | {_check(worst, TARGETS['views_over_bare'], below=True)} |")
    if cs:
        lines.append(f"| cold start (median of {cs['repeats']}) [ms] | {_f(cs['cold_start_ms_median'])} | ≤ {TARGETS['cold_start_ms']:.0f} | {_check(cs['cold_start_ms_median'], TARGETS['cold_start_ms'], below=True)} |")
        lines.append(f"| peak RSS of the runtime process [MB] | {_f(cs['peak_rss_mb'])} | ≤ {TARGETS['peak_rss_mb']:.0f} | {_check(cs['peak_rss_mb'], TARGETS['peak_rss_mb'], below=True)} |")
        lines.append(f"\nCold start = {cs['what']}; Python itself starts in {_f(cs['python_startup_ms_median'])} ms here. TensorFlow imported: {cs['tensorflow_imported']}.")
    if vw:
        lines += ["", "## Views: per-window path vs the bare model calls it needs (benchmarks.views)", "",
                  "| views | path µs | bare µs | ratio |", "|---|---|---|---|"]
        lines += [f"| `{'`, `'.join(x or 'default' for x in sc['views'])}` | {_f(sc['path_us'])} | {_f(sc['bare_us'])} | "
                  f"{_f(sc['ratio'], 2)} |" for sc in vw.values()]  # fmt: skip
    e = r.get("e2e")
    if e:
        lines += ["", "## End to end: emulator -> pty -> runtime -> UDP sink", "", f"Runtime: {e.get('runtime')}; recording: {e.get('recording')}."]
        if e.get("error"):
            lines.append(f"Failed: {e['error']}")
        else:
            rt = e["realtime"]
            lines.append(f"Real 50 Hz for {rt['seconds']:.0f} s: latency frame write -> window arrival p50 {_f(rt.get('p50_us'))} µs, "
                         f"p99 {_f(rt.get('p99_us'))} µs over {rt.get('n', 0)} windows ({rt['windows_received']} of {rt['windows_expected']} expected).")
            lines += ["", "| target speed | achieved | windows expected | received | lost | runtime CPU [cores] |", "|---|---|---|---|---|---|"]
            lines += [f"| {s['target_speed']} | {_f(s['achieved_speed'])}x | {s['windows_expected']} | {s['windows_received']} | {s['lost']} | {_f(s['runtime_cpu_cores'], 2)} |"
                      for s in e["ramp"]["stages"]]
            lines.append(f"\nMaximum sustained replay speed without loss: {_f(e.get('max_sustained_speed'))}x real time "
                         f"(ramp stopped by: {e.get('ramp_stopped_by')}). Runtime peak RSS: {_f(e.get('runtime_peak_rss_mb'))} MB.")
    en = r.get("energy", {})
    lines += ["", "## Energy per window", "", f"Method: {en.get('method')}.", "", "| variant | CPU µs/window | " +
              " | ".join(b["name"] + " [µJ]" for b in next(iter(en.get("per_variant", {}).values()), {}).get("boards", [])) + " |"]
    for name, mres in (en.get("measured") or {}).items():
        if mres:
            lines.insert(len(lines) - 1, f"RAPL measured, {name}: {_f(mres['uj_per_window'])} µJ/window over {mres['windows']} windows ({mres['method']}).")
    first = next(iter(en.get("per_variant", {}).values()), None)
    if first:
        lines.append("|---|---|" + "---|" * len(first["boards"]))
        for name, est in en["per_variant"].items():
            lines.append(f"| {name} | {_f(est['cpu_us_per_window'])} | " + " | ".join(_f(b["uj_per_window"]) for b in est["boards"]) + " |")
        lines += [""] + [f"- {b['name']}: idle {b['idle_w']} W, all-core load {_f(b['load_w'])} W, {b['cores']} cores. Source: {b['source']}" for b in first["boards"]]
    pu = r.get("privacy_utility", {})
    lines += ["", "## Privacy / utility", "", f"Source: {pu.get('source')}."]
    if pu.get("evaluation") or pu.get("gate"):
        lines += ["", "```json", json.dumps({"evaluation": pu.get("evaluation"), "gate": pu.get("gate")}, indent=1)[:4000], "```"]
    if r.get("errors"):
        lines += ["", "## Problems", ""] + [f"- {e}" for e in r["errors"]]
    lines += ["", f"Total benchmark time: {r['seconds']:.0f} s.", ""]
    return repo_relative("\n".join(lines))


def plot(r: dict[str, Any], path: Path) -> bool:
    """Box plot is not possible from percentiles alone: bars of p50 with p99 whiskers, log scale."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names, p50, p99, kind = [], [], [], []
    for name, x in r["variants"].items():
        for key in ("invoke", "pipeline"):
            if (x.get(key) or {}).get("p50_us"):
                names.append(f"{name}\n{key}")
                p50.append(x[key]["p50_us"])
                p99.append(x[key]["p99_us"])
                kind.append(key)
        if x.get("format") == "keras" and x.get("p50_us"):
            names.append(f"{name}\ncall")
            p50.append(x["p50_us"])
            p99.append(x["p99_us"])
            kind.append("keras")
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(names)), 4.5))
    colors = {"invoke": "#4c72b0", "pipeline": "#55a868", "keras": "#c44e52"}
    ax.bar(range(len(names)), p50, color=[colors[k] for k in kind],
           yerr=[[0] * len(p50), [b - a for a, b in zip(p50, p99, strict=True)]], capsize=3)  # fmt: skip
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("µs per window (bar p50, whisker p99)")
    ax.set_title(f"Latency per window, 1 thread ({r['mode']} run)")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return True


def _atomic_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_all(out: Path, r: dict[str, Any]) -> list[Path]:
    _atomic_text(out / "bench.json", repo_relative(json.dumps(r, indent=2, default=str)) + "\n")
    _atomic_text(out / "bench.md", markdown(r))
    paths = [out / "bench.json", out / "bench.md"]
    if plot(r, out / "latency.png"):
        paths.append(out / "latency.png")
    return paths
