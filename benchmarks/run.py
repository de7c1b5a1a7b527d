"""``make bench``: every variant on the same real windows, side by side -> bench.json, bench.md, latency.png.

    python -m benchmarks.run --out reports/bench [--smoke] [--bundle DIR] [--run DIR] [--data DIR]

Steps, each in its own process so that no runtime measurement shares a process with TensorFlow:
windows (HAPT via trainer.data, else a synthetic recording) -> ``benchmarks.models`` (TF: convert,
time Keras) -> ``benchmarks.latency`` per runtime variant -> instruction counts -> cold start and
RSS -> end to end over a pty -> energy -> ``benchmarks.batch`` (batch.json, batch.md) ->
``benchmarks.streams`` (streams.json: many TCP streams into one gateway core) -> ``benchmarks.views``
(views.json: three receivers' views per window) -> report.
``--smoke`` does all of it with few repetitions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.contract import WindowSpec, sliding_windows, to_view
from edge_runtime.errors import EdgeError
from edge_runtime.normalizer import Normalization

from . import coldstart, e2e, energy, instructions, report

__all__ = ["main", "SETTINGS"]

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {  # full: < 10 min on 2 cores; smoke: < 60 s
    "full": {"windows": 512, "reps": 3000, "warmup": 200, "seconds": 3.0, "keras_reps": 300, "cold_repeats": 7,
             "realtime_s": 60.0, "stage_s": 1.5, "instructions": True},
    "smoke": {"windows": 64, "reps": 200, "warmup": 20, "seconds": 0.3, "keras_reps": 20, "cold_repeats": 2,
              "realtime_s": 3.0, "stage_s": 0.2, "instructions": False},
}  # fmt: skip
BASELINE = "ours-float-tflite"


def _env() -> dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return env


def _py(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=timeout)


def load_spec(bundle: Path | None, run: Path | None) -> tuple[WindowSpec, Normalization | None, dict[str, Any], str]:
    """Window spec, normalization and manifest dict from the bundle, else the run, else defaults."""
    if bundle is not None and (bundle / "manifest.json").is_file():
        from edge_runtime.manifest import load

        try:
            m = load(bundle, allow_ungated=True)
            return m.window, m.normalization, m.to_dict(), f"bundle {bundle}"
        except EdgeError as exc:
            print(f"bench: bundle {bundle} unusable ({exc}); falling back", file=sys.stderr)
    if run is not None and (run / "run.json").is_file():
        meta = json.loads((run / "run.json").read_text(encoding="utf-8"))
        spec = WindowSpec.from_dict(meta["window"])
        return spec.with_stride(int(meta.get("config", {}).get("runtime_stride", spec.stride))), \
            Normalization.from_dict(meta["normalization"]), {}, f"run {run}"  # fmt: skip
    return WindowSpec(), None, {}, "defaults (no bundle, no run)"


def load_bench_windows(spec: WindowSpec, data: Path, n: int) -> tuple[np.ndarray, str]:
    """``n`` real HAPT windows (evenly spread over the dataset), else windows of a synthetic recording."""
    try:
        from trainer.data import load_windows

        ws = load_windows("hapt", data, spec)
        idx = np.linspace(0, len(ws) - 1, min(n, len(ws))).astype(int)
        shown = os.path.relpath(data) if Path(data).is_absolute() else data  # reports hold no machine's paths
        return np.ascontiguousarray(ws.x[idx], np.float32), f"UCI HAPT ({shown}), {len(idx)} of {len(ws)} windows"
    except Exception as exc:  # no dataset, no trainer extras: still benchmark, and say so
        from firmware_bridge.recording import synthetic

        rec = synthetic(max(60.0, n * spec.stride / spec.rate_hz + 5))
        x = np.frombuffer(rec.counts.tobytes(), "<i2").reshape(-1, 6).astype(np.float32)
        x[:, :3] *= rec.acc_scale
        x[:, 3:] *= rec.gyro_scale
        w = sliding_windows(to_view(x, spec.view), spec)[:n]
        return np.ascontiguousarray(w), f"synthetic recording (HAPT unavailable: {type(exc).__name__})"


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    vers = {}
    for pkg in ("numpy", "ai-edge-litert", "onnxruntime", "tensorflow", "keras"):
        try:
            vers[pkg] = version(pkg)
        except PackageNotFoundError:
            vers[pkg] = "not installed"
    return {"cpu": cpu, "cores": os.cpu_count(), "machine": platform.machine(), "kernel": platform.release(),
            "python": platform.python_version(), "versions": vers, "loadavg_start": os.getloadavg()}  # fmt: skip


def _agreement(results: dict[str, Any], norm: Normalization) -> dict[str, Any]:
    """int8 vs float released windows of the same model, in normalized units (RMSE, max |diff|)."""
    out = {}
    for model, (i8, f32) in {"ours": ("ours-int8-tflite", "ours-float-tflite"), "paper": ("paper-int8-tflite", "paper-float-tflite")}.items():
        a, b = results.get(i8, {}).get("released_file"), results.get(f32, {}).get("released_file")
        if a and b:
            d = (np.load(a) - np.load(b)) / np.float32(norm.std)
            ref = np.load(b) / np.float32(norm.std)
            out[model] = {"rmse_normalized": float(np.sqrt((d**2).mean())), "max_abs_normalized": float(np.abs(d).max()),
                          "float_output_std_normalized": float(ref.std()), "windows": int(len(d))}  # fmt: skip
    return out


def bench(out: Path, *, smoke: bool, bundle: Path | None, run: Path | None, data: Path) -> dict[str, Any]:
    s = SETTINGS["smoke" if smoke else "full"]
    t_start = time.perf_counter()
    res: dict[str, Any] = {"mode": "smoke" if smoke else "full", "settings": s, "machine": machine_info(), "errors": []}
    spec, norm, manifest, spec_src = load_spec(bundle, run)
    with tempfile.TemporaryDirectory(prefix=".bench-", dir=out) as tmp:
        work = Path(tmp)
        windows, res["windows_source"] = load_bench_windows(spec, data, s["windows"])
        np.save(work / "windows.npy", windows)
        res["window"] = {**spec.to_dict(), "source": spec_src, "count": len(windows)}
        args = ["-m", "benchmarks.models", "--work", str(work), "--reps", str(s["keras_reps"]), "--warmup", "10"]
        args += ["--bundle", str(bundle)] if bundle else []
        args += ["--run", str(run)] if run else []
        p = _py(args, 400)
        if p.returncode != 0:
            raise RuntimeError(f"model preparation failed: {p.stderr.strip()[-500:]}")
        models = json.loads((work / "models.json").read_text(encoding="utf-8"))
        norm = norm or Normalization.from_dict(models["ours"]["normalization"])
        (work / "norm.json").write_text(json.dumps({"normalization": norm.to_dict(), "rate_hz": spec.rate_hz,
                                                    "stride": spec.stride, "length": spec.length, "view": spec.view,
                                                    "channels": list(spec.channels), "units": list(spec.units)}))  # fmt: skip
        res["models"] = {k: models[k] for k in ("ours", "reference", "converter", "tensorflow")}
        variants: dict[str, Any] = {}
        for name, v in models["variants"].items():
            if v.get("error") or v["format"] == "keras":
                variants[name] = v
                continue
            r_out = work / f"{name}.json"
            p = _py(["-m", "benchmarks.latency", "--model", v["path"], "--work", str(work), "--out", str(r_out),
                     "--layout", v["layout"], "--reps", str(s["reps"] if v["model"] == "ours" else s["reps"] // 5),
                     "--warmup", str(s["warmup"]), "--seconds", str(s["seconds"])], 300)  # fmt: skip
            if p.returncode != 0:
                variants[name] = {**v, "error": f"latency worker failed: {p.stderr.strip()[-300:]}"}
                continue
            variants[name] = {**v, **json.loads(r_out.read_text(encoding="utf-8"))}
            if s["instructions"] and name in ("ours-int8-tflite", "ours-float-tflite", "paper-float-tflite"):
                variants[name]["instructions_invoke"] = instructions.count_per_window(Path(v["path"]), work, v["layout"], "invoke")
            elif not s["instructions"]:
                variants[name]["instructions_invoke"] = {"value": None, "how": "n/a", "reason": "skipped in --smoke"}
        res["agreement_int8_vs_float"] = _agreement(variants, norm)
        res["variants"] = variants
        main_model = Path(variants.get("ours-int8-tflite", {}).get("path", ""))
        if main_model.is_file():
            res["cold_start"] = coldstart.measure_cold_start(work, main_model, bundle if manifest else None,
                                                             repeats=s["cold_repeats"], windows=200)  # fmt: skip
            res["e2e"] = e2e.run_e2e(work, main_model, bundle=bundle if manifest else None, data_root=data,
                                     length=spec.length, stride=spec.stride, realtime_s=s["realtime_s"],
                                     stage_s=s["stage_s"])  # fmt: skip
        else:
            res["errors"].append("no int8 model of ours: cold start and end-to-end skipped")
        res["energy"] = _energy(variants, windows, norm, spec, s["seconds"])
    res["batch"] = _batch(out, smoke, bundle)
    res["streams"] = _streams(out, smoke)
    res["views"] = _views(out, smoke)
    res["ratios"] = report.ratios(res["variants"], BASELINE)
    res["privacy_utility"] = _privacy(manifest)
    res["machine"]["loadavg_end"] = os.getloadavg()
    res["seconds"] = time.perf_counter() - t_start
    return res


def _energy(variants: dict[str, Any], windows: np.ndarray, norm: Normalization, spec: WindowSpec, seconds: float) -> dict[str, Any]:
    """RAPL-measured µJ/window where readable (TFLite variants of ours), and the CPU-time estimate for all."""
    from .latency import make_pipeline, open_runner

    rapl = energy.rapl_domains()
    out: dict[str, Any] = {"rapl_readable": bool(rapl), "per_variant": {}, "measured": {}}
    for name, v in variants.items():
        cpu_us = (v.get("throughput") or {}).get("cpu_us_per_window")
        if cpu_us is not None:
            out["per_variant"][name] = energy.estimate(cpu_us)
        if rapl and cpu_us is not None and v.get("model") == "ours" and v.get("format") == "tflite":
            fn, _ = make_pipeline(open_runner(Path(v["path"])), norm, "ours", spec.rate_hz, spec.channels, spec.units)
            out["measured"][name] = energy.measure_rapl(fn, windows, max(seconds, 1.0))
    out["method"] = ("measured with RAPL (ours, TFLite) + estimate for every variant" if out["measured"]
                     else energy.estimate(0.0)["method"])  # fmt: skip
    return out


def _batch(out: Path, smoke: bool, bundle: Path | None) -> dict[str, Any]:
    """``benchmarks.batch`` in its own process (it also writes batch.json and batch.md into ``out``)."""
    args = ["-m", "benchmarks.batch", "--out", str(out), *(["--smoke"] if smoke else [])]
    args += ["--bundle", str(bundle)] if bundle is not None and (bundle / "manifest.json").is_file() else []
    try:
        p = _py(args, 1800)
    except subprocess.TimeoutExpired:
        return {"error": "batch benchmark timed out (30 min)"}
    if p.returncode != 0:
        return {"error": f"batch benchmark failed: {p.stderr.strip()[-300:]}"}
    result: dict[str, Any] = json.loads((out / "batch.json").read_text(encoding="utf-8"))
    return result


def _streams(out: Path, smoke: bool) -> dict[str, Any]:
    """``benchmarks.streams`` (1,000 TCP streams into one gateway core; 60 s here, ``make bench-streams``
    runs the 10 min target) in its own process; it writes streams.json into ``out``."""
    args = ["-m", "benchmarks.streams", "--out", str(out), *(["--smoke"] if smoke else ["--seconds", "60"])]
    try:
        p = _py(args, 600)
    except subprocess.TimeoutExpired:
        return {"error": "streams benchmark timed out (10 min)"}
    path = out / "streams.json"
    if not path.is_file():
        return {"error": f"streams benchmark failed: {p.stderr.strip()[-300:]}"}
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return result


def _views(out: Path, smoke: bool) -> dict[str, Any]:
    """``benchmarks.views`` (three views per window vs their bare model calls) in its own process."""
    try:
        p = _py(["-m", "benchmarks.views", "--out", str(out), *(["--smoke"] if smoke else [])], 600)
    except subprocess.TimeoutExpired:
        return {"error": "views benchmark timed out (10 min)"}
    path = out / "views.json"
    if p.returncode != 0 or not path.is_file():
        return {"error": f"views benchmark failed: {p.stderr.strip()[-300:]}"}
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return result


def _privacy(manifest: dict[str, Any]) -> dict[str, Any]:
    if not manifest:
        return {"source": "none: no bundle manifest (evaluation numbers come from `aae export`)"}
    return {"source": "bundle manifest", "evaluation": manifest.get("evaluation", {}), "gate": manifest.get("gate", {}),
            "model_version": manifest.get("model_version")}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="folder for bench.json, bench.md, latency.png")
    p.add_argument("--smoke", action="store_true", help="few repetitions (< 60 s), for CI")
    p.add_argument("--bundle", type=Path, default=ROOT / "edge_runtime" / "bundled" / "hapt-magnitude")
    p.add_argument("--run", type=Path, default=ROOT / "runs" / "hapt")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "uci-hapt")
    a = p.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    try:
        res = bench(a.out, smoke=a.smoke, bundle=a.bundle, run=a.run, data=a.data)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    paths = report.write_all(a.out, res)
    print(f"bench: {res['mode']} run in {res['seconds']:.0f} s -> {', '.join(str(x) for x in paths)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
