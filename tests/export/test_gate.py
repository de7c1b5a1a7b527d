"""Release gate on real held-out HAPT windows: measured values, limits and a verdict that can fail."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from export.convert import to_tflite_int8
from export.gate import GateLimits, run_gate
from trainer.evaluators import EvalConfig

# small evaluators: the gate's logic, not the evaluators' accuracy, is under test here
TINY = EvalConfig.quick(epochs=3, max_train=900, filters=8, warmup=1, patience=1)
EVAL_CHECKS = {
    "activity_macro_f1_delta",
    "activity_macro_f1_delta_retrained",
    "identity_raw_attacker_delta",
    "identity_retrained_attacker_delta",
}
PARITY_CHECKS = {
    "float_tflite_vs_keras_max_abs",
    "onnx_vs_keras_max_abs",
    "int8_vs_float_mse",
    "int8_vs_float_relative_mse",
}


@pytest.fixture(scope="module")
def gate_result(run, converted, eval_set):  # type: ignore[no-untyped-def]
    ws, splits = eval_set
    return run_gate(run.model, converted, run.norm, ws, splits, cfg=TINY)


def test_gate_measures_every_check_on_held_out_windows(gate_result) -> None:  # type: ignore[no-untyped-def]
    checks = {c.name: c for c in gate_result.checks}
    assert set(checks) == EVAL_CHECKS | PARITY_CHECKS
    assert all(c.value is not None and np.isfinite(c.value) for c in checks.values())
    assert checks["activity_macro_f1_delta_retrained"].limit == 1.0 and checks["identity_raw_attacker_delta"].limit == 2.0
    assert checks["identity_retrained_attacker_delta"].limit == 2.0
    assert checks["float_tflite_vs_keras_max_abs"].passed and checks["onnx_vs_keras_max_abs"].passed
    assert gate_result.passed == all(c.passed for c in gate_result.checks)
    ev = gate_result.evaluation
    for variant in ("float", "int8"):
        assert 0 <= ev[variant]["activity_macro_f1"] <= 100 and 0 <= ev[variant]["identity_raw_attacker"] <= 100
    # deltas are the one-sided regressions of the recorded numbers: F1 lost, identity gained by int8
    f, q = ev["float"], ev["int8"]
    fixed = "activity_macro_f1_fixed_evaluator"
    assert checks["activity_macro_f1_delta"].value == pytest.approx(f[fixed] - q[fixed])
    assert checks["activity_macro_f1_delta_retrained"].value == pytest.approx(f["activity_macro_f1"] - q["activity_macro_f1"])
    for name, key in (("identity_raw_attacker_delta", "identity_raw_attacker"),
                      ("identity_retrained_attacker_delta", "identity_retrained_attacker")):
        assert checks[name].value == pytest.approx(q[key] - f[key])
    assert checks["activity_macro_f1_delta"].limit is None  # reported: cross-compatibility
    assert ev["n_activity_test_windows"] > 0 and ev["n_identity_test_windows"] > 0
    d = gate_result.to_dict()
    assert d["passed"] == gate_result.passed and set(d["checks"]) == set(checks)


def test_a_zero_limit_fails_and_names_the_check(run, converted, eval_set) -> None:  # type: ignore[no-untyped-def]
    ws, splits = eval_set
    r = run_gate(run.model, converted, run.norm, ws, splits, limits=GateLimits(int8_mse=0.0), skip_evaluation=True)
    assert not r.passed and [c.name for c in r.failed] == ["int8_vs_float_mse"]
    assert r.summary().startswith("release gate FAILED: int8_vs_float_mse = ")


def test_a_broken_int8_model_fails_the_gate(run, converted, eval_set) -> None:  # type: ignore[no-untyped-def]
    """An int8 model of different weights (a stand-in for a bad calibration) is caught by parity."""
    import keras

    from tests.export.conftest import tiny_aae

    ws, splits = eval_set
    keras.utils.set_random_seed(7)
    other = tiny_aae()
    bad = replace(converted, int8_tflite=to_tflite_int8(other, run.norm.apply(ws.x[splits.ae_train[:64]])))
    r = run_gate(run.model, bad, run.norm, ws, splits, limits=GateLimits(int8_mse=0.05), skip_evaluation=True)
    assert "int8_vs_float_mse" in [c.name for c in r.failed]


def test_skipped_evaluation_never_passes(run, converted, eval_set) -> None:  # type: ignore[no-untyped-def]
    ws, splits = eval_set
    r = run_gate(run.model, converted, run.norm, ws, splits, skip_evaluation=True)
    assert not r.passed and not r.failed and r.skipped_evaluation
    assert {c.name for c in r.checks} == PARITY_CHECKS
    assert "not run" in r.summary()


def test_privacy_and_utility_checks_are_one_sided() -> None:
    """int8 leaking *less* identity or scoring higher F1 is no regression; the opposite is."""
    from export.gate import _check, _regression

    # identity: int8 5 points below float -> passes; 3 points above -> fails the 2-point limit
    assert _check("id", _regression(6.7, 11.7), 2.0, "points").passed
    assert not _check("id", _regression(14.7, 11.7), 2.0, "points").passed
    # activity: F1 lost by int8 (float - int8)
    assert _check("f1", _regression(84.4, 84.5), 1.0, "points").passed
    assert not _check("f1", _regression(84.4, 82.0), 1.0, "points").passed
