"""The anonymizer model behind one call: normalized-in-place, quantized, invoked, dequantized.

``ai_edge_litert`` first, ``tflite_runtime`` as the legacy fallback; never TensorFlow. The int8
scale/zero point are read from the model (``get_input_details``) and must agree with the manifest,
so a bundle whose manifest and model disagree is refused instead of silently mis-scaled. The same
holds for versions: the op versions and ``min_runtime_version`` read from the model file must be
the manifest's, must not need a newer TFLite runtime than the installed backend implements, and an
op version the backend lacks is refused at load by name (``tflite_info``).
``Anonymizer.run`` works on a preallocated batch-of-1 input buffer: no per-window temporaries
on the way in; the output is a fresh array because it leaves the process.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError
from .manifest import Manifest, TensorInfo
from .normalizer import Normalization
from .tflite_info import check_versions, read_model_info

__all__ = ["load_interpreter", "Anonymizer", "BACKENDS"]

BACKENDS = ("ai_edge_litert", "tflite_runtime")
_DTYPES = {"int8": np.int8, "float32": np.float32}
# The TensorFlow Lite runtime level each ai_edge_litert release line implements at least. Its wheels
# are built from TensorFlow's main branch (2.3.0 carries "2.22.0-dev0") and do not report it, so
# these are lower bounds; op versions a backend lacks are refused at load whatever this says.
_LITERT_TFLITE = (((2, 3), "2.21.0"), ((2, 0), "2.19.0"), ((1, 0), "2.18.0"))
_MISSING_OP = re.compile(r"builtin opcode '(\w+)' version '(\d+)'")


def backend_versions(backend: str) -> tuple[str, str | None]:
    """(the backend package's version, the TFLite runtime version it implements, if known)."""
    from .tflite_info import parse_version

    try:
        if backend == "ai_edge_litert":
            import ai_edge_litert

            ver = str(ai_edge_litert.__version__)
            key = parse_version(ver)[:2]
            return ver, next((tfl for floor, tfl in _LITERT_TFLITE if key >= floor), None)
        import tflite_runtime  # versioned like TensorFlow itself

        ver = str(tflite_runtime.__version__)
        return ver, ver
    except (ImportError, AttributeError, ValueError):
        return "unknown", None


def load_interpreter(model_path: str | Path, *, num_threads: int = 1) -> tuple[Any, str]:
    """A TFLite interpreter for ``model_path`` and the backend's name.

    Raises:
        ModelError: no backend installed (with the pip hint), or the file is missing/not a model.
    """
    cls: Any
    try:
        from ai_edge_litert import interpreter as mod

        cls, backend = mod.Interpreter, "ai_edge_litert"
    except ImportError:
        try:
            from tflite_runtime import interpreter as legacy  # the pre-2024 package name

            cls, backend = legacy.Interpreter, "tflite_runtime"
        except ImportError:
            raise ModelError("no TFLite interpreter installed: pip install 'edge-anonymize[edge]'") from None
    path = Path(model_path)
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    try:
        interp = cls(model_path=str(path), num_threads=num_threads)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        missing = _MISSING_OP.search(str(exc))
        if missing:
            raise ModelError(f"model needs op {missing[1]} v{missing[2]}, which {backend} {backend_versions(backend)[0]} "
                             "does not provide (the model is newer than this runtime: upgrade it)") from None  # fmt: skip
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{backend} cannot load {path.name}: {first}") from None
    return interp, backend


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-12)


def _check_tensor(kind: str, detail: dict[str, Any], want: TensorInfo) -> tuple[float, int]:
    """Model tensor vs manifest; returns the model's (scale, zero_point)."""
    shape = tuple(int(v) for v in detail["shape"])
    if shape != (1, *want.shape):
        raise ModelError(
            f"model {kind} shape {shape} does not match the manifest's (1, {', '.join(map(str, want.shape))})"
        )
    dtype = np.dtype(detail["dtype"])
    if want.dtype not in _DTYPES or dtype != np.dtype(_DTYPES[want.dtype]):
        raise ModelError(f"model {kind} dtype {dtype} does not match the manifest's {want.dtype}")
    scale, zp = detail.get("quantization", (0.0, 0))
    scale, zp = float(scale), int(zp)
    if dtype == np.int8:
        if not (scale > 0 and _close(scale, want.scale) and zp == want.zero_point):
            raise ModelError(
                f"model {kind} quantization (scale {scale:.6g}, zero point {zp}) does not match the manifest's "
                f"(scale {want.scale:.6g}, zero point {want.zero_point})"
            )
    return scale, zp


class Anonymizer:
    """Normalized int8 (or float) model on ``(length, C)`` view windows -> anonymized windows in view units.

    Args:
        manifest: the loaded bundle; its ``input``/``output`` are checked against the model file.
        num_threads: interpreter threads (1 keeps latency steady next to the reader thread).
    Raises:
        ModelError: missing interpreter, unusable file, shape/dtype/quantization mismatch.
    """

    def __init__(self, manifest: Manifest, *, num_threads: int = 1) -> None:
        if manifest.is_estimator and type(self) is Anonymizer:
            raise ModelError(f"bundle {manifest.model_version} is an activity estimator, not an anonymizer: "
                             "it releases nothing (use it as a set's 'estimator' member)")  # fmt: skip
        if tuple(manifest.input.shape) != manifest.window.shape:
            raise ModelError(
                f"manifest input shape {manifest.input.shape} is not the window shape {manifest.window.shape}"
            )
        self.interp, self.backend = load_interpreter(manifest.model_path, num_threads=num_threads)
        try:
            info = read_model_info(manifest.model_path.read_bytes())
        except OSError as exc:
            raise ModelError(f"cannot read model file {manifest.model_path}: {exc.strerror}") from None
        ver, tfl = backend_versions(self.backend)
        check_versions(info, manifest.versions, f"{self.backend} {ver}", tfl)
        try:
            ind, outd = self.interp.get_input_details(), self.interp.get_output_details()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot read the model's tensors: {type(exc).__name__}") from None
        if len(ind) != 1 or len(outd) != 1:
            raise ModelError(f"model has {len(ind)} inputs and {len(outd)} outputs; expected 1 and 1")
        self.in_scale, self.in_zp = _check_tensor("input", ind[0], manifest.input)
        self.out_scale, self.out_zp = _check_tensor("output", outd[0], manifest.output)
        self._in_idx, self._out_idx = int(ind[0]["index"]), int(outd[0]["index"])
        self.quant_in = np.dtype(ind[0]["dtype"]) == np.int8
        self.quant_out = np.dtype(outd[0]["dtype"]) == np.int8
        norm: Normalization = manifest.normalization
        self._mean = np.asarray(norm.mean, np.float32)
        self._std = np.asarray(norm.std, np.float32)
        shape = (1, *manifest.window.shape)
        self._input = np.zeros(shape, np.int8 if self.quant_in else np.float32)
        # preallocated: normalize (and quantize) in place; a float-I/O model is normalized straight
        # into its input buffer, the int8 quantization then happens inside the graph
        self._tmp = np.zeros(shape, np.float32) if self.quant_in else self._input
        self._f_in_scale, self._f_in_zp = np.float32(self.in_scale), np.float32(self.in_zp)
        self._f_out_scale, self._f_out_zp = np.float32(self.out_scale), np.float32(self.out_zp)
        self._lo, self._hi = np.float32(-128), np.float32(127)
        self.last_invoke_s = 0.0
        self._batch = 1  # the batch size the interpreter's tensors are allocated for
        # run_batch: mean/std tiled over a whole window (row-major (length, C)) and a scratch buffer
        self._flat_mean = np.tile(self._mean, manifest.window.length)
        self._flat_std = np.tile(self._std, manifest.window.length)
        self._tmp_flat, self._input_flat = self._tmp.reshape(-1), self._input.reshape(-1)
        self._scratch = np.empty((0, self._input[0].size), np.float32)
        self._qscratch = self._scratch

    def prepare(self, window: np.ndarray) -> np.ndarray:
        """Fill the input buffer from a raw ``(length, C)`` view window: the runtime's
        ``Normalization.apply`` then ``quantize``, bit for bit, without temporaries."""
        # flat (length * C,) views against the tiled mean/std: one inner loop of 256 instead of 128
        # loops of C (a broadcast (128, 2) ufunc costs 3-4x a flat one); same values, bit for bit
        t = self._tmp_flat
        np.subtract(np.asarray(window).reshape(-1), self._flat_mean, out=t)
        np.divide(t, self._flat_std, out=t)
        if self.quant_in:
            np.divide(t, self._f_in_scale, out=t)
            np.rint(t, out=t)
            np.add(t, self._f_in_zp, out=t)
            # saturate with two plain ufuncs (np.clip's wrapper costs ~3 us per call), the second
            # writing straight into the int8 input buffer
            np.maximum(t, self._lo, out=t)
            np.minimum(t, self._hi, out=self._input_flat, casting="unsafe")
        return self._input

    def _resize(self, n: int) -> None:
        if n != self._batch:
            shape = [n, *self._input.shape[1:]]
            self.interp.resize_tensor_input(self._in_idx, shape)
            self.interp.allocate_tensors()
            self._batch = n

    def run_batch(self, windows: np.ndarray) -> np.ndarray:
        """``(N, length, C)`` raw view windows -> anonymized windows, one interpreter call for all N.

        Bit for bit what ``run`` gives on each window (the same float32 ufuncs in the same order:
        normalize, quantize, model, dequantize, invert), vectorized for a recording on disk, where a
        window is not waiting for the next one to arrive. The per-channel mean/std are tiled to a
        whole window, ``(length * C,)``, so each ufunc runs one long inner loop instead of N * length
        loops of C (about 10x faster), in place in one reused scratch buffer.
        """
        x = np.asarray(windows, np.float32)
        n = len(x)
        if x.shape[1:] != self._input.shape[1:]:
            raise ValueError(f"expected windows of shape (N, {', '.join(map(str, self._input.shape[1:]))}), got {x.shape}")
        if n == 0:
            return np.empty(x.shape, np.float32)
        self._resize(n)
        if self._scratch.shape[0] < n:
            self._scratch = np.empty((n, x[0].size), np.float32)
            self._qscratch = np.empty((n, x[0].size), np.int8) if self.quant_in else self._scratch
        t, flat = self._scratch[:n], x.reshape(n, -1)
        np.subtract(flat, self._flat_mean, out=t)  # Normalization.apply
        np.divide(t, self._flat_std, out=t)
        z = t
        if self.quant_in:  # prepare()'s quantize, op for op
            np.divide(t, self._f_in_scale, out=t)
            np.rint(t, out=t)
            np.add(t, self._f_in_zp, out=t)
            np.maximum(t, self._lo, out=t)
            z = self._qscratch[:n]
            np.minimum(t, self._hi, out=z, casting="unsafe")
        y = self._call_batch(z.reshape(x.shape), n)
        if self.quant_out:
            out: np.ndarray = np.subtract(y, self._f_out_zp, dtype=np.float32)
            np.multiply(out, self._f_out_scale, out=out)
        else:
            out = y if y.dtype == np.float32 else y.astype(np.float32)
        o = out.reshape(n, -1)
        np.multiply(o, self._flat_std, out=o)  # Normalization.invert
        np.add(o, self._flat_mean, out=o)
        return out

    def _call_batch(self, z: np.ndarray, n: int) -> np.ndarray:
        """One interpreter call on ``z`` (the batch's input tensor); its output, a copy."""
        self.interp.set_tensor(self._in_idx, z)
        t0 = time.perf_counter()
        self.interp.invoke()
        self.last_invoke_s = time.perf_counter() - t0
        y: np.ndarray = self.interp.get_tensor(self._out_idx)
        return y

    def invoke(self) -> np.ndarray:
        """Run the model on the prepared input; returns its raw output ``(1, length, C)`` (a copy)."""
        self._resize(1)
        self.interp.set_tensor(self._in_idx, self._input)
        t0 = time.perf_counter()
        self.interp.invoke()
        self.last_invoke_s = time.perf_counter() - t0
        out: np.ndarray = np.asarray(self.interp.get_tensor(self._out_idx))
        return out

    def run(self, window: np.ndarray) -> np.ndarray:
        """Raw view window ``(length, C)`` -> anonymized window ``(length, C)`` float32 in view units."""
        self.prepare(window)
        y = self.invoke()[0]
        if self.quant_out:  # int8 -> float32 in the subtraction itself: one pass fewer than astype
            out: np.ndarray = np.subtract(y, self._f_out_zp, dtype=np.float32)
            np.multiply(out, self._f_out_scale, out=out)
        else:  # get_tensor returned a copy: invert the normalization in place
            out = y if y.dtype == np.float32 else y.astype(np.float32)
        o = out.reshape(-1)  # flat, as in prepare
        np.multiply(o, self._flat_std, out=o)  # Normalization.invert
        np.add(o, self._flat_mean, out=o)
        return out
