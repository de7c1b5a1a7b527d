"""A tiny real TFLite model and a bench work folder, shared by the harness tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.contract import WindowSpec
from edge_runtime.normalizer import Normalization


@pytest.fixture(scope="session")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """windows.npy + norm.json + tiny int8/float TFLite models converted with TensorFlow (once)."""
    import keras
    import tensorflow as tf

    d = tmp_path_factory.mktemp("bench-work")
    spec = WindowSpec()
    rng = np.random.default_rng(0)
    windows = (rng.normal(size=(32, *spec.shape)) * [2.0, 0.5] + [9.8, 0.3]).astype(np.float32)
    np.save(d / "windows.npy", windows)
    norm = Normalization.fit(windows)
    (d / "norm.json").write_text(json.dumps({"normalization": norm.to_dict(), "rate_hz": spec.rate_hz, "stride": spec.stride,
                                             "length": spec.length, "view": spec.view, "channels": list(spec.channels),
                                             "units": list(spec.units)}))  # fmt: skip
    keras.utils.set_random_seed(0)
    inp = keras.Input(spec.shape)
    model = keras.Model(inp, keras.layers.Conv1D(2, 3, padding="same")(keras.layers.Conv1D(4, 3, padding="same", activation="relu")(inp)))
    (d / "tiny_float.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    z = norm.apply(windows)
    conv.representative_dataset = lambda: ([z[i : i + 1]] for i in range(len(z)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    (d / "tiny_int8.tflite").write_bytes(conv.convert())
    return d
