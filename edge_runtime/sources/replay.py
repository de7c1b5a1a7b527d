"""Recorded wire bytes (``.imu``: what ``cat /dev/ttyUSB0 > x.imu`` captures) played back as a source.

``replay:///path/walk.imu?speed=1`` paces frames by their device sample index at ``speed`` x real
time (0 = as fast as possible); ``loop=1`` starts over at the end (the decoder sees a resync).
Bytes pass through untouched, corrupt frames included, so a replay exercises the same decoder
path and counters as a live port. The end of the file raises ``EOFError``. A file that is empty or
holds not one valid frame (not a recording at all) is refused at ``open`` with ``SourceError``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from firmware_bridge import cobs
from firmware_bridge.protocol import FrameError, Hello, Samples, decode_body

from ..errors import SourceError
from .base import Source

__all__ = ["ReplaySource"]

_FAST_CHUNK = 8192


class ReplaySource(Source):
    """Args:
    path: the ``.imu`` file (or ``data``: the bytes themselves, e.g. a synthetic demo trace).
    speed: x real time; 0 = unpaced.
    loop: play forever.
    clock: monotonic time [s] (injectable, like pyserial's ``Timeout.TIME``).
    """

    can_wait = True  # a file never loses bytes to a full queue, even unpaced

    def __init__(self, path: str | Path | None = None, *, data: bytes | None = None, speed: float = 1.0,
                 loop: bool = False, clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        if (path is None) == (data is None):
            raise ValueError("give either path or data")
        if not (speed >= 0):
            raise SourceError(f"replay speed must be >= 0, got {speed}")
        self.path, self.speed, self.loop, self._clock = path, speed, loop, clock
        self.url = f"replay://{path}?speed={speed:g}" if path is not None else "replay://<memory>"
        self._data = data
        self._pieces: list[tuple[float, bytes]] = []  # (device time from start [s], wire bytes)
        self._i = 0
        self._t0 = 0.0

    @classmethod
    def from_url(cls, url: str) -> ReplaySource:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        path = unquote(parts.netloc + parts.path)
        if not path:
            raise SourceError(f"replay URL {url!r} names no file")
        try:
            speed = float(query.get("speed", ["1"])[0])
        except ValueError:
            raise SourceError(f"replay URL {url!r}: speed must be a number") from None
        return cls(path, speed=speed, loop=_bool(url, "loop", query.get("loop", ["0"])[0]))

    def open(self) -> None:
        data = self._data
        if data is None:
            try:
                data = Path(self.path).read_bytes()  # type: ignore[arg-type]
            except OSError as exc:
                raise SourceError(f"cannot read replay file {self.path}: {exc.strerror}") from None
        if not data:
            raise SourceError(f"replay file {self.path} is empty")
        if not _has_frame(data):
            raise SourceError(f"replay file {self.path} holds no valid wire frame (not an .imu recording?)")
        self._pieces = _pace(data) if self.speed > 0 else [(0.0, data[i : i + _FAST_CHUNK])
                                                            for i in range(0, len(data), _FAST_CHUNK)]  # fmt: skip
        self._i = 0
        self._t0 = self._clock()

    def read(self, timeout: float) -> bytes:
        if self._i >= len(self._pieces):
            if not self.loop or not self._pieces:
                raise EOFError("end of replay")
            self._i, self._t0 = 0, self._clock()
        if self.speed <= 0:
            self._i += 1
            return self._pieces[self._i - 1][1]
        now = self._clock() - self._t0
        due = self._pieces[self._i][0] / self.speed
        if due > now:
            time.sleep(min(due - now, timeout))
            now = self._clock() - self._t0
        out = bytearray()
        while self._i < len(self._pieces) and self._pieces[self._i][0] / self.speed <= now:
            out += self._pieces[self._i][1]
            self._i += 1
        return bytes(out)

    def close(self) -> None:
        self._pieces = []


def _bool(url: str, key: str, value: str) -> bool:
    v = value.lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off", ""):
        return False
    raise SourceError(f"replay URL {url!r}: {key} must be 0/1, true/false or yes/no, got {value!r}")


def _has_frame(data: bytes) -> bool:
    """Whether any delimiter-separated piece decodes as a frame (stops at the first one)."""
    start = 0
    while start < len(data):
        end = data.find(b"\x00", start)
        end = len(data) if end < 0 else end
        try:
            decode_body(cobs.decode(data[start:end]))
            return True
        except (cobs.CobsError, FrameError):
            start = end + 1
    return False


def _pace(data: bytes) -> list[tuple[float, bytes]]:
    """Split at frame delimiters and give each piece the device time its frame was sent at."""
    pieces: list[tuple[float, bytes]] = []
    rate, first, t = 0.0, None, 0.0
    start = 0
    while start < len(data):
        end = data.find(b"\x00", start)
        end = len(data) if end < 0 else end + 1
        raw = data[start:end]
        try:
            frame = decode_body(cobs.decode(raw.rstrip(b"\x00")))
        except (cobs.CobsError, FrameError):
            frame = None  # garbage passes through at the time of the frame before it
        if isinstance(frame, Hello) and frame.rate_hz > 0:
            rate = frame.rate_hz
        elif isinstance(frame, Samples) and rate > 0:
            first = frame.seq if first is None else first
            t = max(t, (((frame.seq - first) & 0xFFFFFFFF) + frame.n) / rate)
        pieces.append((t, raw))
        start = end
    return pieces
