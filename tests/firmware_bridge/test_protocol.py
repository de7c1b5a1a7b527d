"""Protocol codec and stream decoder: golden vectors, boundary sweeps, every split point, and
seeded property tests (round trip, arbitrary bytes, mutated frames, the buffer bound)."""

from __future__ import annotations

import random
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge import cobs, protocol, vectors
from firmware_bridge.protocol import (
    MAX_FRAME,
    REASONS,
    FrameDecoder,
    FrameError,
    Hello,
    Samples,
    decode_body,
    encode_body,
    encode_frame,
)


def decode_all(wire: bytes, chunks: list[int] | None = None) -> tuple[list[protocol.Frame], dict[str, int]]:
    dec = FrameDecoder()
    out: list[protocol.Frame] = []
    cuts = [0, *(chunks or []), len(wire)]
    for a, b in zip(cuts, cuts[1:], strict=False):
        out += dec.feed(wire[a:b])
        assert dec.buffered <= dec.max_encoded
    return out + dec.flush(), dec.stats


def frame_from_row(row: dict[str, Any]) -> protocol.Frame:
    if row["type"] == "hello":
        return Hello(row["seq"], row["t_us"], row["rate_mhz"] / 1000, row["acc_scale"], row["gyro_scale"],
                     row["device_id"], row["channels"], row["flags"])  # fmt: skip
    return Samples(row["seq"], row["t_us"], bytes.fromhex(row["body"])[12:-4])


def test_vectors_file_is_current() -> None:
    assert vectors.PATH.read_text() == vectors.dumps(vectors.generate()), "run python -m firmware_bridge.vectors"


def test_golden_valid(golden: dict[str, Any]) -> None:
    assert len(golden["valid"]) >= 15
    for row in golden["valid"]:
        frame = frame_from_row(row)
        wire, body = bytes.fromhex(row["wire"]), bytes.fromhex(row["body"])
        assert encode_body(frame).hex() == row["body"], row["name"]
        assert encode_frame(frame).hex() == row["wire"], row["name"]
        assert decode_body(body) == frame
        frames, stats = decode_all(wire)
        assert frames == [frame] and stats == {"frames": 1, **dict.fromkeys(REASONS, 0)}, row["name"]


def test_golden_invalid(golden: dict[str, Any]) -> None:
    seen = set()
    for row in golden["invalid"]:
        frames, stats = decode_all(bytes.fromhex(row["wire"]))
        expected = dict.fromkeys(REASONS, 0)
        if row["reason"] != "none":
            expected[row["reason"]] = row["drops"]
            seen.add(row["reason"])
        assert len(frames) == row["frames"], row["name"]
        assert {k: v for k, v in stats.items() if k != "frames"} == expected, row["name"]
    assert seen == set(REASONS)  # every drop reason has a vector


def test_golden_covers_the_boundaries(golden: dict[str, Any]) -> None:
    rows = golden["valid"]
    assert {r["n"] for r in rows if r["type"] == "samples"} >= {1, 32}
    assert any(r["seq"] == 0xFFFFFFFF for r in rows) and any(r["t_us"] == 0xFFFFFFFF for r in rows)
    lengths = {len(bytes.fromhex(r["wire"])) for r in rows}
    assert MAX_FRAME in lengths


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "length"),
        (bytes(15), "length"),
        (bytes(401), "oversize"),
        (struct.pack("<BBHII", 2, 2, 0, 0, 0) + bytes(4), "version"),
        (struct.pack("<BBHII", 1, 9, 0, 0, 0) + bytes(4), "type"),
        (struct.pack("<BBHII", 1, 2, 12, 0, 0) + bytes(4), "length"),
        (struct.pack("<BBHII", 1, 2, 12, 0, 0) + bytes(16), "crc"),
    ],
)
def test_decode_body_reasons(body: bytes, reason: str) -> None:
    with pytest.raises(FrameError) as err:
        decode_body(body)
    assert err.value.reason == reason


def test_frame_constructors_validate() -> None:
    with pytest.raises(ValueError):
        Samples(0, 0, b"")
    with pytest.raises(ValueError):
        Samples(0, 0, bytes(13))
    with pytest.raises(ValueError):
        Samples(0, 0, bytes(12 * 33))
    with pytest.raises(ValueError):
        Samples(1 << 32, 0, bytes(12))
    with pytest.raises(ValueError):
        Hello(0, 0, 50.0, 1.0, 1.0, -1)
    h = Hello(0, 0, 50.0004, 0.1, 0.2, 1)  # rounded to what the wire carries
    assert h.rate_hz == 50.0 and decode_body(encode_body(h)) == h


def test_samples_counts_and_numpy_layout() -> None:
    counts = [(i, -i, 2 * i, 32767, -32768, 0) for i in range(7)]
    s = Samples.from_counts(5, 6, counts)
    assert s.n == 7 and s.counts() == counts
    assert s.payload[:12] == struct.pack("<6h", *counts[0])


def test_sweep_n_and_seq_wrap() -> None:
    rng = random.Random(3)
    for n in range(1, 33):
        for seq in (0, 1, 0x7FFFFFFF, 0xFFFFFFFF - n, 0xFFFFFFFF):
            counts = [
                [rng.choice([0, 1, -1, 255, 256, rng.randint(-32768, 32767)]) for _ in range(6)] for _ in range(n)
            ]
            frame = Samples.from_counts(seq, (seq * 7) & 0xFFFFFFFF, counts)
            wire = encode_frame(frame)
            assert len(wire) <= MAX_FRAME and wire.index(0) == len(wire) - 1
            assert decode_all(wire)[0] == [frame]


def test_zero_runs_across_cobs_block_boundary() -> None:
    """Bodies whose only zero sits at every offset: exercises 253/254/255-byte COBS blocks."""
    for pos in range(12, 396):
        payload = bytearray(b"\x01" * 384)
        payload[pos - 12] = 0
        frame = Samples(0x01010101, 0x01010101, bytes(payload))
        assert decode_all(encode_frame(frame))[0] == [frame]


def test_every_split_point() -> None:
    frames = [
        Hello(0, 0, 50.0, 0.01, 0.001, 7),
        *(Samples.from_counts(i * 32, i, [[i, 0, -i, 1, 2, 3]] * 32) for i in range(3)),
    ]
    wire = b"\xde\xad\x00" + b"".join(encode_frame(f) for f in frames)  # leading noise: one counted drop
    for cut in range(len(wire) + 1):
        got, stats = decode_all(wire, [cut])
        assert got == frames and stats["frames"] == len(frames) and sum(stats.values()) == len(frames) + 1
    got, _ = decode_all(wire, list(range(1, len(wire))))  # byte by byte
    assert got == frames
    rng = random.Random(11)
    for _ in range(50):
        got, _ = decode_all(wire, sorted(rng.sample(range(1, len(wire)), rng.randint(1, 20))))
        assert got == frames


def test_oversize_run_is_bounded_and_resyncs() -> None:
    good = encode_frame(Samples.from_counts(1, 2, [[1] * 6]))
    dec = FrameDecoder()
    for _ in range(100):  # 100 KB of zero-free noise, fed in chunks
        assert dec.feed(b"\x55" * 1000) == []
        assert dec.buffered <= dec.max_encoded
    assert dec.feed(b"\x00" + good) == [Samples.from_counts(1, 2, [[1] * 6])]
    assert dec.stats["oversize"] == 1 and dec.stats["frames"] == 1


samples_st = st.builds(
    Samples.from_counts,
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.lists(st.lists(st.integers(-32768, 32767), min_size=6, max_size=6), min_size=1, max_size=32),
)
hello_st = st.builds(
    Hello,
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.integers(1, 400_000).map(lambda m: m / 1000),
    st.floats(0.0, 1.0, width=32),
    st.floats(0.0, 1.0, width=32),
    st.integers(0, 2**64 - 1),
    st.integers(0, 255),
)
frames_st = st.lists(st.one_of(samples_st, hello_st), min_size=1, max_size=8)


@given(frames_st, st.lists(st.integers(0, 4000), max_size=8))
def test_roundtrip_any_split(frames: list[protocol.Frame], cuts: list[int]) -> None:
    wire = b"".join(encode_frame(f) for f in frames)
    for f in frames:
        assert decode_body(cobs.decode(encode_frame(f)[:-1])) == f
    got, stats = decode_all(wire, sorted({c for c in cuts if c < len(wire)}))
    assert got == frames and sum(stats.values()) == len(frames)


@given(st.binary(max_size=3000), st.lists(st.integers(0, 3000), max_size=6))
def test_fuzz_arbitrary_bytes_give_frames_or_counted_drops(data: bytes, cuts: list[int]) -> None:
    got, stats = decode_all(data, sorted({c for c in cuts if c < len(data)}))
    assert stats["frames"] == len(got)
    candidates = len([c for c in data.split(b"\x00") if c])
    drops = sum(v for k, v in stats.items() if k != "frames")
    assert drops <= candidates and len(got) <= candidates  # per candidate: one drop, one (recovered) frame


@given(frames_st, st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255), st.sampled_from("fsdi")), max_size=6))
def test_fuzz_mutated_frames_lose_at_most_the_hit_frames(
    frames: list[protocol.Frame], edits: list[tuple[int, int, str]]
) -> None:
    wire = bytearray(b"".join(encode_frame(f) for f in frames))
    for pos, value, op in edits:
        pos %= len(wire) + 1
        if op == "f" and pos < len(wire):
            wire[pos] ^= value or 1
        elif op == "s" and pos < len(wire):
            wire[pos] = value
        elif op == "d" and pos < len(wire):
            del wire[pos]
        else:
            wire[pos:pos] = bytes([value])
    got, stats = decode_all(bytes(wire))
    assert all(f in frames for f in got)  # nothing invented (CRC-32)
    assert len(got) >= len(frames) - len(edits)  # an edit costs at most the frame it hits (RELIABILITY.md)


@given(frames_st, st.integers(0, 7), st.integers(1, 10_000))
def test_a_truncated_frame_costs_only_itself(frames: list[protocol.Frame], which: int, keep: int) -> None:
    """A frame cut short, its delimiter lost with its tail, runs into the next frame: that one survives."""
    wires = [encode_frame(f) for f in frames]
    which %= len(wires)
    keep %= len(wires[which]) - 1  # 0 .. len-2 bytes of it stay; the delimiter never does
    got, _ = decode_all(b"".join([*wires[:which], wires[which][:keep], *wires[which + 1 :]]))
    assert got == frames[:which] + frames[which + 1 :]
