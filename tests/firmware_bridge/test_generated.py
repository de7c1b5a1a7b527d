"""Generated motion without TensorFlow: seeded sampling, schedules, file and schedule errors, and the
``imu-emulator --generated`` stream decoded by the runtime's own decoder. Models here are random
weights in the exported format (tests/trainer/test_generator.py checks the format against Keras)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.decoder import Block, StreamDecoder, StreamInfo
from firmware_bridge.cli import main
from firmware_bridge.generated import FORMAT, GeneratedError, Segment, load_generator, parse_schedule, to_recording

ACTS = ("walking", "upstairs", "sitting", "stairs")
DSETS = ("hapt", "sisfall")
PAIRS = [("walking", "hapt"), ("walking", "sisfall"), ("upstairs", "hapt"), ("sitting", "hapt"), ("stairs", "sisfall")]


def write_model(path: Path, *, units: tuple[int, ...] = (8,), k: int = 2, acts: tuple[str, ...] = ACTS, seed: int = 0,
                meta_extra: dict[str, object] | None = None) -> Path:
    """Random weights in the ``generator.npz`` format, small enough to sample from fast."""
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {"mean": np.array([0, 0, 9.8, 0, 0, 0], np.float32), "std": np.ones(6, np.float32)}
    width = 6 + len(acts) + len(DSETS)
    for i, u in enumerate(units):
        arrays[f"lstm{i}_kernel"] = rng.normal(0, 0.3, (width, 4 * u)).astype(np.float32)
        arrays[f"lstm{i}_recurrent"] = rng.normal(0, 0.3, (u, 4 * u)).astype(np.float32)
        arrays[f"lstm{i}_bias"] = np.zeros(4 * u, np.float32)
        width = u
    arrays["head_kernel"] = rng.normal(0, 0.3, (width, k * 13)).astype(np.float32)
    arrays["head_bias"] = np.r_[np.zeros(k * 7), np.full(k * 6, -1.0)].astype(np.float32)
    meta = {"format": FORMAT, "layers": len(units), "activities": list(acts), "datasets": list(DSETS),
            "default_dataset": {"walking": "hapt", "upstairs": "hapt", "sitting": "hapt", "stairs": "sisfall"},
            "pairs": [list(p) for p in PAIRS], "components": k, "rate_hz": 50.0, **(meta_extra or {})}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return write_model(tmp_path / "generator.npz")


def test_seeded_sampling_is_reproducible(model: Path) -> None:
    gen = load_generator(model)
    seg = parse_schedule("walk:2")
    a, b, c = (gen.schedule(seg, seed=s)[0] for s in (3, 3, 4))
    assert a.shape == (100, 6) and a.dtype == np.float32 and np.isfinite(a).all()
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_schedule_gives_activities_and_lengths(model: Path) -> None:
    gen = load_generator(model)
    segs = parse_schedule("walk:2, sit:1.5,stairs:0.5,walk@sisfall:1")
    assert segs[0] == Segment("walking", None, 2.0) and segs[3] == Segment("walking", "sisfall", 1.0)
    x, labels = gen.schedule(segs, seed=0)
    assert len(x) == len(labels) == 100 + 75 + 25 + 50
    assert labels[:100] == ["walking"] * 100 and labels[100:175] == ["sitting"] * 75 and labels[175:200] == ["stairs"] * 25
    c = gen.condition("stairs")  # default dataset of stairs: sisfall
    assert c[ACTS.index("stairs")] == 1 and c[len(ACTS) + 1] == 1 and c.sum() == 2


@pytest.mark.parametrize(("text", "message"), [
    ("walk", "is not ACTIVITY"),
    (":3", "is not ACTIVITY"),
    ("walk:x", "is not a number of seconds"),
    ("walk:0", "seconds must be > 0"),
    ("walk:30,,sit:2", "is not ACTIVITY"),
    ("walk:90000", "seconds must be > 0 and <="),
])  # fmt: skip
def test_bad_schedules(text: str, message: str) -> None:
    with pytest.raises(GeneratedError, match=message):
        parse_schedule(text)


@pytest.mark.parametrize(("activity", "dataset", "message"), [
    ("fly", None, "activity 'fly' is not in the model"),
    ("walk", "motionsense", "dataset 'motionsense' is not in the model"),
    ("sit", "sisfall", "never saw sitting in sisfall"),
])  # fmt: skip
def test_conditions_the_model_cannot_make(model: Path, activity: str, dataset: str | None, message: str) -> None:
    with pytest.raises(GeneratedError, match=message):
        load_generator(model).condition(activity, dataset)


def test_bad_model_files(tmp_path: Path) -> None:
    (tmp_path / "text.npz").write_text("hello")
    np.savez(tmp_path / "nometa.npz", x=np.zeros(3))
    write_model(tmp_path / "other.npz", meta_extra={"format": "something-else"})
    write_model(tmp_path / "shapes.npz", meta_extra={"activities": ["walking"]})
    cases = {"missing.npz": "does not exist", "text.npz": "is not a generator file", "nometa.npz": "no 'meta' entry",
             "other.npz": "is not a edge-anonymize/sensegen-v1 generator", "shapes.npz": "weight shapes do not match"}
    for name, message in cases.items():
        with pytest.raises(GeneratedError, match=message):
            load_generator(tmp_path / name)


def test_to_recording_scales_and_counts_clipping() -> None:
    x = np.array([[0, 0, 9.80665, 0.1, 0, 0], [1000, 0, 0, 0, 0, 0]], np.float32)
    rec = to_recording(x)
    assert len(rec) == 2 and rec.sample(0)[2] == 2048 and rec.sample(1)[0] == 32767 and rec.clipped == 1


def test_emulator_streams_a_schedule_the_runtime_decodes(model: Path, tmp_path: Path) -> None:
    out = tmp_path / "gen.imu"
    assert main(["--generated", str(model), "--schedule", "walk:4,sit:2", "--seed", "5", "--out", str(out)]) == 0
    dec = StreamDecoder()
    events = dec.feed(out.read_bytes())
    info = [e for e in events if isinstance(e, StreamInfo)]
    got = np.concatenate([e.samples for e in events if isinstance(e, Block)])
    assert info and info[0].rate_hz == 50.0 and got.shape == (300, 6)
    want, _ = load_generator(model).schedule(parse_schedule("walk:4,sit:2"), seed=5)
    assert np.allclose(got[:, :3], want[:, :3], atol=0.003) and np.allclose(got[:, 3:], want[:, 3:], atol=0.0006)
    assert dec.stats()["crc"] == 0


def test_a_lower_temperature_samples_less_noise(model: Path, tmp_path: Path) -> None:
    gen = load_generator(model)
    seg = parse_schedule("sit:20")
    spread = {t: float(np.diff(gen.schedule(seg, seed=1, temperature=t)[0], axis=0).std()) for t in (1.0, 0.3)}
    assert spread[0.3] < 0.6 * spread[1.0]
    out = tmp_path / "cold.imu"
    assert main(["--generated", str(model), "--schedule", "sit:20", "--seed", "1", "--temperature", "0.3",
                 "--out", str(out)]) == 0  # fmt: skip
    got = np.concatenate([e.samples for e in StreamDecoder().feed(out.read_bytes()) if isinstance(e, Block)])
    want, _ = gen.schedule(seg, seed=1, temperature=0.3)
    assert np.allclose(got[:, :3], want[:, :3], atol=0.003)


@pytest.mark.parametrize("argv", [["--generated", "missing.npz"], ["--generated", "MODEL", "--schedule", "walk:x"],
                                  ["--generated", "MODEL", "--schedule", "fly:3"],
                                  ["--generated", "MODEL", "--temperature", "0"]])  # fmt: skip
def test_emulator_errors_are_one_line_exit_2(model: Path, tmp_path: Path, argv: list[str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.replace("MODEL", str(model)).replace("missing.npz", str(tmp_path / "missing.npz")) for a in argv]
    assert main([*argv, "--out", str(tmp_path / "x.imu")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("imu-emulator: error:") and err.count("\n") == 1 and "Traceback" not in err


def test_sampling_is_faster_than_real_time(tmp_path: Path) -> None:
    """A model of the trained size (2 x 64 LSTM, 5 components): one stream >= 10x real time at 50 Hz."""
    gen = load_generator(write_model(tmp_path / "big.npz", units=(64, 64), k=5))
    t0 = time.perf_counter()
    x, _ = gen.schedule([Segment("walking", None, 20.0)])
    assert len(x) / (time.perf_counter() - t0) > 500


def test_other_sources_stay_stdlib_only() -> None:
    code = "import sys, firmware_bridge.cli; sys.exit('numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_the_shipped_generator_streams_every_activity_without_a_model_path(tmp_path: Path) -> None:
    """``imu-emulator --generated`` alone uses the trained model in the package (docs/generator.md)."""
    from firmware_bridge.generated import SHIPPED

    gen = load_generator(SHIPPED)
    meta = json.loads(bytes(np.load(SHIPPED)["meta"]).decode())
    assert {"walking", "sitting", "laying", "jogging", "stairs"} <= set(gen.activities) and set(gen.datasets) == set(DSETS)
    assert "SisFall" in meta["attribution"] and "HAPT" in meta["attribution"] and meta["test_subjects"]
    out = tmp_path / "shipped.imu"
    assert main(["--generated", "--schedule", "walk@hapt:6,sit:4,jog:4", "--seed", "2", "--out", str(out)]) == 0
    events = StreamDecoder().feed(out.read_bytes())
    got = np.concatenate([e.samples for e in events if isinstance(e, Block)])
    assert got.shape == (700, 6) and np.isfinite(got).all()
    acc = np.linalg.norm(got[:, :3], axis=1)
    walk, sit = acc[50:300], acc[320:500]
    assert 7.0 < sit.mean() < 12.5 and walk.std() > 2 * sit.std()  # gravity at rest; a walk moves more than sitting
