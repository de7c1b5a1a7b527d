"""Every sink with real parts: a Unix socket, UDP on loopback, files under SIGKILL, stdout."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.errors import SinkError
from edge_runtime.sinks import MemorySink, QueuedSink, open_sink
from edge_runtime.sinks.file import FileSink, repair_tail
from edge_runtime.sinks.simple import StdoutSink, UdpSink
from edge_runtime.sinks.unix import UnixSink

from .conftest import window

ROOT = Path(__file__).resolve().parents[3]


def wait_for(pred, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("url", ["gopher://x", "nothing", "udp://127.0.0.1", "file://", "unix://"])
def test_bad_urls_are_one_line_sink_errors(url: str) -> None:
    with pytest.raises(SinkError) as e:
        open_sink(url)
    assert "\n" not in str(e.value)


def test_sinks_refuse_anything_but_anonymized_windows(tmp_path: Path) -> None:
    raw = np.zeros((128, 2), np.float32)
    for sink in (MemorySink(), FileSink(tmp_path / "w.jsonl"), StdoutSink(io.BytesIO())):
        with pytest.raises(TypeError, match="only AnonymizedWindow"):
            sink.send(raw)  # type: ignore[arg-type]
        sink.close()


def test_a_record_cannot_be_changed_by_one_of_the_sinks_sharing_it() -> None:
    w = window(0)
    with pytest.raises(AttributeError):
        w.data = np.zeros((1, 2), np.float32)  # type: ignore[misc]
    assert w._replace(window_id=7).window_id == 7 and w.window_id == 0  # a copy, not an edit


def test_stdout_writes_json_lines() -> None:
    buf = io.BytesIO()
    s = StdoutSink(buf)
    for i in range(5):
        s.send(window(i))
    s.close()
    lines = buf.getvalue().splitlines()
    assert [json.loads(x)["window_id"] for x in lines] == list(range(5))
    assert s.stats.sent == 5 and s.stats.dropped == 0


def test_udp_datagrams_arrive_and_oversize_is_counted() -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5)
    sink = open_sink(f"udp://127.0.0.1:{rx.getsockname()[1]}")
    assert isinstance(sink, UdpSink)
    for i in range(3):
        sink.send(window(i))
    got = [json.loads(rx.recv(65535))["window_id"] for _ in range(3)]
    sink.send(window(1, channels=120))  # 128 x 120 values: larger than one datagram
    sink.close()
    rx.close()
    assert got == [0, 1, 2]
    assert sink.stats.sent == 3 and sink.stats.errors == 1 and "datagram" in sink.stats.last_error


def test_file_sink_appends_and_rotates(tmp_path: Path) -> None:
    path = tmp_path / "w.jsonl"
    s = open_sink(f"file://{path}?max_bytes=8000")
    for i in range(12):
        s.send(window(i))
    s.close()
    rotated = path.with_name("w.jsonl.1")
    ids = [json.loads(x)["window_id"] for f in (rotated, path) for x in f.read_bytes().splitlines()]
    assert rotated.is_file() and ids == list(range(ids[0], 12)) and ids[0] > 0  # newest rotation + current file, whole records
    assert stat.S_IMODE(path.stat().st_mode) & 0o007 == 0


def test_torn_tail_is_repaired(tmp_path: Path) -> None:
    p = tmp_path / "w.jsonl"
    good = window(1).to_json() + b"\n"
    p.write_bytes(good + good + b'{"type":"anonymized_window","data":[[0.1,')
    assert repair_tail(p) > 0 and p.read_bytes() == good + good
    p.write_bytes(good + b"\x00" * 40 + b"\n")  # zero-filled block after power loss
    repair_tail(p)
    assert p.read_bytes() == good


def test_sigkill_mid_write_leaves_only_whole_records(tmp_path: Path) -> None:
    path = tmp_path / "w.jsonl"
    child = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(Path(__file__).parent)!r})
        from conftest import window
        from edge_runtime.sinks.file import FileSink
        s = FileSink({str(path)!r}, maxsize=100000)
        i = 0
        while True:
            s.send(window(i, channels=6)); i += 1
    """)
    proc = subprocess.Popen([sys.executable, "-c", child])
    assert wait_for(lambda: path.exists() and path.stat().st_size > 200_000, 60)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    FileSink(path).close()  # reopening repairs a torn tail
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""  # ends on a whole record
    ids = [json.loads(x)["window_id"] for x in lines[:-1]]
    assert ids == list(range(len(ids))) and len(ids) > 10


def _client(path: Path) -> socket.socket:
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(str(path))
    return c


def test_unix_socket_mode_and_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "run" / "windows.sock"
    sink = open_sink(f"unix://{path}")
    assert isinstance(sink, UnixSink)
    assert stat.S_ISSOCK(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o660
    c = _client(path)
    assert wait_for(lambda: sink.client_count == 1)
    for i in range(4):
        sink.send(window(i))
    c.settimeout(5)
    buf = b""
    while buf.count(b"\n") < 4:
        buf += c.recv(65536)
    assert [json.loads(x)["window_id"] for x in buf.splitlines()] == [0, 1, 2, 3]
    c.close()
    sink.close()
    assert not path.exists()


def test_unix_world_readable_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="any user"):
        open_sink(f"unix://{tmp_path}/w.sock?mode=0666")


def test_unix_slow_client_never_blocks_and_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "w.sock"
    sink = UnixSink(path, client_buffer=64 * 1024)
    lazy = _client(path)  # never reads
    assert wait_for(lambda: sink.client_count == 1)
    t0 = time.monotonic()
    for i in range(2000):
        sink.send(window(i))
    assert time.monotonic() - t0 < 2.0  # send() only enqueues
    assert wait_for(lambda: sink.clients_dropped == 1, 20)
    sink.close()
    lazy.close()


def test_unix_peer_credentials_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "w.sock"
    sink = UnixSink(path, allow_uids={os.getuid() + 12345})
    c = _client(path)
    assert wait_for(lambda: sink.clients_refused == 1)
    assert sink.client_count == 0
    c.close()
    sink.close()


def test_unix_refuses_to_steal_a_live_socket(tmp_path: Path) -> None:
    path = tmp_path / "w.sock"
    first = UnixSink(path)
    with pytest.raises(SinkError, match="in use"):
        UnixSink(path)
    first.close()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))  # a stale socket file from a crashed run is replaced
    stale.close()
    UnixSink(path).close()


def test_url_options_and_flags_are_parsed_once_for_every_sink() -> None:
    from edge_runtime.sinks.base import flag, url_options

    assert url_options("fsync=0&fsync=1&max_bytes=9") == {"fsync": "1", "max_bytes": "9"}
    assert [flag(v) for v in ("1", "true", "YES", "0", "no", "", None)] == [True, True, True, False, False, False, False]


class GatedSink(QueuedSink):
    """Writes only while ``go`` is set: a sink that can be stalled and revived at will."""

    url = "gated://"

    def __init__(self, maxsize: int = 2) -> None:
        self.go, self.ids = threading.Event(), []
        super().__init__(maxsize=maxsize)

    def _write(self, window) -> None:  # type: ignore[no-untyped-def]
        self.go.wait(30)
        self.ids.append(window.window_id)


def test_backpressure_waits_for_room_instead_of_dropping() -> None:
    sink = GatedSink()
    sink.apply_backpressure(wait_s=5.0)
    threading.Timer(0.3, sink.go.set).start()
    for i in range(20):  # far more than the queue holds: send waits for the writer
        sink.send(window(i))
    assert sink.flush()
    sink.close()
    assert sink.ids == list(range(20)) and (sink.stats.sent, sink.stats.dropped) == (20, 0)


def test_a_stalled_sink_drops_after_the_bounded_wait_then_recovers(caplog: pytest.LogCaptureFixture) -> None:
    sink = GatedSink()
    sink.apply_backpressure(wait_s=0.5)
    for i in range(3):  # one in the writer, two queued: full
        sink.send(window(i))
    assert wait_for(lambda: sink._q.full())
    t0 = time.monotonic()
    for i in range(3, 8):
        sink.send(window(i))  # the first waits 0.5 s, the next drop at once: the sink is stalled
    assert time.monotonic() - t0 < 4 * 0.5  # not five waits
    assert sink.stats.dropped == 5 and "no progress" in sink.stats.last_error
    assert sum("made no progress" in r.getMessage() for r in caplog.records) == 1  # one line, not one per window
    sink.go.set()
    assert wait_for(lambda: not sink._q.full())
    sink.send(window(8))  # room again: waiting resumes
    assert sink.flush()
    sink.close()
    assert sink.ids == [0, 1, 2, 8] and sink.stats.sent == 4


def test_close_counts_what_it_had_to_abandon(caplog: pytest.LogCaptureFixture) -> None:
    sink = GatedSink(maxsize=10)
    for i in range(6):
        sink.send(window(i))
    sink.close(timeout=0.2)  # the writer is stuck on window 0; 1-5 can never be written
    assert sink.stats.dropped == 5 and any("still queued at close" in r.getMessage() for r in caplog.records)
    sink.go.set()


def test_live_sink_never_waits() -> None:
    sink = GatedSink()
    t0 = time.monotonic()
    for i in range(50):
        sink.send(window(i))
    assert time.monotonic() - t0 < 1.0 and sink.stats.dropped >= 47
    sink.go.set()
    sink.close()


def test_unix_slow_client_gets_every_window_under_backpressure(tmp_path: Path) -> None:
    path = tmp_path / "w.sock"
    sink = UnixSink(path, client_buffer=16 * 1024, maxsize=4)
    sink.apply_backpressure(wait_s=5.0)
    c = _client(path)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    assert wait_for(lambda: sink.client_count == 1)
    got = bytearray()

    def read_slowly() -> None:
        while chunk := c.recv(4096):
            got.extend(chunk)
            time.sleep(0.001)

    reader = threading.Thread(target=read_slowly)
    reader.start()
    for i in range(400):  # ~600 KB: 40x the client buffer
        sink.send(window(i))
    assert sink.flush()
    sink.close()
    reader.join(10)
    c.close()
    assert [json.loads(x)["window_id"] for x in got.splitlines()] == list(range(400))
    assert sink.clients_dropped == 0 and (sink.stats.sent, sink.stats.dropped) == (400, 0)
