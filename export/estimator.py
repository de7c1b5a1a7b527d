"""Export the activity estimator as a signed int8 bundle, with its own gate.

The gate measures the bundle the runtime will run: macro-F1 on people held out of training, per
dataset, for the Keras model, the float TFLite and the int8 TFLite (the runtime's interpreter);
it passes when int8 is within ``max_int8_drop`` points of float on every dataset and reaches
``min_f1`` over all. The manifest is the anonymizer's schema with ``labels``; the bundle is
written like an anonymizer's (temp folder, fsync, one atomic swap; a failed gate lands beside it).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from edge_runtime.manifest import Artifact, Manifest

from .bundle import _write, land, reload, staged, tensor_infos
from .convert import converter_versions, run_tflite, tflite_info, to_tflite_float, to_tflite_int8
from .install import plan, rejected_path

__all__ = ["export_estimator", "INT8_NAME", "FLOAT_NAME"]

INT8_NAME = "estimator_int8.tflite"
FLOAT_NAME = "estimator_float.tflite"


def _calibration(trained: Any, n: int = 600) -> np.ndarray:
    """Normalized training windows of every class and dataset (int8 ranges must hold on all of them)."""
    from trainer.estimator import EstimatorConfig, _augment

    train = np.flatnonzero(~trained.test)
    rng = np.random.default_rng(1)
    pick = np.sort(rng.choice(train, min(n, len(train)), replace=False))
    x = trained.ws.x[pick]
    shifted = _augment(x[: n // 3], trained.ws.spec, trained.norm, EstimatorConfig(), rng)  # other devices' offsets
    return np.asarray(trained.norm.apply(np.concatenate([x, shifted])), np.float32)


def export_estimator(trained: Any, out: str | os.PathLike[str], *, signing_key: Any = None, min_f1: float = 60.0,
                     max_int8_drop: float = 1.0, io: str = "float", log: Any = print) -> Manifest:  # fmt: skip
    """Convert, gate and write ``trained`` (``trainer.estimator.Trained``) to ``out``; returns the manifest.

    ``io="float"`` (default): the int8 graph quantizes its float32 input and dequantizes its output
    itself, in C, which saves the runtime three numpy passes per window (``"int8"``: int8 tensors)."""
    from trainer.estimator import held_out_f1

    target = plan(out, signed=signing_key is not None).out
    q = to_tflite_int8(trained.model, _calibration(trained), io=io)
    f = to_tflite_float(trained.model)

    def tfl(blob: bytes) -> Any:
        return lambda x: run_tflite(blob, trained.norm.apply(x))

    scores = {
        "keras": held_out_f1(lambda x: np.asarray(trained.model.predict(trained.norm.apply(x), batch_size=512, verbose=0)), trained),
        "float_tflite": held_out_f1(tfl(f), trained),
        "int8_tflite": held_out_f1(tfl(q), trained),
    }
    drops = {k: round(scores["float_tflite"][k] - v, 2) for k, v in scores["int8_tflite"].items()}
    passed = scores["int8_tflite"]["all"] >= min_f1 and all(d <= max_int8_drop for d in drops.values())
    gate = {"passed": passed, "checks": {"int8_macro_f1_min": min_f1, "int8_drop_max": max_int8_drop,
                                         "int8_drop": drops}}  # fmt: skip
    log(f"estimator gate {'passed' if passed else 'FAILED'}: held-out macro-F1 int8 {scores['int8_tflite']}, "
        f"float {scores['float_tflite']}")  # fmt: skip
    dest = target if passed else rejected_path(target)
    with staged(dest) as tmp:
        sha = {name: _write(tmp / name, blob) for name, blob in ((INT8_NAME, q), (FLOAT_NAME, f))}
        inp, outp = tensor_infos(q)
        ws = trained.ws
        manifest = Manifest(
            model_version=f"activity-{sha[INT8_NAME][:12]}",
            model=Artifact(INT8_NAME, sha[INT8_NAME], "tflite", "int8" if io == "int8" else "int8-float-io"),
            input=inp, output=outp, window=ws.spec, normalization=trained.norm,
            versions={**converter_versions(), **tflite_info(q)},
            gate=gate,
            attribution="Trained on " + ", ".join(ws.datasets or (ws.dataset,)) + " (see docs/datasets.md for each licence)",
            training={"datasets": list(ws.datasets or (ws.dataset,)), "taxonomy": "coarse", "epochs": trained.epochs_run,
                      "windows": int(len(ws)), "held_out_windows": int(trained.test.sum())},
            evaluation={"held_out_macro_f1": scores, "sizes_bytes": {INT8_NAME: len(q), FLOAT_NAME: len(f)}},
            artifacts=(Artifact(FLOAT_NAME, sha[FLOAT_NAME], "tflite", "float32"),),
            root=tmp, labels=trained.labels,
        )  # fmt: skip
        land(tmp, dest, manifest, signing_key)
    return reload(dest, signing_key)
