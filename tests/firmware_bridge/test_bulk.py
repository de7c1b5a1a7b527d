"""``decode_capture`` is ``FrameDecoder.feed`` on a whole capture: same frames, stats and buffer."""

from __future__ import annotations

import random

import numpy as np
import pytest

from firmware_bridge.bulk import SampleRun, decode_capture
from firmware_bridge.protocol import FrameDecoder, Hello, Samples, encode_frame
from firmware_bridge.recording import frames, synthetic


def expand(items):
    out = []
    for it in items:
        if isinstance(it, SampleRun):
            out += [Samples(int(s), int(t), c.astype("<i2").tobytes()) for s, t, c in zip(it.seq, it.t_us, it.counts, strict=True)]
        else:
            out.append(it)
    return out


def both(data: bytes, max_body: int = 400):
    bulk, ref = FrameDecoder(max_body), FrameDecoder(max_body)
    got = list(decode_capture(data, decoder=bulk))
    want = ref.feed(data)
    assert expand(got) == want
    assert bulk.stats == ref.stats
    assert bulk.buffered == ref.buffered and bytes(bulk._buf) == bytes(ref._buf)
    return got


CAPTURE = b"".join(encode_frame(f) for f in frames(synthetic(60), samples_per_frame=5, hello_every_s=2.0))


def test_clean_capture_comes_as_few_runs_and_the_hellos():
    got = both(CAPTURE)
    runs = [g for g in got if isinstance(g, SampleRun)]
    assert sum(len(r) for r in runs) == 600 and all(r.n == 5 for r in runs)
    assert sum(isinstance(g, Hello) for g in got) == len(runs)  # one run between two HELLOs
    assert runs[0].counts.dtype == np.int16 and runs[0].counts.shape[1:] == (5, 6)


def test_mixed_frame_sizes_split_runs():
    mixed = b"".join(encode_frame(f) for n in (5, 1, 32, 5) for f in frames(synthetic(2), samples_per_frame=n))
    got = both(mixed)
    assert [g.n for g in got if isinstance(g, SampleRun)] == [5, 1, 32, 4, 5]  # 100 samples: 3 x 32 + 4


def _mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 40)):
        if not b:
            break
        i, op = rng.randrange(len(b)), rng.random()
        if op < 0.35:
            b[i] = rng.randrange(256)  # a flipped byte: CRC or COBS, or a lost delimiter
        elif op < 0.6:
            del b[i : i + rng.randint(1, 120)]
        elif op < 0.8:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 600)))  # garbage, overlong runs
        else:
            b[i:i] = b"\xff" * rng.randint(250, 300)  # 0xFF codes and oversize candidates
    return bytes(b)


@pytest.mark.parametrize("seed", range(60))
def test_fault_injected_captures_decode_exactly_as_the_scalar_decoder(seed):
    rng = random.Random(seed)
    start = rng.randrange(0, len(CAPTURE) - 30000)
    both(_mutate(CAPTURE[start : start + rng.randint(0, 30000)], rng), max_body=rng.choice([400, 100, 16]))


def test_bytes_after_the_last_delimiter_stay_buffered_and_an_empty_capture_is_nothing():
    assert both(CAPTURE[:-7])
    assert both(b"") == [] and both(b"\x00\x00") == []
    dec = FrameDecoder()
    dec.feed(b"\x05abc")
    with pytest.raises(ValueError, match="frame boundary"):
        list(decode_capture(CAPTURE, decoder=dec))
