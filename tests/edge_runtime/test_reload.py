"""Hot swap: a new model takes over between two windows; nothing lost, nothing mislabelled, a bad
bundle leaves the running one in place. Under a 1,600x replay in-process, and through SIGHUP and a
watched folder in the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.cli import DEFAULT_BUNDLE
from edge_runtime.config import from_dict
from edge_runtime.errors import ManifestError
from edge_runtime.interpreter import Anonymizer
from edge_runtime.manifest import Manifest, load
from edge_runtime.pipeline import Pipeline
from edge_runtime.signing import trusted_keys
from edge_runtime.sinks import MemorySink
from edge_runtime.sources.replay import ReplaySource

from .conftest import resign, sample_frames, walk_counts, wire

ROOT = Path(__file__).resolve().parents[2]
HOUR = wire(sample_frames(walk_counts(50 * 3600)))  # one hour at 50 Hz: 2.25 s at 1,600x


@pytest.fixture(scope="module")
def shipped() -> tuple[Manifest, Anonymizer]:
    m = load(DEFAULT_BUNDLE, keys=trusted_keys(system_dir=None))
    return m, Anonymizer(m)


def _run(models: list[tuple[Manifest, Anonymizer]], *, swaps: int = 0) -> tuple[Pipeline, MemorySink]:
    cfg = from_dict({"runtime": {"status_interval_s": 0}, "window": {"stride": 8}})
    sink = MemorySink()
    pipe = Pipeline(ReplaySource(data=HOUR, speed=1600), *models[0], [sink], cfg)
    done = threading.Event()

    def swapper() -> None:
        for i in range(swaps):
            while pipe._pending is not None and not done.is_set():  # the previous one taken first
                time.sleep(0.0005)
            time.sleep(0.002)  # spread over the replay; under load a sleep overshoots: 100 must fit in 2.25 s
            pipe.swap(models[(i + 1) % len(models)])

    t = threading.Thread(target=swapper, daemon=True)
    t.start()
    pipe.run()
    done.set()
    t.join(10)
    return pipe, sink


def test_100_swaps_under_a_1600x_replay_lose_and_mislabel_no_window(manifest: Manifest, anonymizer: Anonymizer,
                                                                    shipped: tuple[Manifest, Anonymizer]) -> None:
    a, b = (manifest, anonymizer), shipped
    assert a[0].model_version != b[0].model_version
    ref = {m.model_version: [w.data for w in _run([(m, an)])[1].windows] for m, an in (a, b)}
    pipe, sink = _run([a, b], swaps=100)
    got = sink.windows
    versions = [a[0].model_version] + [w.model_version for w in got]  # a swap may come before the first window
    changes = sum(1 for x, y in zip(versions, versions[1:], strict=False) if x != y)
    assert pipe.swaps == 100 and changes == 100, (pipe.swaps, changes)
    assert [w.window_id for w in got] == list(range(len(ref[a[0].model_version])))  # none lost, none twice
    for w in got:  # each window is exactly what the model it names makes of it
        np.testing.assert_array_equal(w.data, ref[w.model_version][w.window_id])


def test_a_bundle_with_another_window_is_refused_and_the_running_one_stays(manifest: Manifest,
                                                                          anonymizer: Anonymizer) -> None:
    from dataclasses import replace

    cfg = from_dict({"runtime": {"status_interval_s": 0}})
    pipe = Pipeline(ReplaySource(data=HOUR[:2000], speed=0), manifest, anonymizer, [MemorySink()], cfg)
    other = replace(manifest, window=replace(manifest.window, rate_hz=100.0))
    with pytest.raises(ManifestError, match="rate_hz 100.0, the stream runs 50.0"):
        pipe.swap((other, anonymizer))
    assert pipe._pending is None and pipe.manifest is manifest


# -- the real CLI: SIGHUP, a watched folder, a tampered bundle --------------------------------------


def _replace(folder: Path, src: Path) -> None:
    """What an installer does: the new bundle beside, then renamed over the old one."""
    tmp = folder.with_name(folder.name + ".new")
    shutil.copytree(src, tmp)
    old = folder.with_name(folder.name + ".old")
    folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old)


def _gateway(tmp_path: Path, bundle: Path, *extra: str) -> tuple[subprocess.Popen[str], Path]:
    trace = tmp_path / "t.imu"
    trace.write_bytes(wire(sample_frames(walk_counts(50 * 240))))  # 4 minutes at 40x: 6 s
    out = tmp_path / "w.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "edge_runtime.cli", "--replay", str(trace), "--speed", "40", "--bundle", str(bundle),
           "--sink", f"file://{out}", "--status-interval", "0", "--stride", "16", *extra]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env), out


def _records(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def _wait_for(out: Path, version: str, timeout: float = 30.0) -> None:
    """Until the gateway has written a window of ``version`` (it is up and its handlers are installed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if any(r["model_version"] == version for r in _records(out)):
                return
        except json.JSONDecodeError:  # a line being written
            pass
        time.sleep(0.05)
    raise AssertionError(f"no window of {version} within {timeout} s")


def test_sighup_swaps_in_a_new_bundle_and_refuses_a_tampered_one(bundle: Path, tmp_path: Path) -> None:
    first = load(bundle).model_version
    shipped = load(DEFAULT_BUNDLE, keys=trusted_keys(system_dir=None)).model_version
    proc, out = _gateway(tmp_path, bundle)
    _wait_for(out, first)
    _replace(bundle, DEFAULT_BUNDLE)
    proc.send_signal(signal.SIGHUP)
    _wait_for(out, shipped)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["gate"]["checks"]["int8_vs_float_mse"] = {"value": 0.0}  # a forged number, signature not redone
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    recs = _records(out)
    versions = [r["model_version"] for r in recs]
    cut = versions.index(shipped)
    assert cut > 0 and set(versions[:cut]) == {first} and set(versions[cut:]) == {shipped}  # one switch, kept
    assert [r["window_id"] for r in recs] == list(range(len(recs)))
    assert f"windows={len(recs)} " in err
    assert err.count("reload refused, model " + shipped + " keeps running") == 1, err
    assert "Traceback" not in err


def test_a_watched_bundle_is_swapped_when_its_folder_is_replaced(bundle: Path, tmp_path: Path) -> None:
    first = load(bundle).model_version
    other = tmp_path / "other"
    shutil.copytree(bundle, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["model_version"] = "tiny-retrained"
    (other / "manifest.json").write_text(json.dumps(manifest))
    resign(other)
    proc, out = _gateway(tmp_path, bundle, "--watch-bundle", "0.2")
    _wait_for(out, first)
    _replace(bundle, other)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    versions = [r["model_version"] for r in _records(out)]
    assert versions[0] == first and versions[-1] == "tiny-retrained" and "reload: model tiny-retrained" in err
