"""The bundle users get (edge_runtime/bundled/hapt-magnitude) in the runtime's own interpreter, on real
HAPT data (the bundled trace of a subject the model never saw): what ships must load, verify and
anonymize, not only the tiny test bundles."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.cli import DEFAULT_BUNDLE, SAMPLE_TRACE
from edge_runtime.config import from_dict
from edge_runtime.interpreter import Anonymizer, load_interpreter
from edge_runtime.manifest import load
from edge_runtime.pipeline import Pipeline
from edge_runtime.signing import trusted_keys
from edge_runtime.sinks import MemorySink
from edge_runtime.sources.replay import ReplaySource

from .conftest import Recorder

HAPT_ACTIVITIES = ["walking", "upstairs", "downstairs", "sitting", "standing", "laying"]


@pytest.fixture(scope="module")
def shipped():  # type: ignore[no-untyped-def]
    # verifies the signature (packaged project key), every file's sha256, and refuses an ungated bundle
    return load(DEFAULT_BUNDLE, keys=trusted_keys(system_dir=None))


def test_shipped_manifest_is_gated_float_io_and_records_its_provenance(shipped) -> None:
    assert shipped.gate_passed and shipped.signed_by and not shipped.unverified
    assert shipped.model.dtype == "int8-float-io" and shipped.input.dtype == shipped.output.dtype == "float32"
    w = shipped.window
    assert (w.rate_hz, w.length, w.view) == (50.0, 128, "magnitude")
    training = shipped.training or {}
    assert training["dataset"]["activities"] == HAPT_ACTIVITIES
    assert set(training["splits"]["test_subjects"]).isdisjoint(training["splits"]["train_subjects"])
    for key in ("tensorflow", "ai_edge_litert", "tflite_ops", "tflite_min_runtime_version"):
        assert shipped.versions.get(key), key
    run_eval = shipped.evaluation["run"]["anonymizer"]
    assert run_eval["identity_raw_attacker"] < shipped.evaluation["run"]["raw"]["identity_raw_attacker"]


def test_shipped_model_on_real_data_matches_its_float_twin_through_the_pipeline(shipped) -> None:
    cfg = from_dict({"runtime": {"status_interval_s": 0}, "window": {"stride": 32}})
    rec, sink = Recorder(Anonymizer(shipped)), MemorySink()
    Pipeline(ReplaySource(SAMPLE_TRACE, speed=0), shipped, rec, [sink], cfg).run()
    released = np.stack([w.data for w in sink.windows])
    raw = np.stack(rec.inputs)
    assert len(released) == (4500 - 128) // 32 + 1 and np.isfinite(released).all()

    norm = shipped.normalization
    twin, _ = load_interpreter(shipped.root / "anonymizer_float.tflite")
    twin.allocate_tensors()
    i, o = twin.get_input_details()[0]["index"], twin.get_output_details()[0]["index"]
    expect = []
    for x in raw:
        twin.set_tensor(i, norm.apply(x)[None].astype(np.float32))
        twin.invoke()
        expect.append(norm.invert(twin.get_tensor(o)[0]))
    z_int8, z_float = norm.apply(released), norm.apply(np.stack(expect))
    rmse = float(np.sqrt(np.mean((z_int8 - z_float) ** 2)))
    assert rmse < 0.05 * float(np.std(z_float)), rmse  # int8 tracks float (measured RMSE ~0.3 % of its std)
    # and it transforms: the release is not the raw window (normalized MSE ~0.6 on the evaluator)
    assert float(np.mean((z_float - norm.apply(raw)) ** 2)) > 0.1
