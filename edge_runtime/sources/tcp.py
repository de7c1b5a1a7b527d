"""A TCP byte stream, e.g. ``imu-emulator --tcp 7000`` or a ser2net bridge: ``tcp://127.0.0.1:7000``."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from ..errors import SourceError
from .base import Source

__all__ = ["TcpSource"]


class TcpSource(Source):
    """Args:
    host, port: where the frames are served.
    connect_timeout: seconds to wait for the connection.
    """

    def __init__(self, host: str, port: int, *, connect_timeout: float = 5.0) -> None:
        self.host, self.port, self.connect_timeout = host, port, connect_timeout
        self.url = f"tcp://{host}:{port}"
        self._sock: socket.socket | None = None

    @classmethod
    def from_url(cls, url: str) -> TcpSource:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or port is None:
            raise SourceError(f"tcp URL {url!r} needs host:port")
        return cls(parts.hostname, port)

    def open(self) -> None:
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as exc:
            raise SourceError(f"cannot connect to {self.url}: {exc.strerror or type(exc).__name__}") from None

    def read(self, timeout: float) -> bytes:
        if self._sock is None:
            raise SourceError(f"{self.url} is not connected")
        try:
            self._sock.settimeout(timeout)
            data = self._sock.recv(65536)
        except TimeoutError:
            return b""
        except OSError as exc:
            raise SourceError(f"{self.url} lost: {exc.strerror or type(exc).__name__}") from None
        if not data:
            raise SourceError(f"{self.url} closed by the peer")
        return data

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
