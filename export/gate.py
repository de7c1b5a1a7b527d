"""The release gate: the int8 model must keep what the float anonymizer measured, on held-out data.

Checks (values in the evaluator's units: percent points; parity in normalized units). Every
privacy/utility check is one-sided: it fails on a *regression* of int8 against float, never on an
improvement (an int8 release that leaks less identity is not a reason to refuse it)::

    activity_macro_f1_delta_retrained  F1(float) - F1(int8), the evaluator's protocol: an activity
                                       CNN trained on each variant's release (train subjects),
                                       tested on unseen people                                    <= 1.0
    activity_macro_f1_delta            F1(float) - F1(int8) of ONE evaluator fitted on the float
                                       release and applied to both (cross-compatibility)        reported
    identity_raw_attacker_delta        acc(int8) - acc(float), one raw-trained attacker,
                                       identity-test trials (id_test)                             <= 2.0
    identity_retrained_attacker_delta  same, attacker retrained on each variant's release         <= 2.0
    float_tflite_vs_keras_max_abs      max |float TFLite - Keras| on held-out windows             <= 1e-3
    onnx_vs_keras_max_abs              max |ONNX Runtime - Keras| on held-out windows             <= 1e-3
    int8_vs_float_mse (+ relative)     mean (int8 - float)^2                                      reported

Why the retrained activity evaluator is gated: the gateway only ever releases int8 output, so an
app's classifier is trained and used on int8 releases — exactly what the retrained evaluator
measures. The fixed evaluator answers a different question (does a classifier trained on *float*
releases transfer to int8 releases?); it is recorded in the manifest and the model card because
a large value means float and int8 releases must not be mixed. Retraining has seed noise (two
seeds on one release differed by 1.3 points on a smoke model), so a failure near the limit
deserves a second look rather than a blind retry.
The float side is the Keras model itself (its TFLite twin is pinned to it by the parity check).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.normalizer import Normalization

from .calibration import parity_windows
from .convert import Converted, run_onnx, run_tflite

__all__ = [
    "Check",
    "GateLimits",
    "DEFAULT_LIMITS",
    "GateResult",
    "run_gate",
    "eval_data",
]


@dataclass(frozen=True)
class Check:
    """One measured value against its limit (``limit=None``: reported, never fails)."""

    name: str
    value: float | None
    limit: float | None
    unit: str
    passed: bool

    def describe(self) -> str:
        v = "n/a" if self.value is None else f"{self.value:.4g}"
        return f"{self.name} = {v} {self.unit} (limit {self.limit if self.limit is not None else 'none'})"


def _check(name: str, value: float | None, limit: float | None, unit: str) -> Check:
    ok = limit is None or (value is not None and np.isfinite(value) and value <= limit)
    return Check(name, None if value is None else float(value), limit, unit, bool(ok))


@dataclass(frozen=True)
class GateLimits:
    """Gate limits; the defaults are the release policy."""

    activity_f1_points: float | None = None  # fixed (float-trained) evaluator: cross-compatibility, reported
    activity_retrained_f1_points: float = 1.0
    identity_points: float = 2.0
    float_tflite_max_abs: float = 1e-3
    onnx_max_abs: float = 1e-3
    int8_mse: float | None = None


DEFAULT_LIMITS = GateLimits()


@dataclass(frozen=True)
class GateResult:
    """Verdict + every check; ``evaluation`` holds the float and int8 headline numbers."""

    passed: bool
    checks: tuple[Check, ...]
    evaluation: dict[str, Any] = field(default_factory=dict)
    skipped_evaluation: bool = False
    seconds: float = 0.0

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def summary(self) -> str:
        """One line: the verdict and the failed checks by name with their values."""
        if self.passed:
            return f"release gate passed ({len(self.checks)} checks)"
        if self.skipped_evaluation and not self.failed:
            return "release gate not run (--skip-gate): bundle marked ungated"
        return "release gate FAILED: " + "; ".join(c.describe() for c in self.failed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "skipped_evaluation": self.skipped_evaluation,
            "checks": {c.name: {k: v for k, v in asdict(c).items() if k != "name"} for c in self.checks},
            "seconds": round(self.seconds, 1),
        }


def eval_data(run: Any, data_root: str | Path) -> tuple[Any, Any]:
    """The evaluator's windows and splits for ``run``, recomputed exactly as ``aae evaluate`` does.

    Raises:
        CheckpointError: the recorded test subjects differ from the recomputed ones (would leak).
        DatasetError: the dataset is missing or corrupt.
    """
    from trainer.checkpoint import run_windows

    return run_windows(run, data_root)


def _headline(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "activity_macro_f1": r["activity"]["macro_f1"],
        "identity_raw_attacker": r["identity_raw_attacker"]["accuracy"],
        "identity_retrained_attacker": r["identity_retrained_attacker"]["accuracy"],
        "identity_chance": r["identity_raw_attacker"]["chance"],
        "mse_normalized": r["distortion"]["mse_normalized"],
    }


def _regression(worse: float | None, better: float | None) -> float | None:
    """How much ``worse`` exceeds ``better`` (negative: int8 is the better one)."""
    return None if worse is None or better is None else round(float(worse) - float(better), 4)


def run_gate(
    model: Any,
    conv: Converted,
    norm: Normalization,
    ws: Any,
    splits: Any,
    *,
    cfg: Any = None,
    limits: GateLimits = DEFAULT_LIMITS,
    skip_evaluation: bool = False,
    parity_n: int = 256,
    seed: int = 0,
    cross: tuple[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
) -> GateResult:
    """Measure int8 vs float on held-out windows and return the verdict.

    Args:
        model: the Keras anonymizer (normalized -> normalized), the float reference.
        conv: the converted artefacts (``convert_all``).
        norm: the run's ``Normalization``.
        ws, splits: evaluator windows and splits (``eval_data``).
        cfg: ``EvalConfig`` for the evaluators (default: the full one).
        limits: gate limits.
        skip_evaluation: parity only; the result never passes (the bundle is ungated).
        cross: ``(dataset name, WindowSet)`` of a dataset the model never trained on: the cross-dataset
            checks of ``export.cross_gate`` (Pareto vs the 5 Hz low-pass, int8 vs float there).
        meta: the run's record; a run that claims gender protection or a replacement policy gets the
            checks of ``export.protect_gate`` on its unseen people.
    """
    t0 = time.perf_counter()
    z = parity_windows(ws.x, splits.util_test, norm, n=parity_n, seed=seed + 1)
    ref = np.asarray(model.predict(z, batch_size=256, verbose=0), np.float32)
    y_float = run_tflite(conv.float_tflite, z)
    y_onnx = run_onnx(conv.onnx, z)
    y_int8 = run_tflite(conv.int8_tflite, z)
    mse = float(np.mean((y_int8 - ref) ** 2))
    checks = [
        _check(
            "float_tflite_vs_keras_max_abs",
            float(np.max(np.abs(y_float - ref))),
            limits.float_tflite_max_abs,
            "normalized units",
        ),
        _check("onnx_vs_keras_max_abs", float(np.max(np.abs(y_onnx - ref))), limits.onnx_max_abs, "normalized units"),
        _check("int8_vs_float_mse", mse, limits.int8_mse, "normalized units^2"),
        _check("int8_vs_float_relative_mse", mse / max(float(np.var(ref)), 1e-12), None, "of float output variance"),
    ]
    evaluation: dict[str, Any] = {"parity_windows": int(len(z))}
    if not skip_evaluation:
        ev, ev_checks = _evaluate_variants(model, conv, norm, ws, splits, cfg, limits)
        evaluation.update(ev)
        checks += ev_checks
        if cross is not None:
            from trainer.evaluate import EvalConfig

            from .cross_gate import cross_checks

            block, cross_list = cross_checks(model, conv, norm, cross[0], cross[1], cfg=cfg if cfg is not None else EvalConfig(),
                                             limits=limits, check=_check)
            evaluation["cross_dataset"] = block
            checks += cross_list
        if meta is not None:
            from .protect_gate import claims_protection, protect_checks

            if claims_protection(meta):
                from trainer.evaluate import EvalConfig

                block, extra = protect_checks(model, conv, norm, ws, splits, meta, limits=limits, check=_check,
                                              cfg=cfg if cfg is not None else EvalConfig())  # fmt: skip
                evaluation["protected"] = block
                checks += extra
    passed = all(c.passed for c in checks) and not skip_evaluation
    return GateResult(passed, tuple(checks), evaluation, skip_evaluation, time.perf_counter() - t0)


def _fixed_activity_f1(released: dict[str, np.ndarray], ws: Any, splits: Any, cfg: Any) -> dict[str, float]:
    """Macro-F1 of ONE activity evaluator, fitted on the float release, applied to each variant's
    held-out release: the quantization effect without the noise of retraining an evaluator."""
    from trainer.evaluators import confusion, f1_scores, fit_classifier

    tr, te = splits.util_train, splits.util_test
    clf = fit_classifier(released["float"][tr], ws.activity[tr], ws.bout[tr], cfg, seed_offset=1)
    classes = np.union1d(clf.classes, np.unique(ws.activity[te]))
    out = {}
    for name, rel in released.items():
        m = confusion(ws.activity[te], clf.predict(rel[te]), classes)
        out[name] = round(100.0 * float(f1_scores(m).mean()), 2)
    return out


def _evaluate_variants(
    model: Any, conv: Converted, norm: Normalization, ws: Any, splits: Any, cfg: Any, limits: GateLimits
) -> tuple[dict[str, Any], list[Check]]:
    """Float vs int8 through ``trainer.evaluate`` (one raw attacker for both) + a fixed activity evaluator."""
    from trainer.evaluate import EvalConfig, evaluate, train_raw_attacker

    cfg = cfg if cfg is not None else EvalConfig()
    fns: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "float": lambda zz: np.asarray(model.predict(zz, batch_size=512, verbose=0), np.float32),
        "int8": lambda zz: run_tflite(conv.int8_tflite, zz, batch=512),
    }
    released = {name: norm.invert(fn(norm.apply(ws.x))) for name, fn in fns.items()}
    attacker = train_raw_attacker(ws, splits, cfg)  # one raw-trained attacker for both variants
    results = {
        name: evaluate(_cached(released[name], ws.x, fns[name], norm), ws, splits, cfg=cfg, raw_attacker=attacker)
        for name in ("float", "int8")
    }
    hf, hq = _headline(results["float"]), _headline(results["int8"])
    fixed = _fixed_activity_f1(released, ws, splits, cfg)
    hf["activity_macro_f1_fixed_evaluator"], hq["activity_macro_f1_fixed_evaluator"] = fixed["float"], fixed["int8"]
    ev = {
        "float": hf,
        "int8": hq,
        "eval_config": cfg.to_dict(),
        "n_activity_test_windows": results["float"]["activity"]["n_test_windows"],
        "n_identity_test_windows": results["float"]["identity_raw_attacker"]["n_test_windows"],
    }
    f1_fixed, f1 = "activity_macro_f1_fixed_evaluator", "activity_macro_f1"
    id_raw, id_ret = "identity_raw_attacker", "identity_retrained_attacker"
    checks = [  # (F1 lost by int8) and (identity gained by int8): positive = int8 regressed
        _check("activity_macro_f1_delta", _regression(hf[f1_fixed], hq[f1_fixed]), limits.activity_f1_points, "points"),
        _check("activity_macro_f1_delta_retrained", _regression(hf[f1], hq[f1]), limits.activity_retrained_f1_points, "points"),
        _check("identity_raw_attacker_delta", _regression(hq[id_raw], hf[id_raw]), limits.identity_points, "points"),
        _check("identity_retrained_attacker_delta", _regression(hq[id_ret], hf[id_ret]), limits.identity_points, "points"),
    ]
    return ev, checks


def _cached(
    released: np.ndarray, x_all: np.ndarray, fn: Callable[[np.ndarray], np.ndarray], norm: Normalization
) -> Callable[[np.ndarray], np.ndarray]:
    """A transform that returns the already computed release for the full window set."""
    return lambda x: released if x is x_all else norm.invert(fn(norm.apply(x)))
