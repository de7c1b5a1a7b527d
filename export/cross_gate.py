"""The release gate's cross-dataset check: on people of a dataset the model never trained on, the int8
release must Pareto-dominate the 5 Hz low-pass baseline, and int8 must keep what float measured there.

Why a second dataset: on its own training dataset the first shipped model passed every check, yet on
other people's recordings it removed no more identity than a low-pass filter, and its int8 ranges
(calibrated on the training data) saturated there (10 F1 points below its float twin). Checks, all in
percent points of ``trainer.crosseval.evaluate_release`` (every attacker retrained on the release)::

    cross_<t>_identity_vs_lowpass   identity(int8) - identity(5 Hz)        (max over CNN seeds, MiniRocket)  < 0
    cross_<t>_session_vs_lowpass    session identity(int8) - session(5 Hz) (1-minute vote)                  < 0
    cross_<t>_f1_vs_lowpass         F1(5 Hz) - F1(int8)                                                      <= 0
    cross_<t>_int8_f1_delta         F1(float) - F1(int8)                                                     <= 1.0
    cross_<t>_int8_identity_delta   identity(int8) - identity(float)                                         <= 2.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from edge_runtime.normalizer import Normalization

from .convert import Converted, run_tflite

__all__ = ["cross_checks", "float_int8_releases", "point_diff", "STRICT"]


def _session(row: dict[str, Any]) -> float | None:
    v = row.get("identity_session", row.get("session_max"))
    return None if v is None else float(v)

STRICT = -1e-9  # "lower than the baseline" as a <= limit: a tie does not pass


def float_int8_releases(model: Any, conv: Converted, norm: Normalization) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """The Keras (float) and int8 TFLite releases as transforms in view units (what the gate compares)."""

    def released(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
        return lambda x: norm.invert(fn(norm.apply(x)))

    return {"float": released(lambda z: np.asarray(model.predict(z, batch_size=512, verbose=0), np.float32)),
            "int8": released(lambda z: run_tflite(conv.int8_tflite, z, batch=512))}  # fmt: skip


def point_diff(a: float | None, c: float | None) -> float | None:
    """``a - c`` in points (2 decimals); None when either is missing (the check then fails)."""
    return None if a is None or c is None else round(float(a) - float(c), 2)


def cross_checks(model: Any, conv: Converted, norm: Normalization, name: str, target_ws: Any, *, cfg: Any,
                 limits: Any, check: Callable[[str, float | None, float | None, str], Any]) -> tuple[dict[str, Any], list[Any]]:
    """Evaluate float, int8 and the 5 Hz baseline on ``target_ws`` (one split for all) and return
    (evaluation block, checks). ``check`` is the gate's ``_check`` (one Check type for the whole gate)."""
    from trainer.crosseval import (
        LOWPASS_BASELINE,
        baseline_transforms,
        evaluate_release,
        pareto_vs_baseline,
        summary_row,
    )
    from trainer.splits import make_splits

    variants = {**float_int8_releases(model, conv, norm), LOWPASS_BASELINE: baseline_transforms(target_ws)[LOWPASS_BASELINE]}
    splits = make_splits(target_ws, seed=0)
    rows = {k: summary_row(evaluate_release(t, target_ws, cfg=cfg, splits=splits)) for k, t in variants.items()}
    q, f, b = rows["int8"], rows["float"], rows[LOWPASS_BASELINE]
    pareto, reason = pareto_vs_baseline(q, b)

    diff = point_diff
    t = f"cross_{name}"
    checks = [
        check(f"{t}_identity_vs_lowpass", diff(q["identity_max"], b["identity_max"]), STRICT, "points"),
        check(f"{t}_session_vs_lowpass", diff(_session(q), _session(b)), STRICT, "points"),
        check(f"{t}_f1_vs_lowpass", diff(b["activity_f1"], q["activity_f1"]), 0.0, "points"),
        check(f"{t}_int8_f1_delta", diff(f["activity_f1"], q["activity_f1"]), limits.activity_retrained_f1_points, "points"),
        check(f"{t}_int8_identity_delta", diff(q["identity_max"], f["identity_max"]), limits.identity_points, "points"),
    ]
    block = {"dataset": name, "n_windows": int(len(target_ws)), "n_subjects": int(len(target_ws.subjects)),
             "rows": rows, "pareto_vs_lowpass": pareto, "reason": reason, "eval_config": cfg.to_dict()}
    return block, checks
