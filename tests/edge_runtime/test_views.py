"""Views per receiver: label-only, delete, dynamic switch, lower rate; each model at most once per window."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.bundleset import ModelSet, load_set
from edge_runtime.cli import DEFAULT_BUNDLE, ESTIMATOR_BUNDLE, SAMPLE_TRACE
from edge_runtime.config import from_dict
from edge_runtime.errors import ManifestError, ModelError
from edge_runtime.estimator import Estimator
from edge_runtime.interpreter import Anonymizer
from edge_runtime.manifest import load
from edge_runtime.pipeline import Pipeline
from edge_runtime.signing import trusted_keys
from edge_runtime.sinks import open_sink
from edge_runtime.sinks.base import AnonymizedWindow
from edge_runtime.sources.replay import ReplaySource
from edge_runtime.views import Views, generalize, parse_view

from .conftest import sample_frames, walk_counts, wire
from .test_bundleset import Counting, bundle_set  # noqa: F401, F811 (a fixture)

ROOT = Path(__file__).resolve().parents[2]


class CountingEstimator(Counting):
    def estimate(self, w: np.ndarray) -> tuple[str, float]:
        self.calls += 1
        return self.inner.estimate(w)  # type: ignore[attr-defined, no-any-return]


def _loader(folder: Path):  # type: ignore[no-untyped-def]
    m = load(folder, keys=trusted_keys(system_dir=None))
    return m, (Estimator(m) if m.is_estimator else Anonymizer(m))


@pytest.fixture()
def view_set(bundle_set: Path) -> Path:  # noqa: F811
    """test_bundleset's set (``shipped`` default, ``tiny``) plus the bundled activity estimator."""
    shutil.copytree(ESTIMATOR_BUNDLE, bundle_set / "activity")
    return bundle_set


def test_the_shipped_estimator_is_a_signed_gated_int8_bundle_that_releases_nothing() -> None:
    m = load(ESTIMATOR_BUNDLE, keys=trusted_keys(system_dir=None))
    assert m.is_estimator and m.gate_passed and m.signed_by and m.model.dtype == "int8-float-io"  # int8 graph
    assert m.labels == ("walk", "stairs", "jog", "static", "transition", "jump")
    assert m.window == load(DEFAULT_BUNDLE).window  # one window for the whole set
    f1 = m.evaluation["held_out_macro_f1"]
    assert f1["int8_tflite"]["all"] >= 60 and f1["float_tflite"]["all"] - f1["int8_tflite"]["all"] <= 1
    with pytest.raises(ModelError, match="is an activity estimator, not an anonymizer"):
        Anonymizer(m)
    with pytest.raises(ModelError, match="is not an activity estimator"):
        Estimator(load(DEFAULT_BUNDLE))
    label, p = Estimator(m).estimate(np.tile(np.float32([9.81, 0.02]), (128, 1)))
    assert label == "static" and 1 / 6 < p <= 1.0  # a still device


def test_a_set_keeps_its_estimator_apart_from_its_models(view_set: Path) -> None:
    models = load_set(view_set, _loader)
    assert sorted(models.members) == ["shipped", "tiny"] and models.estimator is not None
    with pytest.raises(ManifestError, match="no view 'activity'"):
        models.view_of("activity")  # an estimator is never a view
    (view_set / "default").unlink()
    with pytest.raises(ManifestError, match="has 2 anonymizers"):
        load_set(view_set, _loader)
    shutil.rmtree(view_set / "tiny")
    assert load_set(view_set, _loader).default == "shipped"  # the one anonymizer is the default


@pytest.mark.parametrize(("spec", "match"), [
    ("shipped;delete=fly", "unknown activity fly; the estimator knows walk, stairs"),
    ("shipped;rate=7", "rate=7: must be the stream's 50 Hz divided by an integer"),
    ("shipped;switch=tiny", "switch=tiny must be MEMBER@ACTIVITY"),
    ("shipped;switch=nope@jog", "no view 'nope'"),
    ("shipped;color=red", "unknown view option 'color'"),
    ("label;rate=25", "a label view releases no samples"),
    ("shipped;delete", "must be key=value"),
])  # fmt: skip
def test_bad_views_are_refused_with_one_line(view_set: Path, spec: str, match: str) -> None:
    with pytest.raises(ManifestError, match=match):
        parse_view(spec, load_set(view_set, _loader))


def test_views_that_need_an_estimate_are_refused_in_a_set_without_one(bundle: Path) -> None:
    models = load_set(bundle, _loader)
    for spec in ("label", "default;delete=jog", "default;switch=default@jog"):
        with pytest.raises(ManifestError, match="needs an activity estimator"):
            parse_view(spec, models)
    assert parse_view("default;rate=12.5", models).rate_hz == 12.5


def test_every_view_gets_what_it_asked_for_and_each_model_runs_once(view_set: Path) -> None:
    loaded = load_set(view_set, _loader)
    est_m, est = loaded.estimator  # type: ignore[misc]
    counting = {k: (m, Counting(a)) for k, (m, a) in loaded.members.items()}
    models = ModelSet(counting, loaded.default, (est_m, CountingEstimator(est)))  # type: ignore[arg-type]
    specs = ["", "label", "shipped;delete=walk", "tiny;switch=shipped@walk", "shipped;rate=12.5", "label"]
    sinks = [open_sink(f"memory://?view={s}" if s else "memory://") for s in specs]
    trace = SAMPLE_TRACE.read_bytes()  # 90 s of a real HAPT recording: walking, stairs, turns
    m, a = models.primary
    pipe = Pipeline(ReplaySource(data=trace, speed=0), m, a, sinks, from_dict({"runtime": {"status_interval_s": 0}}),
                    models=models)  # type: ignore[arg-type]
    pipe.run()
    default, label, deleted, switched, slow, label2 = (s.windows for s in sinks)  # type: ignore[attr-defined]
    n = len(default)
    labels = [w.activity for w in label]
    assert len(label) == n and "walk" in labels and len(set(labels)) >= 2, labels
    assert all(w.data.size == 0 and w.channels == () and 0 < w.activity_p <= 1 for w in label)
    assert all(w.activity is None for w in default + switched + slow)  # the estimate goes only where asked
    assert [w.window_id for w in deleted] == [w.window_id for w, lab in zip(default, labels, strict=True) if lab != "walk"]
    for w, lab, d in zip(switched, labels, default, strict=True):
        assert w.view == ("shipped" if lab == "walk" else "tiny")
        if lab == "walk":
            assert np.array_equal(w.data, d.data)  # the same model, the same window: the same release
    assert {w.view for w in slow} == {"shipped@12.5Hz"}
    assert all(np.array_equal(w.data, generalize(d.data, 4)) and w.rate_hz == 12.5 for w, d in zip(slow, default, strict=True))
    assert [w is v for w, v in zip(label, label2, strict=True)] == [True] * n  # one record per view
    # per window: the estimator once, each model at most once, however many sinks and views use it
    assert models.estimator[1].calls == n  # type: ignore[index]
    assert counting["shipped"][1].calls == n
    assert counting["tiny"][1].calls == sum(lab != "walk" for lab in labels)  # only where the switch kept it
    views = pipe.metrics.snapshot()["views"]  # withheld windows are counted, never silent
    assert views["deleted"] == {"shipped;delete=walk": labels.count("walk")}
    assert views["model_runs"] == {"label": n, "shipped": n, "tiny": counting["tiny"][1].calls}


def test_cli_with_a_worked_three_receiver_config(view_set: Path, tmp_path: Path) -> None:
    trace = tmp_path / "t.imu"
    trace.write_bytes(wire(sample_frames(walk_counts(50 * 30))))
    outs = {n: tmp_path / f"{n}.jsonl" for n in ("fitness", "care", "research")}
    cfg = tmp_path / "gw.toml"
    cfg.write_text(f"""[model]\nbundle = "{view_set}"\n[runtime]\nstatus_interval_s = 0\n[sinks]\nurls = [
  "file://{outs['fitness']}?view=shipped;switch=tiny@jog",
  "file://{outs['care']}?view=label",
  "file://{outs['research']}?view=shipped;delete=static;rate=12.5",
]\n""")
    r = subprocess.run([sys.executable, "-m", "edge_runtime.cli", "--config", str(cfg), "--replay", str(trace),
                        "--speed", "0"], capture_output=True, text=True, timeout=120, cwd=ROOT)  # fmt: skip
    assert r.returncode == 0, r.stderr
    recs = {k: [json.loads(line) for line in p.read_text().splitlines()] for k, p in outs.items()}
    assert recs["fitness"] and {x["view"] for x in recs["fitness"]} <= {"shipped", "tiny"}
    assert all(x["data"] == [] and x["activity"] in ("walk", "stairs", "jog", "static", "transition", "jump") for x in recs["care"])
    assert all(len(x["data"]) == 32 and x["rate_hz"] == 12.5 for x in recs["research"])
    bad = subprocess.run([sys.executable, "-m", "edge_runtime.cli", "--replay", str(trace), "--speed", "0",
                          "--sink", "stdout://?view=label"], capture_output=True, text=True, timeout=120, cwd=ROOT)  # fmt: skip
    assert bad.returncode == 3 and "needs an activity estimator" in bad.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("factor", [2, 3, 4, 8, 16])
def test_a_generalized_window_is_the_block_means_with_a_partial_block_dropped(factor: int) -> None:
    x = np.random.default_rng(factor).normal(9.8, 3.0, (128, 2)).astype(np.float32)
    n = 128 // factor
    want = x[: n * factor].reshape(n, factor, 2).mean(axis=1, dtype=np.float64)
    got = generalize(x, factor)
    assert got.dtype == np.float32 and got.shape == (n, 2)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_records_carry_every_field_in_place_one_window_or_a_batch(view_set: Path) -> None:
    """Records are built positionally (``views._record``): each must be the named tuple its keywords
    give, in the live path and the gateway's batch path alike, and flags/rate must not shift."""
    models = load_set(view_set, _loader)
    est_version = models.estimator[0].model_version  # type: ignore[index]
    views = Views.for_specs(models, ["", "label", "shipped;rate=12.5"])
    rng = np.random.default_rng(3)
    x = rng.normal(9.8, 2.0, (4, 128, 2)).astype(np.float32)
    commons = [(7 + i, "s1", 64 * i, 1000 * i, 12.5 + i, 50.0, ("acc_mag", "gyro_mag"), ("m/s^2", "rad/s"),
                ("interpolated",) if i % 2 else ()) for i in range(4)]  # fmt: skip
    batched = views.batch(commons, x)
    for i, common in enumerate(commons):
        wid, stream, start, t_us, t_gw, rate, ch, units, flags = common
        by_view = {r.view: r for _, r in views.records(common, x[i])}
        assert by_view.keys() == {"shipped", "label", "shipped@12.5Hz"}
        for rec in by_view.values():
            assert len(rec) == len(AnonymizedWindow._fields)
            assert (rec.window_id, rec.stream, rec.start_sample, rec.t_device_us, rec.t_gateway, rec.flags) == (
                wid, stream, start, t_us, t_gw, flags)  # fmt: skip
        y = models.members["shipped"][1].run(x[i])
        want = {"shipped": AnonymizedWindow(wid, stream, start, t_us, t_gw, rate, ch, units, y, flags,
                                            models.members["shipped"][0].model_version, "shipped"),
                "shipped@12.5Hz": AnonymizedWindow(wid, stream, start, t_us, t_gw, 12.5, ch, units, generalize(y, 4),
                                                   flags, models.members["shipped"][0].model_version, "shipped@12.5Hz")}  # fmt: skip
        for view, w in want.items():
            for got in (by_view[view], batched["" if view == "shipped" else "shipped;rate=12.5"][i]):
                assert got is not None
                assert got._replace(data=None) == w._replace(data=None)
                np.testing.assert_array_equal(got.data, w.data)
        lab = by_view["label"]
        label, p = models.estimator[1].estimate(x[i])  # type: ignore[index]
        assert lab._replace(data=None) == AnonymizedWindow(wid, stream, start, t_us, t_gw, rate, (), (), None, flags,  # type: ignore[arg-type]
                                                           est_version, "label", label, round(p, 4))  # fmt: skip
        assert lab.data.size == 0
        got = batched["label"][i]
        assert got is not None and got._replace(data=None) == lab._replace(data=None)
