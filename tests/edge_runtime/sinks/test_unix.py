"""Unix sink clients: counted in its stats (so the status line says when nobody reads or a slow reader
was cut off), and ``?group=`` admits members through a supplementary group, as the socket's mode does.

Before: a slow client's disconnect showed only in ``last_error`` (``errors: 0``, ``dropped: 0``), a
socket nobody ever read printed ``=69/0``, and a peer in the group only as a supplementary group was
let in by the kernel and then refused by the sink (0 bytes)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from edge_runtime.metrics import Metrics
from edge_runtime.sinks import open_sink
from edge_runtime.sinks.unix import UnixSink, peer_groups

from .conftest import window


def wait_for(pred: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return False


def status(sink: UnixSink) -> str:
    m = Metrics()
    m.section("sinks", lambda: {"unix": asdict(sink.stats)})
    return m.status_line()


def test_a_socket_nobody_read_says_clients_0(tmp_path: Path) -> None:
    sink = UnixSink(tmp_path / "w.sock")
    for i in range(3):
        sink.send(window(i))
    sink.close()
    assert "unix=3/0[clients=0]" in status(sink)


def test_clients_and_a_slow_client_disconnect_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "w.sock"
    sink = UnixSink(path, client_buffer=16 * 1024)
    lazy = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lazy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    lazy.connect(str(path))  # never reads
    assert wait_for(lambda: sink.stats.clients == 1)
    assert "[clients=1,connections=1]" in status(sink)
    for i in range(300):
        sink.send(window(i))
    assert wait_for(lambda: sink.stats.clients_dropped == 1, 20)
    assert sink.stats.clients == 0 and sink.clients_dropped == 1
    assert "[clients=0,connections=1,clients_dropped=1]" in status(sink)
    sink.close()
    lazy.close()


def test_peer_groups_lists_the_supplementary_groups_of_a_peer() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        assert peer_groups(a, os.getuid(), os.getgid()) >= {os.getgid(), *os.getgroups()}


@pytest.fixture()
def shared_dir() -> Iterator[Path]:
    """A folder another uid can traverse (pytest's tmp_path is the owner's only)."""
    folder = Path(tempfile.mkdtemp(prefix="unix-group-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def read_as(path: Path, uid: int, gid: int, groups: list[int], lines: int) -> tuple[int, int]:
    """Fork a reader with other credentials (a real process, as a service user would be); returns its
    pid and a pipe end that yields what it read, or ``ERR ...``."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no pytest, no threads, only syscalls
        code = 0
        try:
            os.close(r)
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.settimeout(10)
            c.connect(str(path))
            buf = b""
            while buf.count(b"\n") < lines:
                chunk = c.recv(65536)
                if not chunk:
                    break
                buf += chunk
            os.write(w, buf)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, never raised in a fork
            os.write(w, f"ERR {type(exc).__name__}: {exc}".encode())
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    return pid, r


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start a reader with other uid/groups")
def test_a_member_through_a_supplementary_group_gets_the_windows(shared_dir: Path) -> None:
    group, stranger_uid, stranger_gid = 34567, 12345, 23456  # ids no one on the machine uses
    path = shared_dir / "w.sock"
    sink = open_sink(f"unix://{path}?group={group}")
    assert isinstance(sink, UnixSink) and path.stat().st_gid == group
    pid, r = read_as(path, stranger_uid, stranger_gid, [group], lines=3)
    try:
        assert wait_for(lambda: sink.client_count == 1 or sink.clients_refused > 0)
        for i in range(3):
            sink.send(window(i))
        got = b""
        while chunk := os.read(r, 65536):
            got += chunk
    finally:
        os.close(r)
        _, code = os.waitpid(pid, 0)
        sink.close()
    assert sink.clients_refused == 0, "the peer check compared the primary group only"
    assert code == 0, got.decode(errors="replace")
    assert [json.loads(x)["window_id"] for x in got.splitlines()] == [0, 1, 2]
