"""Bundle sets: every member verified, one window for all, each sink its view, each model run once
per window however many sinks read it; the real CLI with three receivers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.bundleset import ModelSet, load_set
from edge_runtime.cli import DEFAULT_BUNDLE
from edge_runtime.config import from_dict
from edge_runtime.errors import ManifestError
from edge_runtime.interpreter import Anonymizer
from edge_runtime.manifest import Manifest, load
from edge_runtime.pipeline import Pipeline
from edge_runtime.signing import trusted_keys
from edge_runtime.sinks import open_sink
from edge_runtime.sources.replay import ReplaySource

from .conftest import resign, sample_frames, walk_counts, wire

ROOT = Path(__file__).resolve().parents[2]


def _loader(folder: Path) -> tuple[Manifest, Anonymizer]:
    m = load(folder, keys=trusted_keys(system_dir=None))
    return m, Anonymizer(m)


@pytest.fixture()
def bundle_set(bundle: Path, tmp_path: Path) -> Path:
    root = tmp_path / "models"
    root.mkdir()
    shutil.copytree(bundle, root / "tiny")
    shutil.copytree(DEFAULT_BUNDLE, root / "shipped")
    (root / "default").write_text("shipped\n")
    return root


class Counting:
    """An anonymizer that counts its calls (each model must run once per window)."""

    def __init__(self, inner: Anonymizer) -> None:
        self.inner, self.calls = inner, 0

    def run(self, w: np.ndarray) -> np.ndarray:
        self.calls += 1
        return self.inner.run(w)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_a_set_loads_every_member_and_names_its_default(bundle_set: Path) -> None:
    models = load_set(bundle_set, _loader)
    assert sorted(models.members) == ["shipped", "tiny"] and models.default == "shipped"
    assert models.view_of("") == "shipped" and models.view_of("tiny") == "tiny"
    with pytest.raises(ManifestError, match="no view 'nope' in the bundle set; it has shipped, tiny"):
        models.view_of("nope")


def test_a_single_bundle_is_a_set_of_one(bundle: Path) -> None:
    models = load_set(bundle, _loader)
    assert list(models.members) == ["default"] and models.view_of("") == "default"


@pytest.mark.parametrize("case", ["no default", "unknown default", "window differs", "tampered member"])
def test_refused_sets_name_what_is_wrong(bundle_set: Path, case: str) -> None:
    if case == "no default":
        (bundle_set / "default").unlink()
        match = "has 2 anonymizers .* and no 'default' file"
    elif case == "unknown default":
        (bundle_set / "default").write_text("other")
        match = "'default' names 'other', the set has shipped, tiny"
    elif case == "window differs":
        path = bundle_set / "tiny" / "manifest.json"
        m = json.loads(path.read_text())
        m["window"]["rate_hz"] = 100.0
        path.write_text(json.dumps(m))
        resign(bundle_set / "tiny")
        match = "bundle tiny has rate_hz 100.0, the stream runs 50.0"
    else:
        path = bundle_set / "tiny" / "manifest.json"
        path.write_text(path.read_text().replace('"passed": true', '"passed": false', 1))
        match = "bundle set member tiny: .*manifest.sig does not match"
    with pytest.raises(ManifestError, match=match):
        load_set(bundle_set, _loader)


def test_each_model_runs_once_per_window_for_all_the_sinks_of_its_view(bundle_set: Path) -> None:
    loaded = load_set(bundle_set, _loader)
    counting = {k: (m, Counting(a)) for k, (m, a) in loaded.members.items()}
    models = ModelSet(counting, loaded.default)  # type: ignore[arg-type]
    sinks = [open_sink("memory://"), open_sink("memory://?view=tiny"), open_sink("memory://?view=tiny")]
    assert [s.view for s in sinks] == ["", "tiny", "tiny"]
    cfg = from_dict({"runtime": {"status_interval_s": 0}})
    trace = wire(sample_frames(walk_counts(50 * 60)))
    m, a = models.primary
    Pipeline(ReplaySource(data=trace, speed=0), m, a, sinks, cfg, models=models).run()  # type: ignore[arg-type]
    n = len(sinks[0].windows)  # type: ignore[attr-defined]
    assert n > 10 and all(len(s.windows) == n for s in sinks)  # type: ignore[attr-defined]
    assert counting["tiny"][1].calls == n and counting["shipped"][1].calls == n  # not 2n for two tiny sinks
    a_default, a_tiny, b_tiny = (s.windows for s in sinks)  # type: ignore[attr-defined]
    assert {w.view for w in a_default} == {"shipped"} and {w.view for w in a_tiny} == {"tiny"}
    assert {w.model_version for w in a_tiny} == {loaded.members["tiny"][0].model_version}
    assert all(x is y for x, y in zip(a_tiny, b_tiny, strict=True))  # one record for both sinks of a view
    assert not np.allclose(a_default[5].data, a_tiny[5].data)  # two models, two releases of the same window


def test_cli_three_receivers_each_get_their_view(bundle_set: Path, tmp_path: Path) -> None:
    trace = tmp_path / "t.imu"
    trace.write_bytes(wire(sample_frames(walk_counts(50 * 30))))
    outs = [tmp_path / f"{n}.jsonl" for n in ("app", "research", "fall")]
    cmd = [sys.executable, "-m", "edge_runtime.cli", "--replay", str(trace), "--speed", "0", "--bundle", str(bundle_set),
           "--status-interval", "0", "--sink", f"file://{outs[0]}", "--sink", f"file://{outs[1]}?view=tiny",
           "--sink", f"file://{outs[2]}?fsync=0&view=shipped"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "(set of 2: shipped, tiny)" in r.stderr
    views = [{json.loads(line)["view"] for line in o.read_text().splitlines()} for o in outs]
    assert views == [{"shipped"}, {"tiny"}, {"shipped"}]
    bad = [*cmd[:-6], "--sink", "stdout://?view=strict"]
    r = subprocess.run(bad, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 3 and r.stderr.strip().splitlines()[-1] == (
        "edge-anonymize: error: no view 'strict' in the bundle set; it has shipped, tiny")
