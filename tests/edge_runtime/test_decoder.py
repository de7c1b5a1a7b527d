from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_runtime.config import StreamConfig
from edge_runtime.decoder import FLAG_DRIFT, Block, Gap, StreamDecoder, StreamInfo, check_stream
from edge_runtime.errors import StreamMismatchError
from firmware_bridge.protocol import Hello, Samples, decode_body, encode_body, encode_frame

from .conftest import HELLO, canonical, sample_frames, walk_counts, wire


def blocks(events):
    return [e for e in events if isinstance(e, Block)]


def gaps(events):
    return [e.reason for e in events if isinstance(e, Gap)]


def accounted(s: dict[str, int]) -> int:
    return s["hellos"] + s["blocks"] + s["duplicates"] + s["late"] + s["no_hello"] + s["suspect"] + s["pending"]


def test_clean_stream_gives_scaled_contiguous_blocks():
    counts = walk_counts(100)
    dec = StreamDecoder()
    ev = dec.feed(wire(sample_frames(counts)))
    assert isinstance(ev[0], StreamInfo) and ev[0].rate_hz == 50.0
    bs = blocks(ev)
    assert [b.start for b in bs] == list(range(0, 100, 5))
    np.testing.assert_array_equal(np.concatenate([b.samples for b in bs]), canonical(counts))
    assert bs[0].samples.dtype == np.float32 and gaps(ev) == []
    assert dec.stats()["frames"] == accounted(dec.stats()) == 21


def test_every_split_point_gives_the_same_events():
    data = wire(sample_frames(walk_counts(20)))
    ref = blocks(StreamDecoder().feed(data))
    for cut in range(1, len(data)):
        dec = StreamDecoder()
        got = blocks(dec.feed(data[:cut]) + dec.feed(data[cut:]))
        assert [b.start for b in got] == [b.start for b in ref]


def test_samples_before_hello_are_dropped_and_counted():
    dec = StreamDecoder()
    ev = dec.feed(wire(sample_frames(walk_counts(10), hello=None)))
    assert blocks(ev) == [] and dec.stats()["no_hello"] == 2


def test_gap_duplicate_and_late_frame():
    frames = sample_frames(walk_counts(40))  # HELLO + 8 frames of 5
    order = [frames[0], frames[1], frames[1], frames[3], frames[2], frames[4]]  # dup of 1, 2 arrives late
    dec = StreamDecoder()
    ev = dec.feed(wire(order))
    assert [b.start for b in blocks(ev)] == [0, 10, 15]
    assert [e.missing for e in ev if isinstance(e, Gap)] == [5]
    s = dec.stats()
    assert (s["duplicates"], s["late"], s["gaps"], s["missing_samples"]) == (1, 1, 1, 5)
    assert s["frames"] == accounted(s)


def test_seq_and_clock_wrap_at_2_32():
    seq0, t0 = 2**32 - 12, 2**32 - 100_000
    dec = StreamDecoder()
    ev = dec.feed(wire(sample_frames(walk_counts(30), seq0=seq0, t0=t0)))
    bs = blocks(ev)
    assert [b.start for b in bs] == [seq0 + i for i in range(0, 30, 5)]  # unwrapped, past 2^32
    assert [b.t_us for b in bs] == [t0 + i * 20000 for i in range(0, 30, 5)]
    assert gaps(ev) == [] and dec.stats()["clock_jumps"] == 0


def test_clock_jump_restarts_and_is_counted():
    frames = sample_frames(walk_counts(40))
    jumped = frames[:5] + [dataclasses.replace(f, t_us=f.t_us + 3_000_000) for f in frames[5:]]
    dec = StreamDecoder()
    ev = dec.feed(wire(jumped))
    assert gaps(ev) == ["clock"] and len(blocks(ev)) == 8
    assert dec.stats()["clock_jumps"] == 1


def test_rate_drift_is_detected_and_blocks_flagged():
    counts = walk_counts(1500)  # 30 s
    frames = [f if isinstance(f, Hello) else dataclasses.replace(f, t_us=round(f.seq * 20000 * 1.05))
              for f in sample_frames(counts)]  # device really runs 5 % slow but announces 50 Hz  # fmt: skip
    dec = StreamDecoder(StreamConfig(max_drift_ppm=20000, drift_window_s=5.0))
    ev = dec.feed(wire(frames))
    assert gaps(ev) == ["drift"]
    bs = blocks(ev)
    assert bs[-1].flags & FLAG_DRIFT and not bs[0].flags & FLAG_DRIFT
    assert dec.stats()["drift"] == 1


def test_small_crystal_error_is_not_drift():
    frames = [f if isinstance(f, Hello) else dataclasses.replace(f, t_us=round(f.seq * 20000 * 1.0001))
              for f in sample_frames(walk_counts(1500))]  # 100 ppm  # fmt: skip
    dec = StreamDecoder()
    assert gaps(dec.feed(wire(frames))) == [] and dec.stats()["drift"] == 0


def test_one_bogus_far_frame_does_not_derail_the_stream():
    frames = sample_frames(walk_counts(40))
    bogus = Samples(1_000_000, 5, b"\x01" * 12)
    dec = StreamDecoder()
    ev = dec.feed(wire(frames[:3] + [bogus] + frames[3:]))
    assert [b.start for b in blocks(ev)] == list(range(0, 40, 5)) and gaps(ev) == []
    s = dec.stats()
    assert s["suspect"] == 1 and s["frames"] == accounted(s)


def test_device_restart_resyncs_after_confirmation():
    frames = sample_frames(walk_counts(40), seq0=50_000, t0=10**9)
    restarted = sample_frames(walk_counts(20), seq0=0, t0=0, hello=None)
    dec = StreamDecoder()
    ev = dec.feed(wire(frames + restarted))
    assert gaps(ev) == ["resync"]
    assert [b.start for b in blocks(ev)][-4:] == [0, 5, 10, 15]
    assert dec.stats()["resyncs"] == 1


def test_long_dropout_is_a_seq_gap_after_confirmation():
    frames = sample_frames(walk_counts(5000))
    kept = frames[:3] + frames[400:]  # ~2000 samples lost, beyond the reorder window
    dec = StreamDecoder()
    ev = dec.feed(wire(kept))
    assert gaps(ev) == ["seq"]
    assert dec.stats()["missing_samples"] == 1995 - 10
    starts = [b.start for b in blocks(ev)]
    assert starts[:3] == [0, 5, 1995] and starts == sorted(starts)


def test_reset_marks_a_gap_and_forgets_hello():
    dec = StreamDecoder()
    dec.feed(wire(sample_frames(walk_counts(10))))
    assert dec.reset() == [Gap("reconnect")]
    assert dec.feed(encode_frame(Samples(10, 200000, b"\x00" * 12))) == []
    assert dec.stats()["no_hello"] == 1 and dec.stats()["reconnects"] == 1


def test_device_filter_ignores_other_devices():
    other = dataclasses.replace(HELLO, device_id=0x1234)
    dec = StreamDecoder(StreamConfig(device_id=f"{HELLO.device_id:x}"))
    assert blocks(dec.feed(wire(sample_frames(walk_counts(10), hello=other)))) == []
    assert dec.stats()["wrong_device"] == 1
    assert len(blocks(dec.feed(wire(sample_frames(walk_counts(10), seq0=10, t0=200000))))) == 2


def test_check_stream_refuses_mismatches(manifest):
    ok = StreamInfo(1, 50.0, 0.001, 0.001, 6)
    check_stream(ok, manifest, StreamConfig())
    for bad, field in ((dataclasses.replace(ok, rate_hz=100.0), "rate_hz"),
                       (dataclasses.replace(ok, channels=3), "channels"),
                       (dataclasses.replace(ok, acc_scale=0.0), "units")):  # fmt: skip
        with pytest.raises(StreamMismatchError) as e:
            check_stream(bad, manifest, StreamConfig())
        assert e.value.field == field and "\n" not in str(e.value)


@pytest.mark.parametrize("field,value,needle", [
    ("acc_scale", 1e30, "acc_scale 1e+30 m/s^2 per count"),  # the fuzzed HELLO that used to be forwarded
    ("acc_scale", 1e-9, "acc_scale 1e-09"),  # full scale 3e-5 m/s^2: counts would be all noise
    ("gyro_scale", 0.5, "gyro_scale 0.5 rad/s"),  # full scale 16,000 rad/s
    ("gyro_scale", float("inf"), "gyro_scale inf"),
    ("acc_scale", float("nan"), "acc_scale nan"),
    ("acc_scale", -0.001, "acc_scale -0.001"),
])  # fmt: skip
def test_absurd_scales_are_refused_naming_the_field(manifest, field, value, needle):
    info = dataclasses.replace(StreamInfo(1, 50.0, 0.001, 0.001, 6), **{field: value})
    with pytest.raises(StreamMismatchError) as e:
        check_stream(info, manifest, StreamConfig())
    assert e.value.field == "units" and needle in str(e.value) and "full scale" in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("acc,gyro", [(2 * 9.80665 / 32768, 125 * np.pi / 180 / 32768), (16 * 9.80665 / 32768, 2000 * np.pi / 180 / 32768),
                                      (64 * 9.80665 / 32768, 4000 * np.pi / 180 / 32768)])  # fmt: skip
def test_real_imu_ranges_are_accepted(manifest, acc, gyro):
    """±2..±64 g and ±125..±4000 dps parts, as float32 on the wire."""
    h = decode_body(encode_body(dataclasses.replace(HELLO, acc_scale=acc, gyro_scale=gyro)))
    check_stream(StreamInfo(1, h.rate_hz, h.acc_scale, h.gyro_scale, 6), manifest, StreamConfig())


@given(st.binary(max_size=600), st.integers(0, 2**32 - 1))
def test_arbitrary_bytes_never_raise_and_counts_add_up(junk, seq0):
    dec = StreamDecoder()
    data = wire(sample_frames(walk_counts(15), seq0=seq0)) + junk + wire(sample_frames(walk_counts(10), seq0=seq0 + 15))
    ev = dec.feed(data)
    s = dec.stats()
    assert s["frames"] == accounted(s)
    starts = [b.start for b in blocks(ev)]
    assert starts == sorted(starts) or "resync" in gaps(ev)
