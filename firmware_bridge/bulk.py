"""A whole wire capture decoded at once: the ``FrameDecoder`` result, vectorized for the common frame.

A day at 50 Hz is 864,000 five-sample frames; one Python COBS decode, CRC and header parse per
frame costs ~15 µs, i.e. 13 s before any windowing (issue 16 asks for 5 s end to end). Here every
candidate between two delimiters is COBS-decoded in numpy at once (the code-byte chains of all
candidates are walked together, one step per zero byte in a body), CRC-checked with zlib per frame
and its header read as arrays. Only what that path is sure of takes it: a SAMPLES body that is
valid in every check ``decode_body`` makes. Everything else (HELLO, a bad CRC, broken COBS, an
overlong run, a 0xFF code) goes to one real ``FrameDecoder``, one candidate at a time, so drops,
their reasons and the lost-delimiter recovery are the live decoder's own. Tests check frames and
stats against ``FrameDecoder.feed`` on clean and on fault-injected captures.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from . import cobs
from .protocol import HEADER, MAX_BODY, MAX_SAMPLES, MIN_BODY, SAMPLE, TYPE_SAMPLES, VERSION, Frame, FrameDecoder

__all__ = ["SampleRun", "decode_capture"]


@dataclass(frozen=True)
class SampleRun:
    """Consecutive SAMPLES frames of ``n`` samples each, in capture order.

    ``seq``, ``t_us``: ``(k,)`` wire values (u32) of each frame's first sample; ``counts``:
    ``(k, n, 6)`` int16 counts, ``ax ay az gx gy gz``.
    """

    seq: np.ndarray
    t_us: np.ndarray
    counts: np.ndarray

    @property
    def n(self) -> int:
        return int(self.counts.shape[1])

    def __len__(self) -> int:
        return len(self.seq)


def _chains(arr: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walk every candidate's COBS code bytes together; (ok, code positions mask).

    ``ok``: the chain ends exactly at the candidate's end and no code is 0xFF (a 254-byte run without
    a zero: valid COBS, rare in 400-byte bodies, left to the scalar decoder)."""
    is_code = np.zeros(len(arr) + 1, bool)
    ok = np.zeros(len(start), bool)
    live = np.arange(len(start))
    pos = start.copy()
    while len(live):
        code = arr[pos].astype(np.int64)
        is_code[pos] = True
        nxt = pos + code
        e = end[live]
        done = (nxt == e) & (code != 0xFF)
        ok[live[done]] = True
        more = (nxt < e) & (code != 0xFF)
        live, pos = live[more], nxt[more]
    return ok, is_code[:-1]


def decode_capture(data: bytes, max_body: int = MAX_BODY,
                   decoder: FrameDecoder | None = None) -> Iterator[Frame | SampleRun]:  # fmt: skip
    """Frames of ``data`` in order, as ``FrameDecoder(max_body).feed(data)`` returns them.

    Runs of plain SAMPLES frames come as ``SampleRun`` arrays, any other frame as the ``Frame``
    the scalar decoder makes of it. ``decoder`` (a fresh one by default) is the scalar decoder used
    for those and receives every stat, the vectorized frames included; bytes after the last
    delimiter stay buffered in it, as after ``feed``. Its buffer must be empty on entry.
    """
    dec = decoder or FrameDecoder(max_body)
    if dec.buffered:
        raise ValueError("decode_capture needs a decoder at a frame boundary")
    arr = np.frombuffer(data, np.uint8)
    delim = np.flatnonzero(arr == 0)
    start = np.concatenate([[0], delim[:-1] + 1]).astype(np.int64) if len(delim) else np.zeros(0, np.int64)
    end = delim.astype(np.int64)
    keep = end > start  # empty candidates are ignored, as by FrameDecoder
    start, end = start[keep], end[keep]
    size = end - start
    fast = size <= cobs.max_encoded_length(dec.max_body)
    ok, is_code = _chains(arr, start[fast], end[fast])
    fast[np.flatnonzero(fast)[~ok]] = False
    decoded = arr.copy()
    decoded[is_code] = 0  # a code byte after the first stands for a zero of the body
    body_len = size - 1
    n = (body_len - MIN_BODY) // SAMPLE.size
    fast &= ((body_len - MIN_BODY) % SAMPLE.size == 0) & (n >= 1) & (n <= MAX_SAMPLES) & (body_len <= dec.max_body)
    rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # body length -> (segment index, bodies)
    for length in np.unique(body_len[fast]).tolist():
        idx = np.flatnonzero(fast & (body_len == length))
        bodies = decoded[(start[idx] + 1)[:, None] + np.arange(length)]
        head = bodies[:, : HEADER.size]
        good = (head[:, 0] == VERSION) & (head[:, 1] == TYPE_SAMPLES)
        good &= (head[:, 2].astype(np.int64) | head[:, 3].astype(np.int64) << 8) == length - MIN_BODY
        flat = memoryview(np.ascontiguousarray(bodies).tobytes())
        want = bodies[:, length - 4 :].copy().view("<u4")[:, 0]
        crc = np.fromiter((zlib.crc32(flat[i * length : (i + 1) * length - 4]) for i in range(len(idx))),
                          np.uint32, len(idx))  # fmt: skip
        good &= crc == want
        fast[idx[~good]] = False
        rows[length] = (idx[good], bodies[good])
    yield from _in_order(data, start, end, fast, body_len, rows, dec)
    tail = int(delim[-1]) + 1 if len(delim) else 0
    if tail < len(arr):  # an unterminated frame: buffered in ``dec``, as ``feed`` leaves it
        dec.feed(data[tail:])


def _in_order(data: bytes, start: np.ndarray, end: np.ndarray, fast: np.ndarray, body_len: np.ndarray,
              rows: dict[int, tuple[np.ndarray, np.ndarray]], dec: FrameDecoder) -> Iterator[Frame | SampleRun]:  # fmt: skip
    key = np.where(fast, body_len, -1)
    cut = np.flatnonzero((np.diff(key) != 0) | (key[1:] < 0)) + 1
    bounds = np.concatenate([[0], cut, [len(key)]]).tolist()
    row_of = np.full(len(key), -1, np.int64)
    for idx, _ in rows.values():
        row_of[idx] = np.arange(len(idx))
    mv = memoryview(data)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if b <= a:
            continue
        if not fast[a]:  # one candidate, its delimiter included: the scalar decoder's own verdict
            yield from dec.feed(bytes(mv[start[a] : end[a] + 1]))
            continue
        length = int(body_len[a])
        _, bodies = rows[length]
        r0, r1 = int(row_of[a]), int(row_of[b - 1]) + 1
        part = bodies[r0:r1]
        dec.stats["frames"] += r1 - r0
        words = part[:, 4:12].copy().view("<u4")
        counts = part[:, HEADER.size : length - 4].copy().view("<i2").reshape(r1 - r0, -1, 6)
        yield SampleRun(words[:, 0].copy(), words[:, 1].copy(), counts)
