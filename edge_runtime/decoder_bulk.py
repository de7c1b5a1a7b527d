"""``StreamDecoder`` over a whole capture: runs of plain frames fast-forwarded as arrays.

A recording on disk is decoded by the live decoder's rules (``decoder.py``), but one frame at a time
those cost ~25 µs per 5-sample frame, 20 s for a day at 50 Hz. Most frames of a capture are
*plain*: seq continues the stream exactly and the device clock agrees within tolerance, so the
decoder's only work is to advance its state. For such a run this module checks every frame's
conditions with array arithmetic (the same float64 expressions as ``_accept`` and
``_check_drift``), advances the state once and emits one ``Block`` for the run, with each frame's
device time (``Block.frames_t_us``) so window times are those of frame-by-frame decoding. The first
frame that is not plain (a gap, a duplicate, a clock jump, a drift change, a stream start) goes
through the decoder's own scalar path. Tests compare windows and counters with ``feed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from firmware_bridge.bulk import SampleRun, decode_capture
from firmware_bridge.protocol import Hello, Samples

from .decoder import FLAG_DRIFT, U32, Block, Event, StreamDecoder, StreamInfo

__all__ = ["decode_recording"]

_FIRST_LOOK = 32  # frames checked before the look-ahead widens: bounded cost when few frames are plain


def decode_recording(decoder: StreamDecoder, data: bytes) -> list[Event]:
    """The events ``decoder.feed(data)`` gives, with plain runs joined into one ``Block`` each.

    ``data`` may be any piece of a capture: a frame left unfinished by the previous piece is
    completed by the scalar decoder first."""
    out: list[Event] = []
    if decoder.frames.buffered:
        cut = data.find(b"\x00") + 1 or len(data)
        out, data = decoder.feed(data[:cut]), data[cut:]
    pending: list[SampleRun] = []  # runs of one frame size, joined across HELLOs that change nothing
    for item in decode_capture(data, decoder=decoder.frames):
        if isinstance(item, SampleRun) and (not pending or pending[0].n == item.n):
            pending.append(item)
            continue
        if isinstance(item, Hello) and _repeats(decoder, item):
            decoder._hello(item, out)  # counted only: the same as before or after the pending runs
            continue
        _flush(decoder, pending, out)
        if isinstance(item, Hello):
            decoder._hello(item, out)
        elif isinstance(item, Samples):
            decoder._samples(item, out)
        else:
            pending.append(item)
    _flush(decoder, pending, out)
    return out


def _repeats(dec: StreamDecoder, h: Hello) -> bool:
    """A HELLO ``_hello`` only counts: another device's (filtered) or the running stream's again."""
    if dec._want_device is not None and h.device_id != dec._want_device:
        return True
    return StreamInfo(h.device_id, h.rate_hz, h.acc_scale, h.gyro_scale, h.channels) == dec.info


def _flush(dec: StreamDecoder, pending: list[SampleRun], out: list[Event]) -> None:
    if len(pending) > 1:
        pending[:] = [SampleRun(*(np.concatenate([getattr(r, f) for r in pending]) for f in ("seq", "t_us", "counts")))]
    if pending:
        _run(dec, pending[0], out)
    pending.clear()


def _run(dec: StreamDecoder, run: SampleRun, out: list[Event]) -> None:
    i = 0
    while i < len(run):
        look = _FIRST_LOOK
        while True:  # widen the look-ahead while all of it is plain: one Block for the whole run
            j = min(len(run), i + look)
            plain = _plain(dec, run, i, j)
            if plain is None or len(plain.starts) < j - i or j == len(run):
                break
            look *= 4
        if plain is not None:
            _advance(dec, run, i, plain, out)
            i += len(plain.starts)
        else:
            dec._samples(Samples(int(run.seq[i]), int(run.t_us[i]), run.counts[i].tobytes()), out)
            i += 1


@dataclass(frozen=True)
class _Plain:
    """The first ``len(starts)`` frames from some index that ``_accept`` takes with no event: their
    unwrapped sample indices and device times, and the drift anchor after them."""

    starts: np.ndarray
    t_unw: np.ndarray
    anchor: tuple[int, int]


def _plain(dec: StreamDecoder, run: SampleRun, i: int, j: int) -> _Plain | None:
    """The plain frames from ``i`` (at most ``j - i``); None when frame ``i`` is not plain."""
    pos = dec._pos
    if dec.info is None or dec._period_us <= 0 or pos is None or dec._candidate is not None:
        return None
    n, k = run.n, j - i
    starts = pos.seq + np.arange(k, dtype=np.int64) * n
    ok = run.seq[i:j].astype(np.int64) == starts % U32
    t32 = run.t_us[i:j].astype(np.int64)
    prev_t = np.concatenate([[pos.t32], t32[:-1]])
    prev_start = np.concatenate([[pos.last_start], starts[:-1]])
    dt = (t32 - prev_t) & (U32 - 1)
    dt = np.where(dt >= U32 // 2, dt - U32, dt)
    expected = (starts - prev_start) * dec._period_us
    tol = dec.cfg.clock_tolerance_us + dec.cfg.max_drift_ppm * 1e-6 * expected
    ok &= ~(np.abs(dt - expected) > tol)
    m = k if ok.all() else int(np.argmin(ok))
    if m == 0:
        return None
    t_unw = pos.t_us + np.cumsum(dt[:m])
    m, anchor = _drift_stop(dec, starts[:m], t_unw)
    return _Plain(starts[:m], t_unw[:m], anchor) if m else None


def _drift_stop(dec: StreamDecoder, starts: np.ndarray, t_unw: np.ndarray) -> tuple[int, tuple[int, int]]:
    """Frames before the first whose drift check changes the drifting state (``_check_drift``), and
    the drift anchor after them."""
    assert dec._anchor is not None and dec.info is not None
    a_seq, a_t = dec._anchor
    limit = dec.cfg.drift_window_s * dec.info.rate_hz
    i = 0
    while True:
        i += int(np.searchsorted(starts[i:] - a_seq, limit, "left"))  # first span >= limit
        if i >= len(starts):
            return len(starts), (a_seq, a_t)
        span, t_us = int(starts[i]) - a_seq, int(t_unw[i])
        ppm = ((t_us - a_t) / (span * dec._period_us) - 1.0) * 1e6
        drifting = not math.isfinite(ppm) or abs(ppm) > dec.cfg.max_drift_ppm
        if drifting != dec.drifting:
            return i, (a_seq, a_t)
        a_seq, a_t = int(starts[i]), t_us
        i += 1


def _advance(dec: StreamDecoder, run: SampleRun, i: int, plain: _Plain, out: list[Event]) -> None:
    """Apply the plain frames from ``i`` to the state at once, as ``_accept`` would one by one."""
    pos, n, m = dec._pos, run.n, len(plain.starts)
    assert pos is not None
    j, starts, t_unw = i + m, plain.starts, plain.t_unw
    dec._anchor = plain.anchor
    pos.seq, pos.seq32, pos.t32 = int(starts[-1]) + n, int(run.seq[j - 1]), int(run.t_us[j - 1])
    pos.t_us, pos.last_start = int(t_unw[-1]), int(starts[-1])
    dec._recent.extend(int(s) for s in run.seq[max(i, j - (dec._recent.maxlen or 0)) : j])
    samples = run.counts[i:j].reshape(-1, 6).astype(np.float32) * dec._scale
    dec.counts["samples"] += m * n
    dec.counts["blocks"] += m
    out.append(Block(int(starts[0]), int(t_unw[0]), samples, FLAG_DRIFT if dec.drifting else 0, t_unw))
