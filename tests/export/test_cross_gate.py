"""The release gate's cross-dataset check: refuses a model that does not beat the 5 Hz low-pass on a
dataset it never trained on, passes one that does, and never checks on the training dataset."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("keras")
pytest.importorskip("aeon")

from export.cross_gate import cross_checks  # noqa: E402
from export.gate import DEFAULT_LIMITS, _check  # noqa: E402
from tests.export.stand_ins import IdentityNorm, KnownModel  # noqa: E402
from tests.trainer.synthetic import planted  # noqa: E402
from trainer.crosseval import LOWPASS_BASELINE  # noqa: E402
from trainer.evaluators import EvalConfig  # noqa: E402


def _run(release, monkeypatch):  # type: ignore[no-untyped-def]
    import export.cross_gate as cg

    # int8 = float here: the int8 path is exercised by the export tests; this tests the verdict
    monkeypatch.setattr(cg, "run_tflite", lambda blob, z, batch=512: release(z))
    ws = planted(n_subjects=6, trials=2, windows_per_bout=8, identity_amp=1.5, noise=0.2, seed=3)
    conv = SimpleNamespace(int8_tflite=b"")
    return cross_checks(KnownModel(release), conv, IdentityNorm(), "synthetic", ws, cfg=EvalConfig.quick(), limits=DEFAULT_LIMITS,
                        check=_check)


def test_raw_release_does_not_beat_the_lowpass(monkeypatch) -> None:
    block, checks = _run(lambda z: np.asarray(z, np.float32), monkeypatch)
    by = {c.name: c for c in checks}
    assert not by["cross_synthetic_identity_vs_lowpass"].passed  # raw keeps the planted identity
    assert block["pareto_vs_lowpass"] is False
    assert set(block["rows"]) == {"float", "int8", LOWPASS_BASELINE}


def test_identity_free_release_that_keeps_activity_passes(monkeypatch) -> None:
    def strip_identity(z):  # type: ignore[no-untyped-def]
        y = np.array(z, np.float32)
        y[:, :, 0] = 0.0  # channel 0 carries the planted identity only; channel 1 the activity
        return y

    block, checks = _run(strip_identity, monkeypatch)
    by = {c.name: c for c in checks}
    assert by["cross_synthetic_identity_vs_lowpass"].passed, block["rows"]
    assert by["cross_synthetic_int8_f1_delta"].passed and by["cross_synthetic_int8_identity_delta"].passed


def test_export_refuses_a_cross_check_on_the_training_dataset(tmp_path) -> None:
    from export.cli import _cross_windows
    from trainer.errors import DatasetError

    run = SimpleNamespace(config={"dataset": "hapt", "datasets": ["hapt", "sisfall"]})
    with pytest.raises(DatasetError, match="never saw"):
        _cross_windows(run, "sisfall", tmp_path)
