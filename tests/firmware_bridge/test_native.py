"""The C decoder (libprotocol.so via ctypes) and the Python decoder agree frame for frame and
counter for counter, on golden vectors, emulator streams with faults, and seeded random input."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.emulator import Emulator, Faults
from firmware_bridge.native import NativeDecoder
from firmware_bridge.protocol import FrameDecoder, Samples, encode_frame
from firmware_bridge.recording import synthetic


def both(lib: Path, data: bytes, cuts: list[int] = ()) -> tuple[list[Any], dict[str, int]]:  # type: ignore[assignment]
    py, c = FrameDecoder(), NativeDecoder(lib)
    points = [0, *sorted({x for x in cuts if x < len(data)}), len(data)]
    got_py: list[Any] = []
    got_c: list[Any] = []
    for a, b in zip(points, points[1:], strict=False):
        got_py += py.feed(data[a:b])
        got_c += c.feed(data[a:b])
        assert py.buffered == c.buffered <= py.max_encoded
    got_py += py.flush()
    got_c += c.flush()
    assert got_c == got_py
    assert c.stats == py.stats
    return got_py, py.stats


def test_golden_vectors_agree(native_lib: Path, golden: dict[str, Any]) -> None:
    for row in golden["valid"] + golden["invalid"]:
        both(native_lib, bytes.fromhex(row["wire"]))


def test_truncated_frames_are_recovered_alike(native_lib: Path) -> None:
    rng = random.Random(5)
    wires = [encode_frame(Samples.from_counts(i * 8, i, [[i, -i, 3, 4, 5, 6]] * rng.randint(1, 32))) for i in range(60)]
    data = b"".join(w[: rng.randint(0, len(w) - 2)] if i % 3 == 1 else w for i, w in enumerate(wires))
    got, stats = both(native_lib, data, [rng.randint(0, len(data)) for _ in range(12)])
    assert len(got) == 40 and stats["frames"] == 40  # every third frame cut short; the other 40 all come out


def test_faulted_emulator_stream_agrees(native_lib: Path) -> None:
    faults = Faults(seed=5, drop=0.05, corrupt=0.1, garbage=0.1, duplicate=0.05, reorder=0.05)
    wire = Emulator(synthetic(60), faults, samples_per_frame=8).wire_bytes()
    frames, stats = both(native_lib, wire, random.Random(1).sample(range(len(wire)), 50))
    assert stats["frames"] > 300 and sum(v for k, v in stats.items() if k != "frames") > 20


@given(st.binary(max_size=2000), st.lists(st.integers(0, 2000), max_size=5))
def test_fuzz_random_bytes_agree(native_lib: Path, data: bytes, cuts: list[int]) -> None:
    both(native_lib, data, cuts)


@given(
    st.lists(
        st.tuples(st.integers(0, 0xFFFFFFFF), st.integers(1, 32), st.integers(-32768, 32767)), min_size=1, max_size=5
    ),
    st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 255)), max_size=8),
)
def test_fuzz_mutated_frames_agree(
    native_lib: Path, specs: list[tuple[int, int, int]], edits: list[tuple[int, int]]
) -> None:
    wire = bytearray(b"".join(encode_frame(Samples.from_counts(s, s ^ 0x5A5A, [[v] * 6] * n)) for s, n, v in specs))
    for pos, value in edits:
        wire[pos % len(wire)] = value
    both(native_lib, bytes(wire))
