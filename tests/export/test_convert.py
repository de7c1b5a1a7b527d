"""Conversion: int8 I/O with parameters read from the model, parity of every artefact with Keras."""

from __future__ import annotations

import numpy as np
import pytest

from export.convert import (
    ExportError,
    check_tflite,
    onnx_meta,
    quant_params,
    run_onnx,
    run_tflite,
    to_onnx,
    to_tflite_int8,
)


def _interp(blob: bytes):  # type: ignore[no-untyped-def]
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=blob)
    it.allocate_tensors()
    return it


def test_int8_model_has_int8_io_and_reports_its_quantization(converted) -> None:  # type: ignore[no-untyped-def]
    it = _interp(converted.int8_tflite)
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    assert i["dtype"] == np.int8 and o["dtype"] == np.int8
    assert tuple(i["shape"][1:]) == (128, 2) and tuple(o["shape"][1:]) == (128, 2)
    s_in, z_in, s_out, z_out = quant_params(converted.int8_tflite)
    assert (s_in, z_in) == (pytest.approx(i["quantization"][0]), i["quantization"][1])
    assert (s_out, z_out) == (pytest.approx(o["quantization"][0]), o["quantization"][1])
    assert s_in > 0 and s_out > 0 and -128 <= z_in <= 127 and -128 <= z_out <= 127
    # full-integer: no float32 tensor besides none at all (I/O included)
    internal = {np.dtype(d["dtype"]) for d in it.get_tensor_details()}
    assert np.dtype(np.float32) not in internal, internal


def test_float_io_variant_keeps_int8_internals(run, eval_set) -> None:  # type: ignore[no-untyped-def]
    from export.calibration import representative_windows

    ws, splits = eval_set
    blob = to_tflite_int8(run.model, representative_windows(ws.x, splits.ae_train, run.norm, n=64), io="float")
    it = _interp(blob)
    assert it.get_input_details()[0]["dtype"] == np.float32 and it.get_output_details()[0]["dtype"] == np.float32
    assert quant_params(blob) == (0.0, 0, 0.0, 0)
    assert np.dtype(np.int8) in {np.dtype(d["dtype"]) for d in it.get_tensor_details()}
    check_tflite(blob, (128, 2))


def test_float_tflite_matches_keras(run, converted, held_out) -> None:  # type: ignore[no-untyped-def]
    ref = run.model.predict(held_out, verbose=0)
    assert np.max(np.abs(run_tflite(converted.float_tflite, held_out) - ref)) < 1e-4


def test_onnx_runtime_matches_keras(run, converted, held_out) -> None:  # type: ignore[no-untyped-def]
    ref = run.model.predict(held_out, verbose=0)
    assert np.max(np.abs(run_onnx(converted.onnx, held_out) - ref)) < 1e-4
    meta = onnx_meta(converted.onnx)
    assert meta["onnx_opset"] == "17" and meta["onnx_converted_via"].startswith("tf2onnx.convert.from_")


@pytest.mark.parametrize("method", ["from_function", "from_tflite"])
def test_onnx_fallback_paths_match_keras(run, held_out, method: str) -> None:  # type: ignore[no-untyped-def]
    blob = to_onnx(run.model, 17, methods=(method,))
    assert onnx_meta(blob)["onnx_converted_via"] == f"tf2onnx.convert.{method}"
    ref = run.model.predict(held_out[:32], verbose=0)
    assert np.max(np.abs(run_onnx(blob, held_out[:32]) - ref)) < 1e-4


def test_int8_close_to_float_on_real_held_out_windows(run, converted, held_out) -> None:  # type: ignore[no-untyped-def]
    ref = run.model.predict(held_out, verbose=0)
    q = run_tflite(converted.int8_tflite, held_out)
    rel_mse = float(np.mean((q - ref) ** 2) / np.var(ref))
    assert rel_mse < 0.02, rel_mse
    # and the int8 model is not trivially equal to the float one
    assert float(np.mean((q - ref) ** 2)) > 0


def test_versions_are_recorded(converted) -> None:  # type: ignore[no-untyped-def]
    v = converted.versions
    for key in ("tensorflow", "keras", "ai_edge_litert", "tf2onnx", "onnx", "onnxruntime", "onnx_opset"):
        assert v[key] and v[key] != "not installed", key
    assert v["tflite_min_runtime_version"].count(".") == 2
    assert "CONV_2D:v" in v["tflite_ops"]


def test_bad_inputs_raise_export_error(run) -> None:  # type: ignore[no-untyped-def]
    good = np.zeros((4, 128, 2), np.float32)
    with pytest.raises(ExportError, match="io must be"):
        to_tflite_int8(run.model, good, io="int16")
    with pytest.raises(ExportError, match="finite"):
        to_tflite_int8(run.model, np.full((4, 128, 2), np.nan, np.float32))
    with pytest.raises(ExportError, match="ai_edge_litert cannot load"):
        check_tflite(b"not a flatbuffer" * 8, (128, 2))
    with pytest.raises(ExportError, match="unknown ONNX conversion method"):
        to_onnx(run.model, methods=("from_magic",))
