from __future__ import annotations

import pytest

from edge_runtime.errors import SourceError
from edge_runtime.sources import open_source
from edge_runtime.sources.replay import ReplaySource

from ..conftest import sample_frames, walk_counts, wire


def drain(src: ReplaySource) -> bytes:
    out = b""
    with pytest.raises(EOFError):
        for _ in range(100_000):
            out += src.read(0.05)
    return out


def test_unpaced_replay_returns_every_byte_then_eof(tmp_path):
    data = wire(sample_frames(walk_counts(500))) + b"\x07garbage\x00"
    f = tmp_path / "x.imu"
    f.write_bytes(data)
    with open_source(f"replay://{f}?speed=0") as src:
        assert drain(src) == data


def test_paced_replay_follows_device_time_with_an_injected_clock():
    now = [0.0]
    data = wire(sample_frames(walk_counts(100)))  # 2 s of samples at 50 Hz
    src = ReplaySource(data=data, speed=2.0, clock=lambda: now[0])
    src.open()
    first = src.read(0.0)
    assert 0 < len(first) < len(data)  # the HELLO and the first frame (due at t=0.05 s) not yet
    now[0] = 0.5  # = 1 s of device time at 2x
    mid = src.read(0.0)
    now[0] = 1.1
    rest = src.read(0.0)
    assert first + mid + rest == data and len(mid) > len(rest) // 3
    with pytest.raises(EOFError):
        src.read(0.0)


def test_loop_and_errors(tmp_path):
    one = wire(sample_frames(walk_counts(5)))  # HELLO + one SAMPLES frame, under one read chunk
    src = ReplaySource(data=one, speed=0, loop=True)
    src.open()
    assert [src.read(0.1) for _ in range(3)] == [one] * 3
    with pytest.raises(SourceError, match="cannot read replay file"):
        ReplaySource(tmp_path / "missing.imu").open()
    with pytest.raises(SourceError, match="speed"):
        open_source(f"replay://{tmp_path}/x.imu?speed=fast")


@pytest.mark.parametrize("value,loop", [("1", True), ("true", True), ("yes", True), ("0", False), ("off", False)])
def test_loop_option_is_a_boolean(tmp_path, value, loop):
    assert open_source(f"replay://{tmp_path}/x.imu?loop={value}").loop is loop


def test_loop_option_that_is_not_a_boolean_is_refused(tmp_path):
    with pytest.raises(SourceError, match="loop must be 0/1, true/false or yes/no, got 'maybe'"):
        open_source(f"replay://{tmp_path}/x.imu?loop=maybe")


@pytest.mark.parametrize("content,needle", [
    (b"", "is empty"),
    (bytes(range(1, 256)) * 8, "holds no valid wire frame"),
    (b"\x00" * 64 + b"not a recording\n" * 20, "holds no valid wire frame"),
])  # fmt: skip
def test_a_file_that_is_no_recording_is_refused_at_open(tmp_path, content, needle):
    f = tmp_path / "x.imu"
    f.write_bytes(content)
    for speed in (0.0, 1.0):
        with pytest.raises(SourceError, match=needle) as e:
            ReplaySource(f, speed=speed).open()
        assert "\n" not in str(e.value)


def test_garbage_before_a_valid_frame_is_still_a_recording(tmp_path):
    f = tmp_path / "x.imu"
    f.write_bytes(bytes(range(1, 200)) * 10 + b"\x00" + wire(sample_frames(walk_counts(50))))
    with ReplaySource(f, speed=0) as src:
        assert drain(src) == f.read_bytes()
