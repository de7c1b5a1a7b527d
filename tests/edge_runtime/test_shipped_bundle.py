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
    # the release gate's cross-dataset check ran on a dataset the model never trained on, and passed
    cross = shipped.evaluation["gate"]["cross_dataset"]
    assert cross["dataset"] not in training["dataset"].get("names", [training["dataset"]["name"]])
    assert cross["pareto_vs_lowpass"] is True, cross["reason"]
    checks = {k: v for k, v in shipped.gate["checks"].items() if k.startswith("cross_")}
    assert len(checks) == 5 and all(v["passed"] for v in checks.values()), checks


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
    # int8 tracks float: measured RMSE 6.5 % of its std for the motion-gated filter (its gate and offset run
    # in int8; the release gate measured what that does to the evaluators: F1 -0.2, identity +0.5 points)
    assert rmse < 0.1 * float(np.std(z_float)), rmse
    # and it transforms: the release is not the raw window
    assert float(np.mean((z_float - norm.apply(raw)) ** 2)) > 0.05


def test_shipped_release_is_low_passed_and_centred_where_the_wearer_moves(shipped) -> None:
    """What the release filter promises (its parameters are the manifest's), on the real trace through the
    runtime: a moving window's |acc| mean is g (the wearer's offset is gone), a still one keeps it (the
    posture cue), and the gait's waveform above the cutoff is gone."""
    from edge_runtime.contract import G

    conf = shipped.training["config"]
    cutoff, tau = float(conf["release_cutoff_hz"]), float(conf["release_keep_static_mad"])
    assert conf["learned"] is False and conf["release_center"] is True and 0 < cutoff < 5 and tau > 0
    cfg = from_dict({"runtime": {"status_interval_s": 0}, "window": {"stride": 16}})
    rec, sink = Recorder(Anonymizer(shipped)), MemorySink()
    Pipeline(ReplaySource(SAMPLE_TRACE, speed=0), shipped, rec, [sink], cfg).run()
    released, raw = np.stack([w.data for w in sink.windows]), np.stack(rec.inputs)
    acc = shipped.window.channels.index("acc_mag")
    mad = np.abs(raw[:, :, acc] - raw[:, :, acc].mean(axis=1, keepdims=True)).mean(axis=1)
    moving = mad > 2 * tau
    assert moving.sum() > 20, moving.sum()  # the bundled trace is a walk
    assert np.abs(raw[moving, :, acc].mean(axis=1) - G).max() > 0.1  # the input does carry an offset
    np.testing.assert_allclose(released[moving, :, acc].mean(axis=1), G, atol=0.05)
    # a still window (a posture: |acc| 0.1-0.3 above or below g, sensor noise) keeps its offset
    rng = np.random.default_rng(0)
    model = Anonymizer(shipped)
    for level in (G - 0.2, G + 0.1, G + 0.3):
        still = np.stack([level + 0.02 * rng.standard_normal(128), 0.02 + 0.005 * rng.random(128)], axis=1)
        out = model.run(still.astype(np.float32))
        assert abs(float(out[:, acc].mean()) - level) < 0.05, (level, float(out[:, acc].mean()))
    hann = np.hanning(released.shape[1])[None, :, None]
    power = lambda x: np.abs(np.fft.rfft((x - x.mean(axis=1, keepdims=True)) * hann, axis=1)) ** 2  # noqa: E731
    f = np.fft.rfftfreq(released.shape[1], 1.0 / shipped.window.rate_hz)
    high = f > cutoff + 1.5
    rel, inp = power(released[moving]), power(raw[moving])
    assert rel[:, high].sum() < 0.05 * inp[:, high].sum()  # > 95 % of the band above the cutoff removed
