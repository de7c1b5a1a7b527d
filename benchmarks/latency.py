"""Per-window latency of one runtime variant, measured in a process that never imports TensorFlow.

    python -m benchmarks.latency --model F.tflite --work DIR --out J [--reps N] [--layout ours|reference]

* ``invoke``: the bare interpreter call (LiteRT ``invoke()`` / ONNX Runtime ``run()``), 1 thread,
  after ``warmup`` calls; the input tensor is set outside the timed region.
* ``pipeline``: what the gateway does per window — normalize, quantize, set input, invoke, read
  output, dequantize, denormalize, build the ``AnonymizedWindow`` — timed as one unit.
* ``throughput``: ``benchmarks.throughput`` on the same pipeline callable.

Reads ``DIR/windows.npy`` and ``DIR/norm.json``; writes one JSON result and ``DIR/<name>.out.npy``
(the first released windows, for the float-vs-int8 agreement check in ``run.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.normalizer import Normalization, dequantize, quantize
from edge_runtime.sinks.base import AnonymizedWindow

from . import throughput

__all__ = ["Runner", "open_runner", "percentiles", "time_invoke", "make_pipeline", "peak_rss_mb", "main"]


class Runner:
    """One loaded model with 1 thread: ``set_input``, ``invoke``, ``output`` and the I/O quantization."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.format = "onnx" if path.suffix == ".onnx" else "tflite"
        if self.format == "tflite":
            from ai_edge_litert.interpreter import Interpreter

            self._it = Interpreter(model_path=str(path), num_threads=1)
            self._it.allocate_tensors()
            i, o = self._it.get_input_details()[0], self._it.get_output_details()[0]
            self._in, self._out = i["index"], o["index"]
            self.in_dtype, self.out_dtype = np.dtype(i["dtype"]), np.dtype(o["dtype"])
            self.in_q, self.out_q = tuple(i["quantization"]), tuple(o["quantization"])
            self.in_shape = tuple(int(v) for v in i["shape"])
            self.backend = "ai_edge_litert"
        else:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            self._sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            meta = self._sess.get_inputs()[0]
            self._name = meta.name
            self.in_dtype = self.out_dtype = np.dtype(np.float32)
            self.in_q = self.out_q = (0.0, 0)
            self.in_shape = tuple(d if isinstance(d, int) else 1 for d in meta.shape)
            self.backend = "onnxruntime"
        self._x: np.ndarray = np.zeros(self.in_shape, self.in_dtype)
        self._y: Any = None

    @property
    def quantized(self) -> bool:
        return self.in_dtype == np.int8

    def set_input(self, x: np.ndarray) -> None:
        if self.format == "tflite":
            self._it.set_tensor(self._in, x)
        else:
            self._x = x

    def invoke(self) -> None:
        if self.format == "tflite":
            self._it.invoke()
        else:
            self._y = self._sess.run(None, {self._name: self._x})[0]

    def output(self) -> np.ndarray:
        return self._it.get_tensor(self._out) if self.format == "tflite" else np.asarray(self._y)


def open_runner(path: Path) -> Runner:
    return Runner(Path(path))


def percentiles(ns: list[int] | np.ndarray) -> dict[str, float]:
    us = np.asarray(ns, np.float64) / 1e3
    return {"p50_us": float(np.percentile(us, 50)), "p99_us": float(np.percentile(us, 99)),
            "mean_us": float(us.mean()), "n": int(us.size)}  # fmt: skip


def _model_inputs(r: Runner, z: np.ndarray, layout: str) -> np.ndarray:
    """Normalized ``(N, W, C)`` windows -> the model's input layout and dtype, one row per window."""
    x = np.transpose(z, (0, 2, 1))[..., None] if layout == "reference" else z
    x = np.ascontiguousarray(x, np.float32)
    return quantize(x, r.in_q[0], int(r.in_q[1])) if r.quantized else x


def time_invoke(r: Runner, inputs: np.ndarray, reps: int, warmup: int) -> list[int]:
    """Nanoseconds per bare invoke, cycling through ``inputs``; set_input is outside the timer."""
    out: list[int] = []
    clock = time.perf_counter_ns
    for i in range(warmup + reps):
        r.set_input(inputs[i % len(inputs)][None])
        t0 = clock()
        r.invoke()
        t1 = clock()
        if i >= warmup:
            out.append(t1 - t0)
    return out


def make_pipeline(r: Runner, norm: Normalization, layout: str, rate_hz: float, channels: tuple[str, ...],
                  units: tuple[str, ...]) -> tuple[Callable[[np.ndarray], AnonymizedWindow], str]:  # fmt: skip
    """The gateway's per-window work as one callable: raw view window ``(W, C)`` -> AnonymizedWindow.

    Uses ``edge_runtime.interpreter`` when it exists (the runtime's own code path), else the same
    steps written out here with the runtime's normalizer and (de)quantizer.
    """
    counter = iter(range(1 << 62))
    ref = layout == "reference"
    in_s, in_z = float(r.in_q[0]), int(r.in_q[1])
    out_s, out_z = float(r.out_q[0]), int(r.out_q[1])
    q_in, q_out = r.quantized, r.out_dtype == np.int8

    def run(window: np.ndarray) -> AnonymizedWindow:
        z = norm.apply(window)
        x = z.T[None, :, :, None] if ref else z[None]
        r.set_input(quantize(x, in_s, in_z) if q_in else np.ascontiguousarray(x, np.float32))
        r.invoke()
        y = r.output()
        y = dequantize(y, out_s, out_z) if q_out else y
        y = y[0, :, :, 0].T if ref else y[0]
        data = norm.invert(y)
        return AnonymizedWindow(next(counter), "bench", 0, None, time.time(), rate_hz, channels, units, data)

    return run, "benchmarks.latency.make_pipeline (edge_runtime normalizer/quantize + AnonymizedWindow)"


def runtime_pipeline(model: Path) -> tuple[Callable[[np.ndarray], AnonymizedWindow], str] | None:
    """The gateway's own per-window path (``edge_runtime.interpreter.Anonymizer.run`` + the record)
    when ``model`` is the model of a bundle; None for the other variants."""
    from edge_runtime import manifest as mf

    if not (model.parent / mf.MANIFEST_NAME).is_file():
        return None
    m = mf.load(model.parent, allow_ungated=True)
    if m.model.file != model.name:
        return None
    from edge_runtime.interpreter import Anonymizer

    anon, counter = Anonymizer(m), iter(range(1 << 62))
    spec = m.window

    def run(window: np.ndarray) -> AnonymizedWindow:
        data = anon.run(window)
        return AnonymizedWindow(next(counter), "bench", 0, None, time.time(), spec.rate_hz, spec.channels, spec.units,
                                data, (), m.model_version)  # fmt: skip

    return run, "edge_runtime.interpreter.Anonymizer.run + AnonymizedWindow (the runtime's own path)"


def time_pipeline(fn: Callable[[np.ndarray], Any], windows: np.ndarray, reps: int, warmup: int) -> list[int]:
    out: list[int] = []
    clock = time.perf_counter_ns
    for i in range(warmup + reps):
        w = windows[i % len(windows)]
        t0 = clock()
        fn(w)
        t1 = clock()
        if i >= warmup:
            out.append(t1 - t0)
    return out


def peak_rss_mb() -> float | None:
    """VmHWM of this process [MB], from /proc (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def measure(model: Path, work: Path, *, reps: int, warmup: int, layout: str, seconds: float, keep: int) -> dict[str, Any]:
    windows = np.load(work / "windows.npy")
    meta = json.loads((work / "norm.json").read_text(encoding="utf-8"))
    norm = Normalization.from_dict(meta["normalization"])
    r = open_runner(model)
    inputs = _model_inputs(r, norm.apply(windows), layout)
    invoke = time_invoke(r, inputs, reps, warmup)
    fn, path = runtime_pipeline(model) or make_pipeline(
        r, norm, layout, float(meta["rate_hz"]), tuple(meta["channels"]), tuple(meta["units"])
    )
    pipe = time_pipeline(fn, windows, reps, warmup)
    tput = throughput.measure(fn, windows, seconds=seconds, stride=int(meta["stride"]), rate_hz=float(meta["rate_hz"]))
    released = np.stack([fn(w).data for w in windows[:keep]])
    np.save(work / f"{model.stem}.{layout}.out.npy", released)
    inv, pip = percentiles(invoke), percentiles(pipe)
    return {
        "backend": r.backend,
        "format": r.format,
        "input_dtype": str(r.in_dtype),
        "threads": 1,
        "invoke": inv,
        "pipeline": {**pip, "path": path},
        "pipeline_over_invoke_p50": pip["p50_us"] / inv["p50_us"] if inv["p50_us"] > 0 else None,
        "throughput": tput,
        "model_size_bytes": model.stat().st_size,
        "released_file": str(work / f"{model.stem}.{layout}.out.npy"),
        "worker_peak_rss_mb": peak_rss_mb(),
        "tensorflow_imported": "tensorflow" in sys.modules,
        "pid": os.getpid(),
    }


def count_loop(model: Path, work: Path, layout: str, mode: str, n: int) -> None:
    """Only ``n`` invokes (or pipeline windows): the body an instruction counter differences."""
    windows = np.load(work / "windows.npy")[:8]
    meta = json.loads((work / "norm.json").read_text(encoding="utf-8"))
    norm = Normalization.from_dict(meta["normalization"])
    r = open_runner(model)
    if mode == "invoke":
        r.set_input(_model_inputs(r, norm.apply(windows), layout)[0][None])
        for _ in range(n):
            r.invoke()
    else:
        fn, _ = make_pipeline(r, norm, layout, float(meta["rate_hz"]), tuple(meta["channels"]), tuple(meta["units"]))
        for i in range(n):
            fn(windows[i % len(windows)])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.latency", description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--out", type=Path)
    p.add_argument("--count", choices=("invoke", "pipeline"), help="run only N iterations (for instruction counting)")
    p.add_argument("--n", type=int, default=0)
    p.add_argument("--layout", choices=("ours", "reference"), default="ours")
    p.add_argument("--reps", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--seconds", type=float, default=3.0, help="throughput measurement time")
    p.add_argument("--keep", type=int, default=64, help="released windows kept for the agreement check")
    a = p.parse_args(argv)
    if a.count:
        count_loop(a.model, a.work, a.layout, a.count, a.n)
        return 0
    if a.out is None:
        p.error("--out is required")
    res = measure(a.model, a.work, reps=a.reps, warmup=a.warmup, layout=a.layout, seconds=a.seconds, keep=a.keep)
    a.out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
