"""Keras anonymizer -> int8 TFLite, float TFLite and ONNX bytes; saving is the bundle's job.

Every converter returns ``bytes`` (tflite-micro ``ptq.py``). Each TFLite model is then loaded in
ai_edge_litert's own ``Interpreter`` (the device runtime, not ``tf.lite``) and run once, so a newer
converter emitting an op version the runtime lacks ("op version not found") fails here, at export,
not on the gateway. Quantization parameters are always read back from that interpreter.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

__all__ = [
    "ExportError",
    "Converted",
    "to_tflite_int8",
    "to_tflite_float",
    "to_onnx",
    "quant_params",
    "check_tflite",
    "run_tflite",
    "run_onnx",
    "tflite_info",
    "onnx_meta",
    "converter_versions",
    "convert_all",
    "DEFAULT_OPSET",
]

DEFAULT_OPSET = 17
ONNX_METHODS = ("from_keras", "from_function", "from_tflite")


class ExportError(Exception):
    """A model cannot be converted, or a converted model does not run in the device runtime."""


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keras' export prints "Saved artifact at ..." to stdout and the converter warns about input
    statistics it does not need; keep the CLI's output to our own lines."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
        yield


def _converter(model: Any) -> Any:
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model)


def to_tflite_float(model: Any) -> bytes:
    """Float32 TFLite flatbuffer of ``model`` (the parity reference for the int8 model)."""
    with _quiet():
        return bytes(_converter(model).convert())


def to_tflite_int8(model: Any, representative: np.ndarray, *, io: str = "int8") -> bytes:
    """Full-integer TFLite (TFLITE_BUILTINS_INT8 only): int8 weights and activations.

    Args:
        model: Keras model, normalized ``(W, C)`` -> normalized ``(W, C)``.
        representative: ``(N, W, C)`` normalized *real* training windows for calibration (a few hundred).
        io: ``"int8"`` for int8 input/output tensors (what the runtime quantizes itself), or
            ``"float"`` to keep float32 I/O around the int8 graph.

    Raises:
        ExportError: bad ``io``/representative set, or the converter fails.
    """
    import tensorflow as tf

    if io not in ("int8", "float"):
        raise ExportError(f"io must be 'int8' or 'float', got {io!r}")
    rep = np.asarray(representative, dtype=np.float32)
    if rep.ndim != 3 or len(rep) == 0 or not np.isfinite(rep).all():
        raise ExportError(f"representative windows must be a finite (N, W, C) array, got shape {rep.shape}")

    def gen() -> Iterator[list[np.ndarray]]:
        for i in range(len(rep)):
            yield [rep[i : i + 1]]

    conv = _converter(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = gen
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if io == "int8":
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    try:
        with _quiet():
            return bytes(conv.convert())
    except Exception as exc:  # the converter raises many types (ConverterError, RuntimeError, ...)
        raise ExportError(f"int8 conversion failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc


def _onnx_from(method: str, model: Any, opset: int) -> Any:
    import tensorflow as tf
    import tf2onnx

    spec = [tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="window")]
    if method == "from_keras":
        return tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset)[0]
    if method == "from_function":
        fn = tf.function(lambda x: model(x, training=False))
        return tf2onnx.convert.from_function(fn, input_signature=spec, opset=opset)[0]
    with tempfile.TemporaryDirectory() as tmp:  # from_tflite reads a path
        path = os.path.join(tmp, "float.tflite")
        with open(path, "wb") as f:
            f.write(to_tflite_float(model))
        return tf2onnx.convert.from_tflite(path, opset=opset)[0]


def to_onnx(model: Any, opset: int = DEFAULT_OPSET, *, methods: tuple[str, ...] = ONNX_METHODS) -> bytes:
    """ONNX bytes via tf2onnx, trying ``methods`` in order; the one that worked is stored in the
    model's ``metadata_props`` as ``converted_via`` (Keras 3 has broken ``from_keras`` before).

    Raises:
        ExportError: every method failed (the message names each failure).
    """
    errors = []
    for method in methods:
        if method not in ONNX_METHODS:
            raise ExportError(f"unknown ONNX conversion method {method!r}; known: {', '.join(ONNX_METHODS)}")
        try:
            with _quiet():
                proto = _onnx_from(method, model, opset)
        except Exception as exc:  # tf2onnx raises arbitrary types on unsupported graphs
            errors.append(f"{method}: {type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}")
            continue
        entry = proto.metadata_props.add()
        entry.key, entry.value = "converted_via", f"tf2onnx.convert.{method}"
        return bytes(proto.SerializeToString())
    raise ExportError("ONNX conversion failed: " + "; ".join(errors))


def _interpreter(tflite: bytes) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    try:
        return Interpreter(model_content=tflite)
    except (ValueError, RuntimeError) as exc:
        raise ExportError(f"ai_edge_litert cannot load the model: {str(exc).splitlines()[0][:200]}") from exc


def quant_params(tflite: bytes) -> tuple[float, int, float, int]:
    """``(in_scale, in_zero_point, out_scale, out_zero_point)`` as the interpreter reads them from the
    model; ``(0.0, 0, 0.0, 0)`` for float tensors."""
    it = _interpreter(tflite)
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    (s_in, z_in), (s_out, z_out) = i["quantization"], o["quantization"]
    return float(s_in), int(z_in), float(s_out), int(z_out)


def run_tflite(tflite: bytes, z: np.ndarray, *, batch: int = 256) -> np.ndarray:
    """Run ``(N, W, C)`` normalized float windows through the model in ai_edge_litert; float output.

    int8 I/O is (de)quantized with the scale/zero point the interpreter reports for the model.
    """
    from edge_runtime.normalizer import dequantize, quantize

    x = np.asarray(z, dtype=np.float32)
    it = _interpreter(tflite)
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    out: list[np.ndarray] = []
    shape = None
    try:
        for s in range(0, len(x), batch):
            xb = x[s : s + batch]
            if shape != len(xb):  # resize once per distinct batch size (the last one may be short)
                it.resize_tensor_input(i["index"], [len(xb), *x.shape[1:]])
                it.allocate_tensors()
                shape = len(xb)
            if i["dtype"] == np.int8:
                xb = quantize(xb, *i["quantization"])
            it.set_tensor(i["index"], xb)
            it.invoke()
            y = it.get_tensor(o["index"])
            out.append(dequantize(y, *o["quantization"]) if o["dtype"] == np.int8 else np.array(y, np.float32))
    except (ValueError, RuntimeError) as exc:
        raise ExportError(f"ai_edge_litert cannot run the model: {str(exc).splitlines()[0][:200]}") from exc
    return np.concatenate(out) if out else np.empty((0, *x.shape[1:]), np.float32)


def check_tflite(tflite: bytes, shape: tuple[int, ...]) -> None:
    """Load, allocate and invoke once in the device runtime, catching op-version mismatches now.

    Raises:
        ExportError: the runtime refuses the model, or its I/O shape differs from ``shape``.
    """
    it = _interpreter(tflite)
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    if tuple(i["shape"][1:]) != tuple(shape) or tuple(o["shape"][1:]) != tuple(shape):
        raise ExportError(f"converted model I/O {tuple(i['shape'])}->{tuple(o['shape'])} does not match window {shape}")
    y = run_tflite(tflite, np.zeros((1, *shape), np.float32))
    if not np.isfinite(y).all():
        raise ExportError("converted model produced non-finite output on a zero window")


def run_onnx(onnx_bytes: bytes, z: np.ndarray) -> np.ndarray:
    """Run ``(N, W, C)`` normalized windows through ONNX Runtime (CPU)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.asarray(sess.run(None, {name: np.asarray(z, np.float32)})[0], np.float32)


def tflite_info(tflite: bytes) -> dict[str, str]:
    """The converter's ``min_runtime_version`` and the builtin op versions the model needs."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    m = flatbuffer_utils.convert_bytearray_to_object(bytearray(tflite))
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    ops = sorted(
        {f"{names.get(max(c.builtinCode, c.deprecatedBuiltinCode), '?')}:v{c.version}" for c in m.operatorCodes}
    )
    info = {"tflite_ops": ",".join(ops)}
    for md in m.metadata or []:
        name = md.name.decode() if isinstance(md.name, bytes) else str(md.name)
        if name == "min_runtime_version":
            info["tflite_min_runtime_version"] = bytes(m.buffers[md.buffer].data).rstrip(b"\0").decode()
    return info


def _pkg(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def converter_versions() -> dict[str, str]:
    """Versions of every converter and runtime involved, for the manifest."""
    return {
        "tensorflow": _pkg("tensorflow"),
        "keras": _pkg("keras"),
        "ai_edge_litert": _pkg("ai-edge-litert"),
        "tf2onnx": _pkg("tf2onnx"),
        "onnx": _pkg("onnx"),
        "onnxruntime": _pkg("onnxruntime"),
        "numpy": _pkg("numpy"),
    }


@dataclass(frozen=True)
class Converted:
    """The three artefacts of one export plus what made them."""

    int8_tflite: bytes
    float_tflite: bytes
    onnx: bytes
    io: str
    versions: dict[str, str] = field(default_factory=dict)


def onnx_meta(onnx_bytes: bytes) -> dict[str, str]:
    import onnx

    proto = onnx.load_from_string(onnx_bytes)
    meta = {p.key: p.value for p in proto.metadata_props}
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    return {"onnx_opset": str(opset), "onnx_converted_via": meta.get("converted_via", "unknown")}


def convert_all(model: Any, representative: np.ndarray, *, io: str = "int8", opset: int = DEFAULT_OPSET) -> Converted:
    """int8 + float TFLite and ONNX, each checked in its runtime; versions recorded.

    Raises:
        ExportError: a conversion failed or a TFLite model does not run in ai_edge_litert.
    """
    shape = tuple(int(d) for d in model.input_shape[1:])
    q = to_tflite_int8(model, representative, io=io)
    f = to_tflite_float(model)
    for blob in (q, f):
        check_tflite(blob, shape)
    o = to_onnx(model, opset)
    try:
        y = run_onnx(o, np.zeros((1, *shape), np.float32))
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ExportError(f"ONNX Runtime cannot run the converted model: {str(exc).splitlines()[0][:200]}") from exc
    if y.shape != (1, *shape):
        raise ExportError(f"ONNX model output {y.shape} does not match window {shape}")
    versions = {**converter_versions(), **tflite_info(q), **onnx_meta(o)}
    return Converted(q, f, o, io, versions)
