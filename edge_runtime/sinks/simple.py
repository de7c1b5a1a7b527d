"""Simple sinks: JSON lines on stdout, one JSON datagram per window over UDP, and a list in memory."""

from __future__ import annotations

import socket
import sys
import threading
from dataclasses import dataclass, field
from typing import BinaryIO
from urllib.parse import urlsplit

from ..errors import SinkError
from .base import AnonymizedWindow, QueuedSink, Sink

__all__ = ["StdoutSink", "UdpSink", "MemorySink", "MAX_DATAGRAM"]

MAX_DATAGRAM = 65_507  # largest UDP payload over IPv4


class StdoutSink(QueuedSink):
    """``stdout://``: one JSON line per window (``--demo``, piping into another program)."""

    def __init__(self, stream: BinaryIO | None = None, *, maxsize: int = 1024) -> None:
        self.url = "stdout://"
        self._out = stream if stream is not None else sys.stdout.buffer
        super().__init__(maxsize=maxsize)

    @classmethod
    def from_url(cls, url: str) -> StdoutSink:
        return cls()

    def _write(self, window: AnonymizedWindow) -> None:
        self._out.write(window.to_json() + b"\n")
        self._out.flush()


class UdpSink(QueuedSink):
    """``udp://HOST:PORT``: one datagram per window; an oversized window is dropped and counted."""

    def __init__(self, host: str, port: int, *, maxsize: int = 1024) -> None:
        self.url = f"udp://{host}:{port}"
        try:
            info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
            self._sock = socket.socket(info[0], socket.SOCK_DGRAM)
        except OSError as exc:
            raise SinkError(f"cannot open UDP sink {self.url}: {exc.strerror or exc}") from exc
        self._addr = info[4]
        super().__init__(maxsize=maxsize)

    @classmethod
    def from_url(cls, url: str) -> UdpSink:
        u = urlsplit(url)
        if not u.hostname or not u.port:
            raise SinkError(f"UDP sink needs udp://HOST:PORT, got {url!r}")
        return cls(u.hostname, u.port)

    def _write(self, window: AnonymizedWindow) -> None:
        data = window.to_json()
        if len(data) > MAX_DATAGRAM:
            raise ValueError(f"window of {len(data)} bytes does not fit one UDP datagram ({MAX_DATAGRAM})")
        self._sock.sendto(data, self._addr)

    def _close(self) -> None:
        self._sock.close()


@dataclass
class _Memory:
    windows: list[AnonymizedWindow] = field(default_factory=list)


class MemorySink(Sink):
    """Keeps every window in memory: for tests and the demo (``memory://``)."""

    url = "memory://"

    def __init__(self) -> None:
        super().__init__()
        self._mem = _Memory()
        self._lock = threading.Lock()

    @property
    def windows(self) -> list[AnonymizedWindow]:
        with self._lock:
            return list(self._mem.windows)

    def _send(self, window: AnonymizedWindow) -> None:
        with self._lock:
            self._mem.windows.append(window)
        self.stats.sent += 1
