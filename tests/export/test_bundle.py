"""Bundle: written atomically, loads with the runtime's manifest loader, refuses tampering."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from edge_runtime.errors import ManifestError
from edge_runtime.manifest import load
from export.bundle import CARD_NAME, FLOAT_NAME, INT8_NAME, ONNX_NAME, write_bundle
from export.convert import ExportError, quant_params
from export.gate import Check, GateResult
from trainer.data import HAPT_ATTRIBUTION

ROOT = Path(__file__).resolve().parents[2]
PASSED = GateResult(True, (Check("int8_vs_float_mse", 0.001, None, "normalized units^2", True),), {"parity_windows": 8})
FAILED = GateResult(False, (Check("int8_vs_float_mse", 0.5, 0.0, "normalized units^2", False),), {})


@pytest.fixture()
def bundle(tmp_path: Path, converted, run) -> Path:  # type: ignore[no-untyped-def]
    write_bundle(tmp_path / "bundle", converted, run, PASSED)
    return tmp_path / "bundle"


def test_bundle_loads_and_records_the_models_own_quantization(bundle: Path, converted, run) -> None:  # type: ignore[no-untyped-def]
    m = load(bundle)
    assert m.gate_passed and m.model.file == INT8_NAME and m.model_path.is_file()
    s_in, z_in, s_out, z_out = quant_params(m.model_path.read_bytes())
    assert (m.input.dtype, m.input.scale, m.input.zero_point) == ("int8", s_in, z_in)
    assert (m.output.dtype, m.output.scale, m.output.zero_point) == ("int8", s_out, z_out)
    assert m.input.shape == m.output.shape == (128, 2)
    assert {a.file for a in m.artifacts} == {FLOAT_NAME, ONNX_NAME}
    assert m.window == run.spec.with_stride(64) and m.normalization == run.norm
    assert m.attribution == HAPT_ATTRIBUTION
    assert m.training["splits"]["test_subjects"] == run.meta["splits"]["test_subjects"]
    assert m.evaluation["run"]["anonymizer"]["activity_macro_f1"] == 50.0
    assert m.evaluation["sizes_bytes"][INT8_NAME] == len(converted.int8_tflite)
    for key in ("tensorflow", "ai_edge_litert", "tf2onnx", "onnx_opset", "tflite_min_runtime_version"):
        assert m.versions[key] == converted.versions[key]
    card = (bundle / CARD_NAME).read_text()
    assert "UCI HAPT" in card and "Release gate: PASSED" in card and str(len(converted.int8_tflite)) in card


@pytest.mark.parametrize("name", [INT8_NAME, FLOAT_NAME, ONNX_NAME])
def test_a_tampered_byte_is_refused(bundle: Path, name: str) -> None:
    data = bytearray((bundle / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (bundle / name).write_bytes(bytes(data))
    with pytest.raises(ManifestError, match=f"{name} does not match its sha256"):
        load(bundle)


def test_unknown_schema_version_is_refused(bundle: Path) -> None:
    path = bundle / "manifest.json"
    d = json.loads(path.read_text())
    d["schema_version"] = 99
    path.write_text(json.dumps(d))
    with pytest.raises(ManifestError, match="schema version 99"):
        load(bundle)


def test_a_failed_gate_goes_to_rejected_and_an_explicit_one_is_refused_without_override(tmp_path: Path, converted, run) -> None:  # type: ignore[no-untyped-def]
    m = write_bundle(tmp_path / "b", converted, run, FAILED)
    assert m.root == tmp_path / "b.rejected" and not (tmp_path / "b").exists()  # never at --out unless asked
    write_bundle(tmp_path / "b", converted, run, FAILED, allow_ungated=True)  # asked: --out holds no bundle yet
    with pytest.raises(ManifestError, match="release gate"):
        load(tmp_path / "b")
    m = load(tmp_path / "b", allow_ungated=True)
    assert m.gate["passed"] is False and m.gate["checks"]["int8_vs_float_mse"]["limit"] == 0.0
    assert "NOT PASSED" in (tmp_path / "b" / CARD_NAME).read_text()


def test_rewrite_is_atomic_and_a_failed_write_keeps_the_old_bundle(bundle: Path, converted, run) -> None:  # type: ignore[no-untyped-def]
    before = (bundle / "manifest.json").read_bytes()
    broken = replace(converted, int8_tflite=b"\x00" * 64)  # tensor_infos fails after the files are written
    with pytest.raises(ExportError):
        write_bundle(bundle, broken, run, PASSED)
    assert (bundle / "manifest.json").read_bytes() == before
    load(bundle)
    assert [p.name for p in bundle.parent.iterdir()] == ["bundle"]  # no temp or backup folder left
    write_bundle(bundle, converted, run, PASSED)  # a passed gate replaces a bundle
    load(bundle)
    assert [p.name for p in bundle.parent.iterdir()] == ["bundle"]
    write_bundle(bundle, converted, run, FAILED, allow_ungated=True, force=True)  # so does an explicit --force
    assert load(bundle, allow_ungated=True).gate_passed is False
    assert [p.name for p in bundle.parent.iterdir()] == ["bundle"]


def test_bundle_is_readable_by_a_service_user_whatever_the_umask(tmp_path: Path, converted, run) -> None:  # type: ignore[no-untyped-def]
    """Before: mkdtemp's 0700 became the bundle's mode, and a copied bundle could not be read (exit 3)."""
    import os
    import stat

    from edge_runtime.signing import generate_key, load_private_key

    key, _, _ = generate_key(tmp_path / "k")
    old = os.umask(0o077)
    try:
        write_bundle(tmp_path / "b", converted, run, PASSED, signing_key=load_private_key(key))
    finally:
        os.umask(old)
    out = tmp_path / "b"
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted([INT8_NAME, FLOAT_NAME, ONNX_NAME, CARD_NAME, "manifest.json", "manifest.sig"])
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == dict.fromkeys(files, 0o644)


def test_a_folder_that_is_not_a_bundle_is_never_overwritten(tmp_path: Path, converted, run) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "thesis.tex").write_text("x")
    with pytest.raises(ExportError, match="not a model bundle"):
        write_bundle(tmp_path / "precious", converted, run, PASSED)
    assert (tmp_path / "precious" / "thesis.tex").read_text() == "x"


RUNTIME_SCRIPT = r"""
import sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter
from edge_runtime.manifest import load
from edge_runtime.normalizer import Normalization, dequantize, quantize

m = load(sys.argv[1])
it = Interpreter(model_path=str(m.model_path))
it.allocate_tensors()
i, o = it.get_input_details()[0], it.get_output_details()[0]
assert (float(i["quantization"][0]), int(i["quantization"][1])) == (m.input.scale, m.input.zero_point)
x = np.random.default_rng(0).normal(size=(1, *m.input.shape)).astype(np.float32)
it.set_tensor(i["index"], quantize(m.normalization.apply(x), m.input.scale, m.input.zero_point))
it.invoke()
y = m.normalization.invert(dequantize(it.get_tensor(o["index"]), m.output.scale, m.output.zero_point))
assert y.shape == x.shape and np.isfinite(y).all()
assert "tensorflow" not in sys.modules and "keras" not in sys.modules, "runtime imported tensorflow"
print("ok", y.dtype)
"""


def test_bundle_runs_in_litert_without_tensorflow(bundle: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", RUNTIME_SCRIPT, str(bundle)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok float32"


def test_card_says_a_fixed_filter_is_one_and_shows_the_cross_dataset_rows(tmp_path: Path, converted, run) -> None:  # type: ignore[no-untyped-def]
    row = {"identity_max": 9.5, "identity_max_attacker": "minirocket", "identity_session": 14.0, "gender_max": 58.0,
           "activity_f1": 84.1, "chance": 4.35}
    cross = {"dataset": "sisfall", "n_subjects": 23, "n_windows": 11000, "pareto_vs_lowpass": True, "reason": "why",
             "rows": {"float": row, "int8": {**row, "identity_max": 10.3}, "lp5": {**row, "identity_max": 14.0}}}
    gate = replace(PASSED, evaluation={**PASSED.evaluation, "cross_dataset": cross})
    meta = {**run.meta, "config": {**run.meta["config"], "learned": False, "release_cutoff_hz": 5.0, "release_center": True}}
    write_bundle(tmp_path / "b", converted, replace(run, meta=meta), gate)
    card = (tmp_path / "b" / CARD_NAME).read_text()
    assert "fixed release filter with no learned parts" in card and "5 Hz low-pass" in card
    assert "Anonymizing AutoEncoder" not in card
    assert "## Cross-dataset check: sisfall (23 people" in card
    assert "| int8 | 10.3 (minirocket) | 14.0 | 58.0 | 84.1 |" in card and "int8 dominates the 5 Hz low-pass" in card
