"""``unix:///run/edge-anonymize/windows.sock``: the default sink; apps connect and read JSON lines.

The socket file is created with mode 0660 (a world-writable mode is refused) and an optional
group, so only the gateway's group can read anonymized windows. Peers are checked with
``SO_PEERCRED`` where Linux offers it: this uid, root, or a member of the socket's group, as
primary *or* supplementary group (``SO_PEERGROUPS``, else the user database), like the kernel's
own check of the file mode. ``stats`` counts ``clients`` (connected now), ``connections`` (accepted
since start), ``clients_dropped`` (slow clients disconnected) and ``clients_refused``.

With a live device a client that does not read never stalls the gateway: each client has a
bounded send buffer and is disconnected (counted in ``clients_dropped``) when it overflows.
Under backpressure (a recording, see base.py) a full client buffer is waited on instead (bounded
by ``wait_s``), so a reading client gets every window of an unpaced replay; what a client has
pending at close is handed to it within the same bound.
"""

from __future__ import annotations

import functools
import grp
import os
import pwd
import select
import socket
import stat
import struct
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import SinkError
from .base import AnonymizedWindow, QueuedSink, SinkStats, url_options

__all__ = ["UnixSink", "UnixStats", "peer_groups"]

# Linux's SO_PEERGROUPS (4.13+; the same number on x86 and arm); Python's socket module lacks the name
SO_PEERGROUPS: int | None = getattr(socket, "SO_PEERGROUPS", 59 if sys.platform == "linux" else None)


@dataclass
class UnixStats(SinkStats):
    """The shared counters plus the socket's clients (content-free, in every status line)."""

    clients: int = 0  # connected now
    connections: int = 0  # clients accepted since start (0 at exit: nobody ever read a window)
    clients_dropped: int = 0  # disconnected because they did not read (send buffer full)
    clients_refused: int = 0  # connections whose peer credentials were not allowed


def peer_groups(conn: socket.socket, uid: int, gid: int) -> set[int]:
    """Every group of the connected peer: primary and supplementary.

    ``SO_PEERGROUPS`` gives the groups the peer had when it connected (what the kernel checked the
    socket's mode against); where the kernel lacks it, the user database's groups of ``uid``."""
    groups = {gid}
    if SO_PEERGROUPS is not None:
        for size in (4 * 256, 4 * 65536):  # NGROUPS_MAX is 65536; ERANGE: the buffer was too small
            try:
                raw = conn.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, size)
            except OSError:
                continue
            return groups | set(struct.unpack(f"{len(raw) // 4}I", raw[: len(raw) // 4 * 4]))
    try:
        name = pwd.getpwuid(uid).pw_name
        return groups | set(os.getgrouplist(name, gid))
    except (KeyError, OSError):
        return groups


class _Client:
    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.pending, self.gone = sock, bytearray(), False


class UnixSink(QueuedSink):
    """Unix stream socket server broadcasting newline-delimited JSON windows.

    Args:
        path: socket file path (its folder is created 0755 if missing).
        mode: socket file permissions; must not grant "other" write.
        group: group name or gid owning the socket (default: the process's group).
        allow_uids: peer uids allowed to connect; default = this uid, root, and the socket's group.
        client_buffer: bytes queued per client before that client is dropped.
    """

    def __init__(self, path: str | Path, *, mode: int = 0o660, group: str | int | None = None,
                 allow_uids: set[int] | None = None, client_buffer: int = 1 << 20, maxsize: int = 1024) -> None:
        self.path = Path(path)
        self.url = f"unix://{self.path}"
        if mode & stat.S_IWOTH or mode & stat.S_IROTH:
            raise SinkError(f"unix sink mode {mode:o} would let any user read or write windows; use 0660 or stricter")
        self.allow_uids, self.client_buffer = allow_uids, client_buffer
        self._clients: list[_Client] = []
        self._lock = threading.Lock()
        try:
            self.gid = grp.getgrnam(group).gr_gid if isinstance(group, str) else (os.getgid() if group is None else group)
        except KeyError as exc:
            raise SinkError(f"unix sink group {group!r} does not exist") from exc
        try:
            self._server = self._listen(mode)
        except OSError as exc:
            raise SinkError(f"cannot create unix sink {self.path}: {exc.strerror or exc}") from exc
        super().__init__(maxsize=maxsize)
        self.stats: UnixStats = UnixStats()
        self._accepting = True
        self._acceptor = threading.Thread(target=self._accept_loop, name="unix-sink-accept", daemon=True)
        self._acceptor.start()

    @classmethod
    def from_url(cls, url: str) -> UnixSink:
        u = urlsplit(url)
        q = url_options(u.query)
        path = unquote(u.netloc + u.path)
        if not path:
            raise SinkError(f"unix sink needs unix:///path/to.sock, got {url!r}")
        try:
            uids = {int(v) for v in q["allow_uids"].split(",")} if "allow_uids" in q else None
            group: str | int | None = q.get("group")
            if isinstance(group, str) and group.isdigit():
                group = int(group)
            return cls(path, mode=int(q.get("mode", "0660"), 8), group=group, allow_uids=uids)
        except ValueError as exc:
            raise SinkError(f"bad unix sink option in {url!r}: {exc}") from exc

    def _listen(self, mode: int) -> socket.socket:
        self.path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        if self.path.exists() or self.path.is_symlink():
            if not stat.S_ISSOCK(self.path.lstat().st_mode):
                raise OSError(f"{self.path} exists and is not a socket; refusing to replace it")
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:  # a live gateway still owns it: do not steal its socket
                probe.connect(str(self.path))
                raise OSError(f"{self.path} is in use by another process")
            except (ConnectionRefusedError, FileNotFoundError):
                self.path.unlink(missing_ok=True)  # stale socket from a crashed run
            finally:
                probe.close()
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # never a window of time with a permissive socket file
        try:
            srv.bind(str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, mode)
        if self.gid != os.getgid():
            os.chown(self.path, -1, self.gid)
        srv.listen(16)
        srv.settimeout(0.2)
        return srv

    def _peer_allowed(self, conn: socket.socket) -> bool:
        if not hasattr(socket, "SO_PEERCRED"):
            return True  # not Linux: rely on the file mode
        _pid, uid, gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        if self.allow_uids is not None:
            return uid in self.allow_uids
        return uid in (0, os.getuid()) or self.gid in peer_groups(conn, uid, gid)

    def _accept_loop(self) -> None:
        while self._accepting:
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._peer_allowed(conn):
                self.stats.clients_refused += 1
                conn.close()
                continue
            conn.setblocking(False)
            with self._lock:
                self._clients.append(_Client(conn))
                self.stats.clients = len(self._clients)
                self.stats.connections += 1

    @property
    def client_count(self) -> int:
        with self._lock:
            return len(self._clients)

    @property
    def clients_dropped(self) -> int:
        return self.stats.clients_dropped

    @property
    def clients_refused(self) -> int:
        return self.stats.clients_refused

    def _write(self, window: AnonymizedWindow) -> None:
        record = window.to_json() + b"\n"
        with self._lock:
            clients = list(self._clients)
        for c in clients:
            c.pending += record
            self._push(c)
            if c.gone or len(c.pending) <= self.client_buffer:
                continue
            if not self._wait(functools.partial(self._room, c, limit=self.client_buffer)) and not c.gone:
                self._drop(c, counted=True)

    def _push(self, c: _Client) -> None:
        """Send what the socket takes now; a client that went away is removed (not counted)."""
        try:
            sent = c.sock.send(c.pending)
            del c.pending[:sent]
        except BlockingIOError:
            pass
        except OSError:  # client went away
            self._drop(c, counted=False)

    def _room(self, c: _Client, timeout: float, limit: int) -> bool:
        """Backpressure on one client: wait up to ``timeout`` for its socket, send; True when at most
        ``limit`` bytes are pending (or it went away)."""
        poller = select.poll()  # poll, not select: no FD_SETSIZE limit
        try:
            poller.register(c.sock, select.POLLOUT)
            poller.poll(timeout * 1000)
        except (OSError, ValueError):
            self._drop(c, counted=False)
        else:
            self._push(c)
        return c.gone or len(c.pending) <= limit

    def _drop(self, c: _Client, *, counted: bool) -> None:
        c.gone = True
        with self._lock:
            if c in self._clients:
                self._clients.remove(c)
            self.stats.clients = len(self._clients)
        if counted:
            self.stats.clients_dropped += 1
            self.stats.last_error = "a slow client was disconnected (send buffer full)"
        c.sock.close()

    def _close(self) -> None:
        self._accepting = False
        self._acceptor.join(1.0)
        self._server.close()
        with self._lock:
            clients = list(self._clients)
        for c in clients:  # hand over what is pending: waited for under backpressure, else what fits now
            if c.pending and not c.gone:
                self._push(c)
                if c.pending and not c.gone:
                    self._wait(functools.partial(self._room, c, limit=0))
        with self._lock:
            for c in self._clients:
                c.sock.close()
            self._clients.clear()
            self.stats.clients = 0
        self.path.unlink(missing_ok=True)
