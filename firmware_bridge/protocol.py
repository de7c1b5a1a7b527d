"""Wire protocol v1: frame types, the pure body codec and a push-style stream decoder.

On the wire every frame is ``COBS(body) + b"\\x00"`` with ``body = header | payload | crc32``:

* header ``<BBHII``: version (=1), type (1 HELLO, 2 SAMPLES), payload_len, seq, t_us
* SAMPLES payload: n x 6 int16 LE counts (ax ay az gx gy gz), 1 <= n <= 32
* HELLO payload ``<IffQBBH``: rate_mhz, acc_scale, gyro_scale, device_id, channels, flags, reserved
* crc32: CRC-32/ISO-HDLC (zlib) over header + payload, u32 LE

``firmware/protocol.c`` implements the same codec and decoder with the same drop reasons;
PROTOCOL.md has the rationale.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from . import cobs
from .crc import crc32

__all__ = [
    "VERSION", "TYPE_HELLO", "TYPE_SAMPLES", "MAX_SAMPLES", "MAX_BODY", "MAX_FRAME", "REASONS",
    "Hello", "Samples", "Frame", "FrameError", "encode_body", "encode_frame", "decode_body", "FrameDecoder",
]  # fmt: skip

VERSION: Final = 1
TYPE_HELLO: Final = 1
TYPE_SAMPLES: Final = 2
HEADER = struct.Struct("<BBHII")
HELLO_PAYLOAD = struct.Struct("<IffQBBH")
CRC = struct.Struct("<I")
SAMPLE = struct.Struct("<6h")
MAX_SAMPLES: Final = 32
MIN_BODY: Final = HEADER.size + CRC.size  # 16
MAX_BODY: Final = HEADER.size + MAX_SAMPLES * SAMPLE.size + CRC.size  # 400
MAX_FRAME: Final = cobs.max_encoded_length(MAX_BODY) + 1  # 403 bytes on the wire, delimiter included
REASONS: Final = ("cobs", "crc", "version", "type", "length", "oversize")
U32, U64 = 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF


def _f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


class FrameError(ValueError):
    """A body failed validation. ``reason`` is one of ``REASONS``; the message is content-free."""

    def __init__(self, reason: str, message: str = "") -> None:
        self.reason = reason
        super().__init__(f"{reason}: {message}" if message else reason)


def _check_range(name: str, value: int, hi: int) -> None:
    if not 0 <= value <= hi:
        raise ValueError(f"{name} must be in 0..{hi}")


@dataclass(frozen=True)
class Hello:
    """Stream description, sent at connect and every few seconds.

    ``rate_hz`` travels as integer mHz and the scales as float32, so the constructor rounds them
    to what the wire can carry; ``decode_body(encode_body(h)) == h`` for every valid ``h``.

    Args:
        seq: index of the next sample (u32, wraps).
        t_us: device clock now [µs] (u32, wraps).
        rate_hz: sample rate [Hz].
        acc_scale: accelerometer [m/s² per LSB]. gyro_scale: gyroscope [rad/s per LSB].
        device_id: u64 device identity. channels: samples' channel count (6). flags: u8, 0 in v1.
    """

    seq: int
    t_us: int
    rate_hz: float
    acc_scale: float
    gyro_scale: float
    device_id: int
    channels: int = 6
    flags: int = 0

    def __post_init__(self) -> None:
        _check_range("seq", self.seq, U32)
        _check_range("t_us", self.t_us, U32)
        _check_range("device_id", self.device_id, U64)
        _check_range("channels", self.channels, 0xFF)
        _check_range("flags", self.flags, 0xFF)
        _check_range("rate_mhz", round(self.rate_hz * 1000), U32)
        object.__setattr__(self, "rate_hz", round(self.rate_hz * 1000) / 1000)
        object.__setattr__(self, "acc_scale", _f32(self.acc_scale))
        object.__setattr__(self, "gyro_scale", _f32(self.gyro_scale))

    def payload(self) -> bytes:
        rate_mhz = round(self.rate_hz * 1000)
        return HELLO_PAYLOAD.pack(
            rate_mhz, self.acc_scale, self.gyro_scale, self.device_id, self.channels, self.flags, 0
        )


@dataclass(frozen=True)
class Samples:
    """``n`` consecutive samples; ``seq``/``t_us`` belong to the first one.

    Args:
        seq: device sample index of the first sample (u32, wraps).
        t_us: device clock of the first sample [µs] (u32, wraps).
        payload: n x 6 int16 LE counts, ``ax ay az gx gy gz``; use ``from_counts`` to build one.
    """

    seq: int
    t_us: int
    payload: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_range("seq", self.seq, U32)
        _check_range("t_us", self.t_us, U32)
        n, rest = divmod(len(self.payload), SAMPLE.size)
        if rest or not 1 <= n <= MAX_SAMPLES:
            raise ValueError(f"payload must hold 1..{MAX_SAMPLES} samples of {SAMPLE.size} bytes")
        object.__setattr__(self, "payload", bytes(self.payload))

    @classmethod
    def _checked(cls, seq: int, t_us: int, payload: bytes) -> Samples:
        """A frame ``decode_body`` has validated (u32 fields from the header, 1..MAX_SAMPLES whole
        samples): the constructor's checks again would cost 1 µs of a gateway's ~35 µs a frame."""
        frame = object.__new__(cls)
        object.__setattr__(frame, "seq", seq)
        object.__setattr__(frame, "t_us", t_us)
        object.__setattr__(frame, "payload", payload if type(payload) is bytes else bytes(payload))
        return frame

    @property
    def n(self) -> int:
        return len(self.payload) // SAMPLE.size

    def counts(self) -> list[tuple[int, ...]]:
        return list(SAMPLE.iter_unpack(self.payload))

    @classmethod
    def from_counts(cls, seq: int, t_us: int, counts: Iterable[Sequence[int]]) -> Samples:
        return cls(seq, t_us, b"".join(SAMPLE.pack(*c) for c in counts))


Frame = Hello | Samples


def encode_body(frame: Frame) -> bytes:
    """Header + payload + CRC-32, before COBS."""
    if isinstance(frame, Hello):
        kind, payload = TYPE_HELLO, frame.payload()
    elif isinstance(frame, Samples):
        kind, payload = TYPE_SAMPLES, frame.payload
    else:
        raise TypeError(f"not a frame: {type(frame).__name__}")
    head = HEADER.pack(VERSION, kind, len(payload), frame.seq, frame.t_us) + payload
    return head + CRC.pack(crc32(head))


def encode_frame(frame: Frame) -> bytes:
    """The exact wire bytes of one frame, trailing 0x00 delimiter included."""
    return cobs.encode(encode_body(frame)) + b"\x00"


def decode_body(body: bytes, max_body: int = MAX_BODY) -> Frame:
    """Validate one COBS-decoded body, in the order the C decoder uses.

    Raises:
        FrameError: reason ``oversize``, ``length``, ``version``, ``type`` or ``crc``.
    """
    if len(body) > max_body:
        raise FrameError("oversize", f"body of {len(body)} bytes exceeds {max_body}")
    if len(body) < MIN_BODY:
        raise FrameError("length", f"body of {len(body)} bytes is shorter than {MIN_BODY}")
    version, kind, plen, seq, t_us = HEADER.unpack_from(body)
    if version != VERSION:
        raise FrameError("version", f"version {version}, expected {VERSION}")
    if kind not in (TYPE_HELLO, TYPE_SAMPLES):
        raise FrameError("type", f"unknown frame type {kind}")
    if plen != len(body) - MIN_BODY:
        raise FrameError("length", f"payload_len {plen} but {len(body) - MIN_BODY} payload bytes")
    if kind == TYPE_HELLO and plen != HELLO_PAYLOAD.size:
        raise FrameError("length", f"HELLO payload must be {HELLO_PAYLOAD.size} bytes, got {plen}")
    if kind == TYPE_SAMPLES and (plen % SAMPLE.size or not 1 <= plen // SAMPLE.size <= MAX_SAMPLES):
        raise FrameError("length", f"SAMPLES payload of {plen} bytes is not 1..{MAX_SAMPLES} samples")
    end = len(body) - CRC.size
    if crc32(body[:end]) != CRC.unpack_from(body, end)[0]:
        raise FrameError("crc", "CRC-32 mismatch")
    payload = body[HEADER.size : end]
    if kind == TYPE_SAMPLES:
        return Samples._checked(seq, t_us, payload)
    rate_mhz, acc, gyro, dev, channels, flags, _reserved = HELLO_PAYLOAD.unpack(payload)
    return Hello(seq, t_us, rate_mhz / 1000, acc, gyro, dev, channels, flags)


def _suffix_starts(encoded: bytes | bytearray, first: int) -> list[int]:
    """Offsets ``k >= first`` from which COBS code bytes chain exactly to the end of ``encoded``.

    A frame whose delimiter was lost (a truncated or flipped tail) runs into the next frame; that next
    frame is then a suffix of the candidate, and its code-byte chain ends exactly at the end. One
    backward pass finds every such offset, so recovery decodes a handful of suffixes, not hundreds.
    """
    n = len(encoded)
    ok = bytearray(n + 1)
    ok[n] = 1
    for i in range(n - 1, -1, -1):
        j = i + encoded[i]
        ok[i] = 1 if j <= n and ok[j] else 0
    return [k for k in range(first, n) if ok[k]]


class FrameDecoder:
    """Push-style stream decoder: bytes in, validated frames out; no I/O, never raises from ``feed``.

    A candidate is everything between two 0x00 delimiters. A bad candidate is dropped and counted in
    ``stats`` by reason; then the frame it may have run into is looked for as a suffix of it
    (``_suffix_starts``, the first valid suffix wins), so a lost delimiter costs only the frame it
    ended, not the next one too. The buffer never holds more than one maximum encoded frame: a longer
    run counts as ``oversize`` once, and only its last ``max_encoded`` bytes are kept, for that search.
    Empty candidates (back-to-back delimiters, e.g. a sender's wake-up 0x00) are ignored.
    """

    def __init__(self, max_body: int = MAX_BODY) -> None:
        if not MIN_BODY <= max_body <= 0xFFFF:
            raise ValueError(f"max_body must be in {MIN_BODY}..65535")
        self.max_body = max_body
        self.max_encoded = cobs.max_encoded_length(max_body)
        self.stats: dict[str, int] = dict.fromkeys(("frames", *REASONS), 0)
        self._buf = bytearray()
        self._overflowed = False

    @property
    def buffered(self) -> int:
        """Bytes held for an unfinished frame (always <= ``max_encoded``)."""
        return len(self._buf)

    def _append(self, data: bytes | memoryview) -> None:
        self._buf += data
        if len(self._buf) > self.max_encoded:
            if not self._overflowed:
                self.stats["oversize"] += 1
                self._overflowed = True
            del self._buf[: len(self._buf) - self.max_encoded]

    def feed(self, chunk: bytes) -> list[Frame]:
        out: list[Frame] = []
        mv, start = memoryview(bytes(chunk)), 0
        while (end := chunk.find(b"\x00", start)) >= 0:
            if not self._buf and end - start <= self.max_encoded:  # the common case: a whole frame in chunk
                if end > start:
                    self._candidate(bytes(mv[start:end]), False, out)
            else:
                self._append(mv[start:end])
                self._end_candidate(out)
            start = end + 1
        if start < len(chunk):
            self._append(mv[start:])
        return out

    def flush(self) -> list[Frame]:
        """End of stream: try the unterminated tail as a frame (a truncated one counts as a drop)."""
        out: list[Frame] = []
        self._end_candidate(out)
        return out

    def _end_candidate(self, out: list[Frame]) -> None:
        if self._buf:
            self._candidate(bytes(self._buf), self._overflowed, out)
        self._buf.clear()
        self._overflowed = False

    def _candidate(self, encoded: bytes, overflowed: bool, out: list[Frame]) -> None:
        if not overflowed:
            try:
                frame = decode_body(cobs.decode(encoded), self.max_body)
            except cobs.CobsError:
                self.stats["cobs"] += 1
            except FrameError as exc:
                self.stats[exc.reason] += 1
            else:
                self.stats["frames"] += 1
                out.append(frame)
                return
        for k in _suffix_starts(encoded, 0 if overflowed else 1):  # the frame this one ran into, if any
            try:
                frame = decode_body(cobs.decode(encoded[k:]), self.max_body)
            except (cobs.CobsError, FrameError):
                continue
            self.stats["frames"] += 1
            out.append(frame)
            return
