"""Recordings: HAPT conversion to counts (real data), synthetic determinism, canonical frames."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from firmware_bridge.protocol import FrameDecoder, Hello, Samples
from firmware_bridge.recording import (
    ACC_SCALE_16G,
    GYRO_SCALE_2000DPS,
    G,
    frames,
    hapt_frames,
    load_hapt,
    synthetic,
    to_counts,
    write_imu,
)


def test_to_counts_rounds_and_clips() -> None:
    assert to_counts(G, ACC_SCALE_16G) == (2048, False)
    assert to_counts(17 * G, ACC_SCALE_16G) == (32767, True)
    assert to_counts(-17 * G, ACC_SCALE_16G) == (-32768, True)
    assert to_counts(math.radians(2000), GYRO_SCALE_2000DPS) == (32767, True)  # +full scale is one LSB over


def test_hapt_experiment_1(hapt_root: Path) -> None:
    rec = load_hapt(hapt_root, 1)
    raw = hapt_root / "RawData"
    acc_first = [float(x) for x in (raw / "acc_exp01_user01.txt").read_text().split("\n", 1)[0].split()]
    n_lines = len((raw / "acc_exp01_user01.txt").read_text().splitlines())
    assert len(rec) == n_lines and rec.rate_hz == 50.0
    assert rec.sample(0)[:3] == tuple(round(v * G / ACC_SCALE_16G) for v in acc_first)
    # back to SI within half an LSB
    assert abs(rec.sample(0)[0] * ACC_SCALE_16G - acc_first[0] * G) <= ACC_SCALE_16G / 2
    stream = list(hapt_frames(hapt_root, 1, samples_per_frame=32))
    assert isinstance(stream[0], Hello) and sum(f.n for f in stream if isinstance(f, Samples)) == len(rec)


def test_hapt_missing_experiment(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_hapt(tmp_path, 1)


def test_synthetic_is_deterministic_and_framed(tmp_path: Path) -> None:
    a, b = synthetic(12, seed=4), synthetic(12, seed=4)
    assert a.counts == b.counts and a.counts != synthetic(12, seed=5).counts and len(a) == 600
    stream = list(frames(a, samples_per_frame=7, hello_every_s=5.0))
    hellos = [f for f in stream if isinstance(f, Hello)]
    samples = [f for f in stream if isinstance(f, Samples)]
    assert [h.seq for h in hellos] == [0, 252, 504]  # first frame boundary at or after 250, 500
    assert samples[-1].n == 600 % 7 and samples[1].t_us - samples[0].t_us == 7 * 20_000
    path = tmp_path / "walk.imu"
    size = write_imu(path, stream)
    dec = FrameDecoder()
    assert size == path.stat().st_size and dec.feed(path.read_bytes()) == stream


def test_loop_runs_on_past_the_end_and_wraps() -> None:
    it = frames(synthetic(1), samples_per_frame=10, loop=True, start_seq=0xFFFFFFF0, start_us=0xFFFFFF00)
    got = [next(it) for _ in range(20)]
    samples = [f for f in got if isinstance(f, Samples)]
    assert len(samples) > 10 and samples[2].seq == (0xFFFFFFF0 + 20) & 0xFFFFFFFF
