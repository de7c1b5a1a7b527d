"""``aae estimator``: trains on real people, holds others out, exports a gated int8 bundle the runtime loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainer.cli import main
from trainer.estimator import macro_f1


def test_macro_f1_counts_only_the_classes_present() -> None:
    classes = np.array([0, 1, 2])
    assert macro_f1(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]), classes) == 100.0
    assert macro_f1(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), classes) == pytest.approx(100 * (2 / 3 + 0.8) / 2)


def test_quick_estimator_on_real_hapt_people_is_a_bundle_the_runtime_runs(hapt_small_root: Path, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from edge_runtime.estimator import Estimator
    from edge_runtime.interpreter import Anonymizer
    from edge_runtime.manifest import load
    from edge_runtime.signing import generate_key, load_private_key, public_of

    key, _, _ = generate_key(tmp_path / "k")
    out = tmp_path / "activity"
    rc = main(["estimator", "--quick", "--datasets", "hapt", "--data", f"hapt={hapt_small_root}", "--out", str(out),
               "--signing-key", str(key)])  # fmt: skip
    text = capsys.readouterr().out
    m = load(out if rc == 0 else out.with_name("activity.rejected"), allow_ungated=True,
             keys=[public_of(load_private_key(key))])  # the signature verifies  # fmt: skip
    assert "held-out people" in text and m.is_estimator and m.signed_by
    assert set(m.labels) <= {"walk", "stairs", "static", "transition"} and len(m.labels) >= 3  # HAPT, coarse
    f1 = m.evaluation["held_out_macro_f1"]
    assert set(f1) == {"keras", "float_tflite", "int8_tflite"} and 0 < f1["int8_tflite"]["all"] <= 100
    assert m.gate["passed"] == (rc == 0)
    e = Estimator(m)  # the runtime's own interpreter runs the exported model
    p = e.probabilities(np.tile(np.float32([9.81, 0.05]), (128, 1)))
    assert p.shape == (len(m.labels),) and abs(float(p.sum()) - 1) < 0.05
    with pytest.raises(Exception, match="activity estimator, not an anonymizer"):
        Anonymizer(m)


def test_bad_arguments_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["estimator", "--datasets", "hapt,nope", "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == "aae: error: unknown dataset 'nope'; known: hapt, sisfall, motionsense"
    assert main(["estimator", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--signing-key", str(tmp_path / "x")]) == 2
    assert "aae: error:" in capsys.readouterr().err
