"""``decode_recording`` gives what ``StreamDecoder.feed`` gives: same windows, gaps and counters."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from edge_runtime.config import StreamConfig
from edge_runtime.decoder import Block, StreamDecoder
from edge_runtime.decoder_bulk import decode_recording
from edge_runtime.windower import Windower, stream_windows
from firmware_bridge.protocol import U32, Hello, Samples, encode_frame
from firmware_bridge.recording import frames, synthetic

REC = synthetic(120)
BASE = list(frames(REC, samples_per_frame=5, hello_every_s=3.0, start_seq=U32 - 2000, start_us=U32 - 7_000_000))


def _faulty(rng: random.Random) -> list:
    fr = list(BASE[: rng.randint(50, len(BASE))])
    out, t_shift, t_scale, seq_shift, n_done = [], 0, 1.0, 0, 0
    for f in fr:
        r = rng.random()
        if isinstance(f, Samples):
            if r < 0.01:
                t_shift += rng.choice([-1, 1]) * rng.randint(30_000, 5_000_000)  # clock jump
            elif r < 0.015:
                t_scale = rng.choice([1.0, 1.03, 0.96, 1.01])  # the device clock drifts (or stops drifting)
            elif r < 0.02:
                seq_shift = rng.randrange(U32)  # device restart / far seq jump
            t = (round((f.t_us - BASE[1].t_us) % U32 * t_scale) + BASE[1].t_us + t_shift) % U32
            f = Samples((f.seq + seq_shift) % U32, t, f.payload)
            if r > 0.97:
                continue  # dropped frame: a seq gap
            if 0.95 < r <= 0.97:
                out.append(f)  # duplicate
            if 0.93 < r <= 0.95 and out:
                out.insert(len(out) - 1, f)  # reordered: late frame
                n_done += 1
                continue
        elif r < 0.1:
            f = dataclasses.replace(f, acc_scale=f.acc_scale * 2)  # a new HELLO: a new stream
        elif r < 0.15:
            f = dataclasses.replace(f, device_id=f.device_id + 1)
        out.append(f)
    return out


def _wire(fr: list, rng: random.Random) -> bytes:
    b = bytearray(b"".join(encode_frame(f) for f in fr))
    for _ in range(rng.randint(0, 5)):
        b[rng.randrange(len(b))] = rng.randrange(1, 256)
    return bytes(b)


def run(data: bytes, cfg: StreamConfig, bulk: bool, chunk: int):
    dec, win = StreamDecoder(cfg), Windower(128, 64, 2, max_interp=5, period_us=20000.0)
    windows, others = [], []
    for i in range(0, len(data), chunk):
        part = data[i : i + chunk]
        events = decode_recording(dec, part) if bulk else dec.feed(part)
        others += [e for e in events if not isinstance(e, Block)]
        windows += [(w.start, w.t_us, w.flags, w.data.copy()) for w in stream_windows(events, win, "magnitude", lambda _: None)]
    return windows, others, dec.stats(), win.counts


def check_same(data: bytes, cfg: StreamConfig, chunk: int | None = None):
    chunk = chunk or len(data) or 1
    got, want = run(data, cfg, True, chunk), run(data, cfg, False, 4096)
    assert len(got[0]) == len(want[0])
    for a, b in zip(got[0], want[0], strict=True):
        assert a[:3] == b[:3] and np.array_equal(a[3], b[3])
    assert got[1:] == want[1:]
    return got


def test_a_clean_capture_is_one_block_per_run_with_the_frames_times():
    data = b"".join(encode_frame(f) for f in BASE)
    windows, others, stats, _ = check_same(data, StreamConfig())
    assert len(windows) == (6000 - 128) // 64 + 1 and stats["blocks"] == 1200 and stats["gaps"] == 0
    events = decode_recording(StreamDecoder(), data)
    blocks = [e for e in events if isinstance(e, Block)]
    assert len(blocks) == 2 and len(blocks[1].frames_t_us) == 1199  # the stream's start, then one run:
    assert blocks[0].frames_t_us is None  # HELLO repeats do not split it
    assert blocks[0].start == U32 - 2000  # unwrapped past 2^32 like the scalar path


@pytest.mark.parametrize("seed", range(80))
def test_fault_injected_streams_match_the_scalar_decoder(seed):
    rng = random.Random(seed)
    cfg = StreamConfig(
        device_id=rng.choice(["", f"{BASE[0].device_id:x}"]),
        clock_tolerance_us=rng.choice([20000, 3000]),
        max_drift_ppm=rng.choice([20000.0, 5000.0]),
        drift_window_s=rng.choice([10.0, 2.0]),
        reorder_window=rng.choice([1024, 10]),
    )
    check_same(_wire(_faulty(rng), rng), cfg, chunk=rng.choice([None, 7919, 100_000]))


def test_a_drifting_device_is_flagged_and_recovers_as_frame_by_frame():
    fr, t0 = [], BASE[1].t_us
    for f in BASE:
        if isinstance(f, Samples):
            k = (f.seq - BASE[1].seq) % U32
            slow = 1.04 if 1500 <= k < 3500 else 1.0  # 4 % slow clock for 40 s
            f = Samples(f.seq, round(t0 + k * 20000 * slow + (0 if k < 3500 else 2000 * 20000 * 0.04)) % U32, f.payload)
        fr.append(f)
    windows, others, stats, _ = check_same(b"".join(encode_frame(f) for f in fr), StreamConfig())
    assert stats["drift"] >= 1 and any(w[2] for w in windows) and not all(w[2] for w in windows)


def test_hello_only_and_empty_captures():
    check_same(b"".join(encode_frame(f) for f in BASE if isinstance(f, Hello)), StreamConfig())
    check_same(b"", StreamConfig())
