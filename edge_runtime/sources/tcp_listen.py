"""A TCP listener that many devices connect to: ``tcp-listen://0.0.0.0:7000?max=2000`` (gateway only).

Not a ``Source``: it hands out non-blocking connections, each one device's byte stream, for the
gateway's selector loop (edge_runtime/gateway.py). ``max`` bounds the connections this listener
keeps open; the gateway refuses (accepts and closes at once, counted) any beyond it.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from ..errors import SourceError
from ..sinks.base import url_options

__all__ = ["TcpListener", "SCHEME"]

SCHEME = "tcp-listen"


class TcpListener:
    """Args:
    host, port: where to listen (port 0: any free port, see ``port`` after ``open``).
    max_conns: connections kept open at once.
    backlog: the kernel's queue of connections not yet accepted.
    """

    def __init__(self, host: str, port: int, *, max_conns: int = 2000, backlog: int = 1024) -> None:
        if max_conns < 1 or backlog < 1:
            raise SourceError("tcp-listen max and backlog must be >= 1")
        self.host, self.port, self.max_conns, self.backlog = host, port, max_conns, backlog
        self.url = f"{SCHEME}://{host}:{port}?max={max_conns}"
        self.sock: socket.socket | None = None

    @classmethod
    def from_url(cls, url: str) -> TcpListener:
        parts = urlsplit(url)
        try:
            port = parts.port
            opts = {k: int(v) for k, v in url_options(parts.query).items() if k in ("max", "backlog")}
        except ValueError:
            raise SourceError(f"tcp-listen URL {url!r}: port, max and backlog must be integers") from None
        unknown = set(url_options(parts.query)) - {"max", "backlog"}
        if parts.scheme != SCHEME or not parts.hostname or port is None or unknown:
            raise SourceError(f"tcp-listen URL {url!r} needs host:port and only ?max=N&backlog=N")
        return cls(parts.hostname, port, max_conns=opts.get("max", 2000), backlog=opts.get("backlog", 1024))

    def open(self) -> None:
        """Bind and listen (non-blocking); a busy port is a ``SourceError`` at start."""
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
            sock.listen(self.backlog)
        except OSError as exc:
            sock.close()
            raise SourceError(f"cannot listen on {self.url}: {exc.strerror or type(exc).__name__}") from None
        sock.setblocking(False)
        self.sock = sock
        self.port = int(sock.getsockname()[1])
        self.url = f"{SCHEME}://{self.host}:{self.port}?max={self.max_conns}"

    def accept(self) -> list[socket.socket]:
        """Every connection waiting now, non-blocking with TCP_NODELAY off (devices only send)."""
        out: list[socket.socket] = []
        if self.sock is None:
            return out
        while True:
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return out
            except OSError:  # EMFILE, ECONNABORTED: try again at the next readiness
                return out
            conn.setblocking(False)
            out.append(conn)

    def fileno(self) -> int:
        return -1 if self.sock is None else self.sock.fileno()

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()
