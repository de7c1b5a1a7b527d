"""The TensorFlow side of the benchmark, run in its own process: build/convert every variant, time Keras.

    python -m benchmarks.models --work DIR [--bundle DIR] [--run DIR] [--reps N] [--smoke]

Reads ``DIR/windows.npy`` (view units, ``(N, W, C)``) and writes the model files plus
``DIR/models.json``. The runtime variants are timed elsewhere (``benchmarks.latency``), in processes
that never import TensorFlow; this one is the only place TF is loaded.

The paper-size reference is the Anonymizing AutoEncoder of Malekzadeh et al. (IoTDI'19) at the size
of the authors' released ``msda`` model: input ``(2, 128, 1)`` (|acc|, |gyro| as rows), an encoder of
four Conv2D(100, 1x3, SELU) + BatchNorm with two 1x2 max-pools and a linear Conv2D(1) bottleneck
``(2, 32, 1)``, and a decoder of four Conv2DTranspose(100, 1x3, SELU) + BatchNorm (two of stride 2)
and a linear Conv2D(1). Weights are random (it is a size/speed reference, not a trained anonymizer).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["build_reference_aae", "main"]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def build_reference_aae(seed: int = 0) -> Any:
    """The paper-size AAE (SELU, Conv2DTranspose), shapes as (batch, rows, time, channels)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)

    def conv(x: Any, f: int, act: str | None, name: str) -> Any:
        return layers.Conv2D(f, (1, 3), padding="same", activation=act, name=name)(x)

    def deconv(x: Any, stride: int, name: str) -> Any:
        return layers.Conv2DTranspose(100, (1, 3), strides=(1, stride), padding="same", activation="selu", name=name)(x)

    x = inp = keras.Input((2, 128, 1), name="window")              # (B, 2, 128, 1)
    x = layers.BatchNormalization(name="e_bn1")(conv(x, 100, "selu", "e1"))   # (B, 2, 128, 100)
    x = layers.BatchNormalization(name="e_bn2")(conv(x, 100, "selu", "e2"))
    x = layers.MaxPooling2D((1, 2), name="e_p1")(x)                 # (B, 2, 64, 100)
    x = layers.BatchNormalization(name="e_bn3")(conv(x, 100, "selu", "e3"))
    x = layers.MaxPooling2D((1, 2), name="e_p2")(x)                 # (B, 2, 32, 100)
    x = layers.BatchNormalization(name="e_bn4")(conv(x, 100, "selu", "e4"))
    y = layers.BatchNormalization(name="y_bn")(conv(x, 1, None, "y"))  # (B, 2, 32, 1) latent
    y = layers.BatchNormalization(name="d_bn1")(deconv(y, 1, "d1"))  # (B, 2, 32, 100)
    y = layers.BatchNormalization(name="d_bn2")(deconv(y, 2, "d2"))  # (B, 2, 64, 100)
    y = layers.BatchNormalization(name="d_bn3")(deconv(y, 2, "d3"))  # (B, 2, 128, 100)
    y = layers.BatchNormalization(name="d_bn4")(deconv(y, 1, "d4"))
    out = conv(y, 1, None, "x_hat")                                 # (B, 2, 128, 1)
    return keras.Model(inp, out, name="reference_aae")


def reference_layout(z: np.ndarray) -> np.ndarray:
    """``(N, 128, 2)`` normalized windows -> the reference's ``(N, 2, 128, 1)`` input."""
    return np.ascontiguousarray(np.transpose(z, (0, 2, 1))[..., None]).astype(np.float32)


def _converters() -> tuple[Any, Any, Any, str]:
    """export.convert when it exists (the shipped path), else plain TFLiteConverter/tf2onnx."""
    try:
        from export import convert as c

        return c.to_tflite_float, c.to_tflite_int8, c.to_onnx, "export.convert"
    except ImportError:
        return (*_local_converters(), "tf.lite.TFLiteConverter (export.convert missing)")


def _local_converters() -> tuple[Any, Any, Any]:
    """Plain TFLiteConverter (int8 I/O, TFLITE_BUILTINS_INT8) and tf2onnx, for any input rank."""
    import tensorflow as tf

    def to_float(model: Any) -> bytes:
        return bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())

    def to_int8(model: Any, representative: np.ndarray) -> bytes:
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([representative[i : i + 1]] for i in range(len(representative)))
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
        return bytes(conv.convert())

    def to_onnx(model: Any) -> bytes:
        import tf2onnx

        spec = (tf.TensorSpec((1, *model.input_shape[1:]), tf.float32, name="window"),)
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=17)
        return bytes(proto.SerializeToString())

    return to_float, to_int8, to_onnx


def _our_model(run: Path | None, windows: np.ndarray) -> tuple[Any, dict[str, Any], str]:
    """The trained Keras anonymizer and its normalization, else an untrained one of the configured size."""
    if run is not None and (run / "anonymizer.keras").is_file():
        from trainer.checkpoint import load_run

        r = load_run(run)
        return r.model, r.norm.to_dict(), f"trained run {run}"
    from edge_runtime.normalizer import Normalization
    from trainer.config import TrainConfig
    from trainer.model import build_anonymizer, build_decoder, build_encoder

    cfg = TrainConfig()
    shape = tuple(windows.shape[1:])
    enc = build_encoder(shape, cfg.filters, cfg.latent_channels)
    dec = build_decoder(tuple(enc.output_shape[1:]), shape[1], cfg.filters)
    return build_anonymizer(enc, dec), Normalization.fit(windows).to_dict(), "UNTRAINED trainer.model (no finished run found)"


def _keras_latency(model: Any, z: np.ndarray, reps: int, warmup: int) -> dict[str, Any]:
    """Per-window float Keras inference (``predict_on_batch`` of one window), TF on 1 thread."""
    times = []
    n = len(z)
    for i in range(warmup + reps):
        x = z[i % n : i % n + 1]
        t0 = time.perf_counter_ns()
        model.predict_on_batch(x)
        if i >= warmup:
            times.append(time.perf_counter_ns() - t0)
    us = np.asarray(times, np.float64) / 1e3
    return {"p50_us": float(np.percentile(us, 50)), "p99_us": float(np.percentile(us, 99)), "reps": reps,
            "how": "keras Model.predict_on_batch, 1 window, TF intra/inter-op threads = 1"}  # fmt: skip


def _write(path: Path, data: bytes) -> dict[str, Any]:
    path.write_bytes(data)
    return {"path": str(path), "size_bytes": len(data)}


def prepare(work: Path, bundle: Path | None, run: Path | None, reps: int, warmup: int) -> dict[str, Any]:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from edge_runtime.normalizer import Normalization

    windows = np.load(work / "windows.npy")
    to_float, to_int8, to_onnx, conv_name = _converters()
    out: dict[str, Any] = {"converter": conv_name, "tensorflow": tf.__version__, "variants": {}}
    v = out["variants"]

    model, norm_d, source = _our_model(run, windows)
    out["ours"] = {"source": source, "normalization": norm_d, "params": int(model.count_params())}
    z = Normalization.from_dict(norm_d).apply(windows)
    rep = z[np.linspace(0, len(z) - 1, min(len(z), 200)).astype(int)]
    files = {"int8": "anonymizer_int8.tflite", "float": "anonymizer_float.tflite", "onnx": "anonymizer.onnx"}
    for key, fname in files.items():
        name = {"int8": "ours-int8-tflite", "float": "ours-float-tflite", "onnx": "ours-float-onnx"}[key]
        fmt = "onnx" if key == "onnx" else "tflite"
        if bundle is not None and (bundle / fname).is_file():
            v[name] = {"path": str(bundle / fname), "size_bytes": (bundle / fname).stat().st_size, "source": f"bundle {bundle}"}
        else:
            try:
                data = to_int8(model, rep) if key == "int8" else to_float(model) if key == "float" else to_onnx(model)
                v[name] = {**_write(work / fname, data), "source": f"converted here ({conv_name})"}
            except Exception as exc:  # conversion failure is a result to report, not a crash
                v[name] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        v[name].update(format=fmt, dtype="int8" if key == "int8" else "float32", model="ours", layout="ours")
    v["ours-float-keras"] = {"format": "keras", "dtype": "float32", "model": "ours", "layout": "ours",
                             "source": source, **_keras_latency(model, z, reps, warmup)}  # fmt: skip

    ref = build_reference_aae()
    to_float, to_int8, _ = _local_converters()  # export.convert takes (N, W, C) windows only
    out["reference"] = {"params": int(ref.count_params()), "source": "benchmarks.models.build_reference_aae (random init)"}
    zr = reference_layout(z)
    for key, name in (("float", "paper-float-tflite"), ("int8", "paper-int8-tflite")):
        try:
            data = to_float(ref) if key == "float" else to_int8(ref, zr[: len(rep)])
            v[name] = _write(work / f"reference_{key}.tflite", data)
        except Exception as exc:
            v[name] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}", "trace": traceback.format_exc(limit=2)[-400:]}
        v[name].update(format="tflite", dtype="int8" if key == "int8" else "float32", model="paper", layout="reference",
                       source="paper-size reference, random init")  # fmt: skip
    v["paper-float-keras"] = {"format": "keras", "dtype": "float32", "model": "paper", "layout": "reference",
                              "source": "paper-size reference, random init", **_keras_latency(ref, zr, reps, warmup)}  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.models", description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--bundle", type=Path)
    p.add_argument("--run", type=Path)
    p.add_argument("--reps", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    a = p.parse_args(argv)
    info = prepare(a.work, a.bundle, a.run, a.reps, a.warmup)
    (a.work / "models.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
