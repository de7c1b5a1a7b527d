"""The release gate's gender / replacement-policy checks: a bundle that claims to hide an activity and
does not is refused; one that hides it passes; int8 may not leak more than float did."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("keras")
pytest.importorskip("aeon")

from export.gate import DEFAULT_LIMITS, _check  # noqa: E402
from export.protect_gate import claims_protection, protect_checks  # noqa: E402
from tests.export.stand_ins import IdentityNorm, KnownModel  # noqa: E402
from tests.trainer.synthetic import planted  # noqa: E402
from trainer.evaluators import EvalConfig  # noqa: E402
from trainer.splits import make_splits  # noqa: E402

META = {"config": {"beta_gender": 1.0}, "policy": {"name": "t", "required": ["walk"], "replace": {"rest": "walk"}}}




def _hide_rest(z):  # type: ignore[no-untyped-def]
    """Channel 1 carries the activity (its amplitude): give every window the walking amplitude."""
    y = np.array(z, np.float32)
    t = np.arange(y.shape[1]) / 50.0
    y[:, :, 1] = 1.2 * np.sin(2 * np.pi * 1.5 * t)[None, :]
    return y


def _run(float_fn, int8_fn, monkeypatch):  # type: ignore[no-untyped-def]
    import export.cross_gate as cg

    monkeypatch.setattr(cg, "run_tflite", lambda blob, z, batch=512: int8_fn(z))
    ws = planted(n_subjects=12, trials=2, windows_per_bout=8, seed=4)
    checks = protect_checks(KnownModel(float_fn), SimpleNamespace(int8_tflite=b""), IdentityNorm(), ws, make_splits(ws, seed=0), META,
                            cfg=EvalConfig.quick(epochs=12), limits=DEFAULT_LIMITS, check=_check)  # fmt: skip
    return checks[0], {c.name: c for c in checks[1]}


def test_claims() -> None:
    assert claims_protection(META) and claims_protection({"config": {"beta_gender": 0.5}})
    assert not claims_protection({"config": {"beta_gender": 0.0}, "policy": None})


@pytest.mark.slow
def test_hiding_float_passes_a_leaky_int8_is_refused(monkeypatch) -> None:
    """float hides the sensitive activity, int8 releases it raw: the absolute promise and the int8 delta
    both fail, gender is checked because the run claims it (one evaluation pair: the suite is minutes)."""
    block, by = _run(_hide_rest, lambda z: np.asarray(z, np.float32), monkeypatch)
    assert set(by) == {"gender_int8_delta", "required_f1_int8_delta", "sensitive_int8_delta", "sensitive_vs_neutral"}
    rows = block["rows"]
    assert rows["float"]["sensitive_max"] < 60 < 90 < rows["int8"]["sensitive_max"]
    assert not by["sensitive_vs_neutral"].passed and not by["sensitive_int8_delta"].passed
    assert by["sensitive_int8_delta"].value == pytest.approx(rows["int8"]["sensitive_max"] - rows["float"]["sensitive_max"], abs=0.01)
    assert block["n_subjects"] == 4 and rows["int8"]["gender_max"] is not None
    assert by["gender_int8_delta"].value is not None
