"""Wire frames -> canonical sample blocks and gap events; no I/O, ``feed`` never raises.

``StreamDecoder.feed(chunk)`` runs ``firmware_bridge.protocol.FrameDecoder`` and then checks each
frame against the stream state *before* the state advances:

* no HELLO yet: SAMPLES cannot be scaled, dropped (``no_hello``)
* seq continues: a ``Block``; seq ahead by up to ``reorder_window``: ``Gap("seq")`` then the block
* seq behind: duplicate of a recent frame (``duplicates``) or late/reordered (``late``), dropped
* seq far off either way: held as a candidate; only when the next frame continues it does the
  stream resync to it (``Gap("resync")``), so one bogus frame cannot derail the stream
* device clock jumped against seq (``Gap("clock")``); measured rate drifts from the announced one
  over ``drift_window_s`` (``Gap("drift")``, later blocks flagged ``FLAG_DRIFT`` until it is back)

Sample indices and device times are unwrapped past 2^32. Counters are content-free.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from firmware_bridge.protocol import FrameDecoder, Hello, Samples

from .config import StreamConfig
from .contract import CANONICAL_CHANNELS
from .errors import StreamMismatchError
from .manifest import Manifest

__all__ = ["FLAG_INTERPOLATED", "FLAG_DRIFT", "FLAG_NAMES", "StreamInfo", "Block", "Gap", "Event",
           "StreamDecoder", "check_stream"]  # fmt: skip

FLAG_INTERPOLATED = 1
FLAG_DRIFT = 2
FLAG_NAMES = {FLAG_INTERPOLATED: "interpolated", FLAG_DRIFT: "rate_drift"}
U32 = 1 << 32
# Plausible full-scale ranges (scale x 32767) of a body-worn IMU: ±0.1 g .. ±100 g and ±29 .. ±11,000 dps
# (real parts: ±2..±16 g, ±125..±4000 dps). A HELLO outside them is a broken or hostile device, not
# a unit the model was trained on: its windows would be garbage in the manifest's units.
FULL_SCALE = {"acc_scale": (1.0, 1000.0, "m/s^2"), "gyro_scale": (0.5, 200.0, "rad/s")}
COUNTERS = ("samples", "blocks", "hellos", "gaps", "missing_samples", "duplicates", "late", "no_hello",
            "wrong_device", "suspect", "resyncs", "clock_jumps", "drift", "reconnects")  # fmt: skip


def _signed32(x: int) -> int:
    x &= U32 - 1
    return x - U32 if x >= U32 // 2 else x


@dataclass(frozen=True)
class StreamInfo:
    """What the device announced in HELLO (emitted on the first HELLO and whenever it changes)."""

    device_id: int
    rate_hz: float
    acc_scale: float
    gyro_scale: float
    channels: int


@dataclass(frozen=True)
class Block:
    """``samples``: ``(n, 6)`` float32 canonical samples starting at device index ``start`` (unwrapped).

    A block of a whole recording (``decoder_bulk``) joins several equal frames; ``frames_t_us`` then
    holds each frame's device time, so sample times are those of frame-by-frame decoding."""

    start: int
    t_us: int  # device time of samples[0], unwrapped [µs]
    samples: np.ndarray
    flags: int = 0
    frames_t_us: np.ndarray | None = None


@dataclass(frozen=True)
class Gap:
    """The stream is not contiguous here; windowing must not bridge it unless it is short (``seq``)."""

    reason: str  # seq | resync | clock | drift | reconnect | device
    missing: int = 0  # samples known to be lost (seq gaps only)


Event = StreamInfo | Block | Gap


@dataclass
class _Pos:
    seq: int  # unwrapped index of the next expected sample
    seq32: int  # the last accepted frame's first seq (wire value)
    t_us: int  # unwrapped device time of the last accepted frame's first sample
    t32: int
    last_start: int  # unwrapped index of the last accepted frame's first sample


class StreamDecoder:
    """Push-style: ``feed(bytes) -> list[Event]``; ``reset()`` after a reconnect."""

    def __init__(self, cfg: StreamConfig | None = None) -> None:
        self.cfg = cfg or StreamConfig()
        self.frames = FrameDecoder()
        self.counts = dict.fromkeys(COUNTERS, 0)
        self._want_device = int(self.cfg.device_id, 16) if self.cfg.device_id else None
        self.info: StreamInfo | None = None
        self._scale = np.ones(6, np.float32)
        self._period_us = 0.0
        self._pos: _Pos | None = None
        self._recent: deque[int] = deque(maxlen=64)
        self._candidate: Samples | None = None
        self._anchor: tuple[int, int] | None = None  # (seq, t_us) unwrapped, start of the drift window
        self.drifting = False

    def stats(self) -> dict[str, int]:
        """Frame-level drops by reason (``frames``, ``crc``, ...) and stream counters, content-free.

        Every decoded frame is accounted for once: ``frames == hellos + blocks + duplicates + late
        + no_hello + suspect + pending`` (``pending``: a far-off frame awaiting confirmation)."""
        return {**self.frames.stats, **self.counts, "pending": int(self._candidate is not None)}

    def feed(self, chunk: bytes) -> list[Event]:
        out: list[Event] = []
        for frame in self.frames.feed(chunk):
            if isinstance(frame, Hello):
                self._hello(frame, out)
            else:
                self._samples(frame, out)
        return out

    def reset(self, reason: str = "reconnect") -> list[Event]:
        """Forget the link: partial bytes, seq state and the HELLO (a replugged device may differ)."""
        stats = self.frames.stats
        self.frames = FrameDecoder()
        self.frames.stats = stats
        self.counts["reconnects"] += reason == "reconnect"
        had_stream = self._pos is not None
        self._drop_candidate()
        self.info, self._pos, self._anchor, self.drifting = None, None, None, False
        self._recent.clear()
        if had_stream:
            self.counts["gaps"] += 1
            return [Gap(reason)]
        return []

    # -- HELLO ---------------------------------------------------------------------------------

    def _hello(self, h: Hello, out: list[Event]) -> None:
        self.counts["hellos"] += 1
        if self._want_device is not None and h.device_id != self._want_device:
            self.counts["wrong_device"] += 1
            return
        info = StreamInfo(h.device_id, h.rate_hz, h.acc_scale, h.gyro_scale, h.channels)
        if info == self.info:
            return
        if self.info is not None and self.info.device_id != info.device_id and self._pos is not None:
            self._drop_candidate()
            self._pos, self._anchor = None, None
            self.counts["gaps"] += 1
            out.append(Gap("device"))
        self.info = info
        self._period_us = 1e6 / h.rate_hz if h.rate_hz > 0 else 0.0
        self._scale = np.array([h.acc_scale] * 3 + [h.gyro_scale] * 3, np.float32)
        out.append(info)

    # -- SAMPLES -------------------------------------------------------------------------------

    def _samples(self, f: Samples, out: list[Event]) -> None:
        if self.info is None or self._period_us <= 0:
            self.counts["no_hello"] += 1
            return
        pos = self._pos
        if pos is None:
            self._start(f, f.seq, f.t_us, out)
            return
        delta = _signed32(f.seq - pos.seq)
        if delta < 0 and delta >= -self.cfg.reorder_window:
            self._drop_candidate()
            self.counts["duplicates" if f.seq in self._recent else "late"] += 1
            return
        if 0 <= delta <= self.cfg.reorder_window:
            self._drop_candidate()
            self._accept(f, pos.seq + delta, delta, out)
            return
        cand = self._candidate  # far off: confirm with the next frame before believing it
        if cand is not None and 0 <= _signed32(f.seq - (cand.seq + cand.n)) <= self.cfg.reorder_window:
            self._candidate = None
            ahead = _signed32(cand.seq - pos.seq)
            if ahead > 0:  # a long dropout: the device kept counting
                self._accept(cand, pos.seq + ahead, ahead, out)
            else:  # the device restarted (or its counter jumped back)
                self.counts["resyncs"] += 1
                self.counts["gaps"] += 1
                out.append(Gap("resync"))
                self._start(cand, cand.seq, cand.t_us, out)
            self._samples(f, out)
            return
        self._drop_candidate()
        self._candidate = f

    def _drop_candidate(self) -> None:
        if self._candidate is not None:
            self.counts["suspect"] += 1
            self._candidate = None

    def _start(self, f: Samples, seq: int, t_us: int, out: list[Event]) -> None:
        """First frame after a reset/resync: anchor seq and time here."""
        self._pos = _Pos(seq, f.seq, t_us, f.t_us, seq)
        self._anchor = (seq, t_us)
        self.drifting = False
        self._recent.clear()
        self._emit(f, seq, t_us, out)

    def _accept(self, f: Samples, start: int, missing: int, out: list[Event]) -> None:
        pos = self._pos
        assert pos is not None
        expected = (start - pos.last_start) * self._period_us
        dt = _signed32(f.t_us - pos.t32)
        t_us = pos.t_us + dt
        tol = self.cfg.clock_tolerance_us + self.cfg.max_drift_ppm * 1e-6 * expected
        if missing:
            self.counts["gaps"] += 1
            self.counts["missing_samples"] += missing
            out.append(Gap("seq", missing))
        if abs(dt - expected) > tol:
            self.counts["clock_jumps"] += 1
            if not missing:
                self.counts["gaps"] += 1
            out.append(Gap("clock"))
            self._anchor = (start, t_us)
        else:
            self._check_drift(start, t_us, out)
        pos.seq32, pos.t32, pos.t_us, pos.last_start = f.seq, f.t_us, t_us, start
        self._emit(f, start, t_us, out)

    def _check_drift(self, start: int, t_us: int, out: list[Event]) -> None:
        """Announced vs measured rate over ``drift_window_s``; a change of state restarts windows."""
        assert self._anchor is not None
        a_seq, a_t = self._anchor
        span = start - a_seq
        if span < self.cfg.drift_window_s * self.info.rate_hz:  # type: ignore[union-attr]
            return
        ppm = ((t_us - a_t) / (span * self._period_us) - 1.0) * 1e6
        drifting = not math.isfinite(ppm) or abs(ppm) > self.cfg.max_drift_ppm
        if drifting and not self.drifting:
            self.counts["drift"] += 1
            self.counts["gaps"] += 1
            out.append(Gap("drift"))
        self.drifting = drifting
        self._anchor = (start, t_us)

    def _emit(self, f: Samples, start: int, t_us: int, out: list[Event]) -> None:
        assert self._pos is not None
        self._pos.seq = start + f.n
        self._recent.append(f.seq)
        counts = np.frombuffer(f.payload, "<i2").reshape(-1, len(CANONICAL_CHANNELS))
        samples = np.multiply(counts, self._scale, dtype=np.float32)  # (n, 6) m/s², rad/s; = astype, then *
        self.counts["samples"] += f.n
        self.counts["blocks"] += 1
        out.append(Block(start, t_us, samples, FLAG_DRIFT if self.drifting else 0))


def check_stream(info: StreamInfo, manifest: Manifest, cfg: StreamConfig) -> None:
    """Refuse a stream the model was not trained for (rate, channels, units).

    Samples travel as int16 counts times the HELLO's scales, in m/s² and rad/s (the manifest's
    units); a scale whose full range (``scale * 32767``) is outside ``FULL_SCALE`` is refused.

    Raises:
        StreamMismatchError: one line naming the field, the device's value and the manifest's.
    """
    want = manifest.window.rate_hz
    if not (info.rate_hz > 0 and abs(info.rate_hz / want - 1.0) <= cfg.rate_tolerance):
        raise StreamMismatchError("rate_hz", want, info.rate_hz)
    if info.channels != len(CANONICAL_CHANNELS):
        raise StreamMismatchError("channels", len(CANONICAL_CHANNELS), info.channels)
    for name, scale in (("acc_scale", info.acc_scale), ("gyro_scale", info.gyro_scale)):
        lo, hi, unit = FULL_SCALE[name]
        full = scale * 32767 if math.isfinite(scale) else math.inf
        if not (scale > 0 and lo <= full <= hi):
            raise StreamMismatchError(
                "units", f"{name} with a full scale of {lo:g}..{hi:g} {unit}",
                f"{name} {scale:g} {unit} per count (full scale {full:.3g} {unit})",
            )  # fmt: skip
    if manifest.input.shape and manifest.input.shape[-1] != len(manifest.window.channels):
        raise StreamMismatchError("channels", len(manifest.window.channels), manifest.input.shape[-1])
