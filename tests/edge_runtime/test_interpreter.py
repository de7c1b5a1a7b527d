from __future__ import annotations

import dataclasses
import sys
import time
import types

import numpy as np
import pytest

from edge_runtime.errors import ModelError
from edge_runtime.interpreter import Anonymizer, load_interpreter
from edge_runtime.manifest import load
from edge_runtime.normalizer import dequantize, quantize

from .conftest import SPEC


def raw_windows(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.array([9.8, 0.6], np.float32)
    return base + rng.standard_normal((n, *SPEC.shape)).astype(np.float32) * np.array([3.0, 0.5], np.float32)


def test_prepare_is_normalize_then_quantize_bit_for_bit(anonymizer, manifest):
    for w in raw_windows(20):
        want = quantize(manifest.normalization.apply(w), manifest.input.scale, manifest.input.zero_point)
        np.testing.assert_array_equal(anonymizer.prepare(w)[0], want)


def test_run_matches_a_plain_interpreter_call(anonymizer, manifest):
    it, _ = load_interpreter(manifest.model_path)
    ind, outd = it.get_input_details()[0], it.get_output_details()[0]
    for w in raw_windows(5, seed=1):
        q = quantize(manifest.normalization.apply(w), *ind["quantization"])
        it.set_tensor(ind["index"], q[None])
        it.invoke()
        y = dequantize(it.get_tensor(outd["index"])[0], *outd["quantization"])
        np.testing.assert_array_equal(anonymizer.run(w), manifest.normalization.invert(y))
    out = anonymizer.run(raw_windows(1)[0])
    assert out.shape == SPEC.shape and out.dtype == np.float32


def test_float_io_model_normalizes_into_its_input_and_matches_int8_io(anonymizer, manifest, float_io_manifest):
    """The shipped layout: float32 I/O around the int8 graph, (de)quantized inside the model with its
    own parameters. Same weights, so the release differs from the int8-I/O model by rounding only."""
    fio = Anonymizer(float_io_manifest)
    assert not fio.quant_in and not fio.quant_out and fio.in_scale == 0.0
    it, _ = load_interpreter(float_io_manifest.model_path)
    assert np.dtype(np.int8) in {np.dtype(d["dtype"]) for d in it.get_tensor_details()}
    lsb = manifest.output.scale * float(np.max(manifest.normalization.std))
    for w in raw_windows(10, seed=3):
        np.testing.assert_array_equal(fio.prepare(w)[0], manifest.normalization.apply(w))
        assert np.max(np.abs(fio.run(w) - anonymizer.run(w))) <= 2 * lsb + 1e-5


def test_run_does_not_keep_or_alias_its_input(anonymizer):
    w = raw_windows(1, seed=2)[0]
    a = anonymizer.run(w)
    b = anonymizer.run(w + 50)
    assert not np.shares_memory(a, b) and not np.array_equal(a, b)
    np.testing.assert_array_equal(anonymizer.run(w), a)


def test_quantization_mismatch_with_manifest_is_refused(manifest):
    bad = dataclasses.replace(manifest, input=dataclasses.replace(manifest.input, scale=manifest.input.scale * 1.5))
    with pytest.raises(ModelError, match="quantization") as e:
        Anonymizer(bad)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("field,value,match", [("output", ("float32",), "dtype"), ("input", ((64, 2),), "shape")])
def test_dtype_and_shape_mismatch_are_refused(manifest, field, value, match):
    info = getattr(manifest, field)
    changed = dataclasses.replace(info, **({"dtype": value[0]} if match == "dtype" else {"shape": value[0]}))
    with pytest.raises(ModelError, match=match):
        Anonymizer(dataclasses.replace(manifest, **{field: changed}))


def test_missing_and_garbage_model_files_are_one_line_errors(bundle, tmp_path):
    m = load(bundle)
    with pytest.raises(ModelError, match="does not exist"):
        Anonymizer(dataclasses.replace(m, root=tmp_path))
    (tmp_path / m.model.file).write_bytes(b"not a flatbuffer" * 10)
    with pytest.raises(ModelError) as e:
        Anonymizer(dataclasses.replace(m, root=tmp_path))
    assert "\n" not in str(e.value)


def test_per_window_overhead_is_small(anonymizer, capsys):
    """Prints the measured numbers; asserts only a generous bound (a loaded 2-core machine)."""
    ws = raw_windows(50, seed=3)
    for w in ws[:10]:
        anonymizer.run(w)
    bare, full = [], []
    for w in ws:
        anonymizer.prepare(w)
        t0 = time.perf_counter()
        anonymizer.invoke()
        bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        anonymizer.run(w)
        full.append(time.perf_counter() - t0)
    b, f = np.median(bare) * 1e6, np.median(full) * 1e6
    with capsys.disabled():
        print(f"\n[interpreter] invoke p50 {b:.1f} us, prepare+invoke+dequantize p50 {f:.1f} us")
    assert f < 20_000


def test_missing_interpreter_gives_the_pip_hint(monkeypatch, manifest):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "tflite_runtime", None)
    with pytest.raises(ModelError, match=r"pip install 'edge-anonymize\[edge\]'"):
        load_interpreter(manifest.model_path)


def test_legacy_tflite_runtime_is_the_fallback(monkeypatch, manifest):
    from ai_edge_litert.interpreter import Interpreter

    legacy = types.ModuleType("tflite_runtime")
    legacy.interpreter = types.SimpleNamespace(Interpreter=Interpreter)  # same API, older package name
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "tflite_runtime", legacy)
    a = Anonymizer(manifest)
    assert a.backend == "tflite_runtime" and a.run(raw_windows(1)[0]).shape == SPEC.shape


# -- versions: what the model needs vs what the manifest says and what this runtime provides ----------


def _op_version_pos(data: bytes, name: str) -> int:
    from edge_runtime.tflite_info import _Buf, op_name

    b = _Buf(data)
    for oc in b.tables(b.deref(0), 1):
        dep, code = b.field(oc, 0), b.field(oc, 3)
        builtin = max(b.u("b", dep) if dep else 0, b.u("i", code) if code else 0)
        if op_name(builtin) == name and b.field(oc, 2):
            return b.field(oc, 2)
    raise AssertionError(f"{name} has no explicit version field")


def _min_runtime_slice(data: bytes) -> slice:
    from edge_runtime.tflite_info import _Buf

    b = _Buf(data)
    model = b.deref(0)
    buffers = b.tables(model, 4)
    for md in b.tables(model, 6):
        if b.bytes_at(md, 0) == b"min_runtime_version":
            start, n = b.vector(b.field(buffers[b.u("I", b.field(md, 1))], 0))
            return slice(start, start + n)
    raise AssertionError("no min_runtime_version")


def _patched(bundle, patch):  # type: ignore[no-untyped-def]
    """The bundle with its model file patched and the sha256 in the manifest recomputed."""
    import hashlib
    import json

    model = bundle / "anonymizer_int8.tflite"
    data = bytearray(model.read_bytes())
    patch(data)
    model.write_bytes(bytes(data))
    d = json.loads((bundle / "manifest.json").read_text())
    d["model"]["sha256"] = hashlib.sha256(bytes(data)).hexdigest()
    (bundle / "manifest.json").write_text(json.dumps(d))
    return load(bundle)


def test_the_model_files_own_versions_are_read_without_tensorflow(manifest):
    from edge_runtime.tflite_info import op_name, read_model_info

    info = read_model_info(manifest.model_path.read_bytes())
    assert {op_name(c): v for c, v in info.ops.items()}["CONV_2D"] == 3 and info.min_runtime_version == "2.8.0"


@pytest.mark.parametrize("key,value,needles", [
    ("tflite_min_runtime_version", "99.0.0", ("99.0.0", "2.8.0")),
    ("tflite_ops", "CONV_2D:v99,EXPAND_DIMS:v1", ("CONV_2D v99", "v3")),
    ("tflite_ops", "CONCATENATION:v1,CONV_2D:v3,EXPAND_DIMS:v1,RESHAPE:v1,SHAPE:v1,STRIDED_SLICE:v1", ("TILE",)),
])  # fmt: skip
def test_a_manifest_that_misstates_the_models_versions_is_refused_naming_both(manifest, key, value, needles):
    """Before: ``tflite_min_runtime_version`` 99.0.0 and ``CONV_2D:v99`` were recorded and never checked."""
    lie = dataclasses.replace(manifest, versions={**manifest.versions, key: value})
    with pytest.raises(ModelError) as e:
        Anonymizer(lie)
    assert all(n in str(e.value) for n in needles) and "disagree" in str(e.value) and "\n" not in str(e.value)


def test_a_model_that_needs_a_newer_runtime_is_refused_naming_both_versions(bundle):
    def newer(data: bytearray) -> None:
        s = _min_runtime_slice(bytes(data))
        data[s] = b"99.0.0".ljust(s.stop - s.start, b"\0")

    m = _patched(bundle, newer)
    with pytest.raises(ModelError) as e:
        Anonymizer(m)
    msg = str(e.value)
    assert "needs TFLite runtime 99.0.0 or newer" in msg and "ai_edge_litert 2." in msg and "implements TFLite 2." in msg


def test_an_op_version_the_runtime_lacks_is_refused_naming_both_versions(bundle):
    import struct

    def conv_v99(data: bytearray) -> None:
        struct.pack_into("<i", data, _op_version_pos(bytes(data), "CONV_2D"), 99)

    m = _patched(bundle, conv_v99)
    with pytest.raises(ModelError) as e:
        Anonymizer(m)
    assert "model needs op CONV_2D v99, which ai_edge_litert 2." in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("junk", [b"", b"TFL3", b"\x00\x00\x00\x00TFL3" + b"\xff" * 40, b"\x10\x00\x00\x00TFL3" * 3])
def test_malformed_flatbuffers_are_model_errors(junk):
    from edge_runtime.tflite_info import read_model_info

    with pytest.raises(ModelError):
        read_model_info(junk)
