"""``edge-anonymize batch`` speed: batched vs one-window inference, a day-long recording per input
format end to end on one core, and ``--jobs 1`` vs ``--jobs 2`` -> batch.json, batch.md.

    python -m benchmarks.batch --out reports/bench [--smoke] [--bundle DIR] [--formats csv,hapt,imu,sisfall]

* ``inference``: ``Anonymizer.run`` on one window at a time vs ``run_batch`` at several batch sizes,
  the same windows, the same model, in this process (1 interpreter thread); the outputs must be
  bit-identical or the ratio is not reported.
* ``day``: 24 h of one 50 Hz stream (4.32 M samples; ``--smoke``: 1 h) written in each input format
  (CSV in m/s^2 and rad/s, the HAPT layout, an ``.imu`` wire capture of 5-sample frames as the
  reference firmware sends, a SisFall trial at 200 Hz), then ``edge-anonymize batch FILE`` in a child
  process pinned to one core; ``wall_s`` runs from the child's start to its exit (imports, bundle
  check, read, windows, model, output) — the target is 5 s. Parquet for every format, JSON lines for CSV.
* ``scaling``: 16 CSV files of 6 h (``--smoke``: 4 of 10 min) with ``--jobs 1`` and ``--jobs 2`` (whole process wall
  time, spawn of the workers included); efficiency = speedup / 2 (target 0.8).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .report import _atomic_text, repo_relative

__all__ = ["main", "inference", "day_inputs", "TARGETS"]

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"batched_over_single": 3.0, "day_wall_s": 5.0, "jobs2_efficiency": 0.8}
DAY = 24 * 3600


def _env() -> dict[str, str]:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def inference(bundle: Path, seconds: float) -> dict[str, Any]:
    """Windows/s of ``run`` (one window a call) and ``run_batch`` (batch sizes) on the same windows."""
    from edge_runtime.interpreter import Anonymizer
    from edge_runtime.manifest import load
    from edge_runtime.native_log import native_info_filtered

    from .run import load_bench_windows

    m = load(bundle)
    with native_info_filtered(True):
        a = Anonymizer(m)
    x, source = load_bench_windows(m.window, ROOT.parent / "shared" / "datasets" / "uci-hapt", 1024)

    def rate(fn: Any, n_per_call: int) -> float:
        fn()
        n, t0 = 0, time.perf_counter()
        while (dt := time.perf_counter() - t0) < seconds:
            fn()
            n += n_per_call
        return n / dt

    ref = np.stack([a.run(w) for w in x])
    single = rate(lambda: [a.run(w) for w in x[:64]], 64)
    batched: dict[str, float] = {}
    identical = True
    for b in (16, 64, 256, 1024):
        got = np.concatenate([a.run_batch(x[i : i + b]) for i in range(0, len(x), b)])
        identical &= bool(np.array_equal(got.view(np.uint32), ref.view(np.uint32)))
        batched[str(b)] = rate(lambda b=b: [a.run_batch(x[i : i + b]) for i in range(0, len(x), b)], len(x))
    best = max(batched, key=lambda k: batched[k])
    return {"windows_source": source, "model_version": m.model_version, "single_windows_per_s": single,
            "batched_windows_per_s": batched, "best_batch": int(best), "bit_identical": identical,
            "ratio_at_256": batched["256"] / single if identical else None,
            "ratio_best": batched[best] / single if identical else None}  # fmt: skip


def _signal(n: int) -> np.ndarray:
    """``(n, 6)`` float64 canonical samples: a 10-minute synthetic walk, repeated."""
    from firmware_bridge.recording import synthetic

    rec = synthetic(600.0, seed=3)
    base = np.frombuffer(rec.counts.tobytes(), "<i2").reshape(-1, 6).astype(np.float64)
    base[:, :3] *= rec.acc_scale
    base[:, 3:] *= rec.gyro_scale
    return np.tile(base, (-(-n // len(base)), 1))[:n]


def _write_text(path: Path, cols: list[np.ndarray], *, delimiter: str, header: str | None = None, last: str = "") -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    arrays = [pa.array(c) for c in cols]
    if last:  # SisFall rows end in ";"
        arrays[-1] = pc.binary_join_element_wise(pc.cast(arrays[-1], pa.string()), pa.scalar(""), last)
    table = pa.table({str(i): a for i, a in enumerate(arrays)})
    with path.open("wb") as f:
        if header:
            f.write(header.encode() + b"\n")
        pcsv.write_csv(table, f, pcsv.WriteOptions(include_header=False, delimiter=delimiter, quoting_style="none"))


def day_inputs(folder: Path, seconds: float, formats: list[str]) -> dict[str, Path]:
    """One recording of ``seconds`` per format under ``folder``; returns format -> path."""
    from edge_runtime.contract import G
    from firmware_bridge.protocol import encode_frame
    from firmware_bridge.recording import ACC_SCALE_16G, GYRO_SCALE_2000DPS, Recording, frames

    n = round(seconds * 50)
    x = _signal(n)
    out: dict[str, Path] = {}
    if "csv" in formats:
        (folder / "csv").mkdir()
        out["csv"] = folder / "csv" / "day.csv"
        _write_text(out["csv"], [np.round(x[:, i], 6) for i in range(6)], delimiter=",",
                    header="acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z")  # fmt: skip
    if "hapt" in formats:  # acc in g, gyro in rad/s, 9 decimals as the archive's files
        (raw := folder / "hapt" / "RawData").mkdir(parents=True)
        _write_text(raw / "acc_exp01_user01.txt", [np.round(x[:, i] / G, 9) for i in range(3)], delimiter=" ")
        _write_text(raw / "gyro_exp01_user01.txt", [np.round(x[:, i], 9) for i in range(3, 6)], delimiter=" ")
        out["hapt"] = raw / "acc_exp01_user01.txt"
    if "imu" in formats:
        counts = np.empty((n, 6), "<i2")
        counts[:, :3] = np.clip(np.rint(x[:, :3] / ACC_SCALE_16G), -32768, 32767)
        counts[:, 3:] = np.clip(np.rint(x[:, 3:] / GYRO_SCALE_2000DPS), -32768, 32767)
        from array import array

        rec = Recording(array("h", counts.tobytes()), 50.0, ACC_SCALE_16G, GYRO_SCALE_2000DPS, 0xED6E00000001)
        out["imu"] = folder / "day.imu"
        with out["imu"].open("wb") as f:
            f.writelines(encode_frame(fr) for fr in frames(rec, samples_per_frame=5))
    if "sisfall" in formats:  # 200 Hz raw counts: ADXL345 (1/256 g), ITG3200 (4000/65536 deg/s), MMA8451Q unused
        from trainer.data.sisfall import ACC_G_PER_COUNT, GYRO_DEG_S_PER_COUNT

        hi = np.repeat(x, 4, axis=0)
        acc = np.rint(hi[:, :3] / (ACC_G_PER_COUNT * G)).astype(np.int32)
        gyro = np.rint(np.rad2deg(hi[:, 3:]) / GYRO_DEG_S_PER_COUNT).astype(np.int32)
        (d := folder / "sisfall" / "SA01").mkdir(parents=True)
        out["sisfall"] = d / "D01_SA01_R01.txt"
        _write_text(out["sisfall"], [*acc.T, *gyro.T, *(acc.T * 4)], delimiter=",", last=";")
    return out


def _pinned() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _batch(args: list[str], *, one_core: bool, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "edge_runtime.cli", "batch", *args, "--t-gateway", "0"]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=timeout,
                       preexec_fn=_pinned if one_core else None)  # fmt: skip
    wall = time.perf_counter() - t0
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("batch: ")]
    summary: dict[str, Any] = next((json.loads(ln) for ln in reversed(p.stderr.splitlines()) if ln.startswith("{")), {})
    per_file = [float(m[1]) for ln in lines if (m := re.search(r"windows in ([0-9.]+) s", ln))]
    res = {"wall_s": wall, "exit": p.returncode, "windows": summary.get("windows"), "file_s": per_file}
    if p.returncode != 0:
        res["error"] = (lines or p.stderr.strip().splitlines() or ["?"])[-1][-300:]
    return res


def day(bundle: Path, work: Path, seconds: float, formats: list[str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    inputs = day_inputs(work, seconds, formats)
    res: dict[str, Any] = {"seconds_of_signal": seconds, "samples_50hz": round(seconds * 50), "generate_s": time.perf_counter() - t0,
                           "input_mb": {k: p.stat().st_size / 1e6 for k, p in inputs.items()}, "runs": {}}  # fmt: skip
    for fmt, path in inputs.items():
        for out_fmt in ("parquet", "jsonl") if fmt == "csv" else ("parquet",):
            out = work / f"out-{fmt}-{out_fmt}"
            r = _batch([str(path), "--out", str(out), "--bundle", str(bundle), "--format", out_fmt], one_core=True, timeout=900)
            r["output_mb"] = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 1e6 if out.exists() else 0.0
            r["meets_5s"] = r["exit"] == 0 and r["wall_s"] <= TARGETS["day_wall_s"] if seconds == DAY else None  # smoke: n/a
            res["runs"][f"{fmt}->{out_fmt}"] = r
    return res


def scaling(bundle: Path, work: Path, files: int, seconds: float, reps: int) -> dict[str, Any]:
    folder = work / "scaling"
    folder.mkdir()
    x = _signal(round(seconds * 50))
    for i in range(files):
        _write_text(folder / f"rec{i:02d}.csv", [np.round(np.roll(x[:, c], 7 * i), 6) for c in range(6)], delimiter=",",
                    header="acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z")  # fmt: skip
    res: dict[str, Any] = {"files": files, "seconds_each": seconds, "cores": len(os.sched_getaffinity(0)), "reps": reps,
                           "loadavg_before": os.getloadavg()[0]}  # fmt: skip
    runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    for _ in range(reps):  # alternated, the fastest of each kept: the machine may be shared
        for jobs in (1, 2):
            out = work / f"out-jobs{jobs}"
            shutil.rmtree(out, ignore_errors=True)
            runs[jobs].append(_batch([str(folder), "--out", str(out), "--bundle", str(bundle), "--format", "parquet",
                                      "--jobs", str(jobs)], one_core=False, timeout=900))  # fmt: skip
    for jobs in (1, 2):
        res[f"jobs{jobs}"] = {**min(runs[jobs], key=lambda r: r["wall_s"]), "all_wall_s": [r["wall_s"] for r in runs[jobs]]}
    same = all((work / "out-jobs1" / f.name).read_bytes() == f.read_bytes() for f in (work / "out-jobs2").iterdir())
    res["outputs_identical"] = same
    res["speedup"] = res["jobs1"]["wall_s"] / res["jobs2"]["wall_s"]
    res["efficiency"] = res["speedup"] / 2
    return res


def markdown(r: dict[str, Any]) -> str:
    inf, d, s = r["inference"], r["day"], r["scaling"]
    lines = [f"# edge-anonymize batch ({r['mode']})", "", f"Machine: {r['machine']}; model `{inf['model_version']}`.", "",
             "## Inference (windows/s, 1 thread)", "", "| call | windows/s |", "|---|---|",
             f"| `run`, one window | {inf['single_windows_per_s']:,.0f} |"]  # fmt: skip
    lines += [f"| `run_batch`, batch {b} | {v:,.0f} |" for b, v in inf["batched_windows_per_s"].items()]
    lines += ["", f"Batched / single: {inf['ratio_at_256'] or 0:.1f}x at 256 (the default), {inf['ratio_best'] or 0:.1f}x at the best, {inf['best_batch']} "
              f"(target {TARGETS['batched_over_single']:g}x); outputs bit-identical: {inf['bit_identical']}.", "",
              f"## {d['seconds_of_signal'] / 3600:g} h of one 50 Hz stream, one core, end to end", "",
              "| input -> output | input MB | output MB | windows | process wall s | file s | <= 5 s |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for k, v in d["runs"].items():
        ok = {True: "yes", False: "no", None: "n/a (not 24 h)"}[v["meets_5s"]]
        lines.append(f"| {k} | {d['input_mb'][k.split('->')[0]]:.0f} | {v['output_mb']:.1f} | {v['windows']} | {v['wall_s']:.2f} | "
                     f"{', '.join(f'{x:.2f}' for x in v['file_s'])} | {ok} |")  # fmt: skip
    lines += ["", "*process wall*: child start to exit, pinned to one core; *file*: the file's own line (read, windows, model, "
              "output written and renamed), without interpreter start, imports and the bundle check."]  # fmt: skip
    lines += ["", f"## --jobs 1 vs 2 ({s['files']} CSV files of {s['seconds_each'] / 60:g} min, {s['cores']} cores)", "",
              f"jobs 1: {s['jobs1']['wall_s']:.2f} s, jobs 2: {s['jobs2']['wall_s']:.2f} s (fastest of {s['reps']}; load average "
              f"{s['loadavg_before']:.2f} before): speedup {s['speedup']:.2f}x, "
              f"efficiency {s['efficiency']:.2f} (target {TARGETS['jobs2_efficiency']:g}); outputs identical: {s['outputs_identical']}.", ""]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.batch", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="folder for batch.json and batch.md")
    p.add_argument("--smoke", action="store_true", help="1 h instead of 24 h, short timings (< 60 s)")
    p.add_argument("--bundle", type=Path, default=ROOT / "edge_runtime" / "bundled" / "hapt-magnitude")
    p.add_argument("--formats", default="csv,hapt,imu,sisfall", help="day-long inputs to time (comma separated)")
    a = p.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    from .run import machine_info

    t0 = time.perf_counter()
    info = machine_info()
    res: dict[str, Any] = {"mode": "smoke" if a.smoke else "full", "targets": TARGETS,
                           "machine": f"{info['cpu']}, {info['cores']} cores, load {info['loadavg_start'][0]:.2f}"}  # fmt: skip
    res["inference"] = inference(a.bundle, 0.3 if a.smoke else 2.0)
    with tempfile.TemporaryDirectory(prefix=".bench-batch-", dir=a.out) as tmp:
        work = Path(tmp)
        (work / "day").mkdir()
        res["day"] = day(a.bundle, work / "day", 3600.0 if a.smoke else float(DAY), a.formats.split(","))
        res["scaling"] = scaling(a.bundle, work, 4 if a.smoke else 16, 600.0 if a.smoke else 6 * 3600.0, 1 if a.smoke else 2)
    res["seconds"] = time.perf_counter() - t0
    _atomic_text(a.out / "batch.json", repo_relative(json.dumps(res, indent=2, default=str)) + "\n")
    _atomic_text(a.out / "batch.md", repo_relative(markdown(res)))
    print(f"bench batch: {res['mode']} run in {res['seconds']:.0f} s -> {a.out / 'batch.json'}, {a.out / 'batch.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
