"""An unpaced replay into any sink loses no window: the real CLI and pipeline on the bundled sample at
``--speed 0 --stride 1`` (4,373 windows from 4,500 samples). Before backpressure the file sink wrote
about 2,600 of them and counted the rest as dropped."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from edge_runtime.cli import DEFAULT_BUNDLE, SAMPLE_TRACE
from edge_runtime.config import from_dict
from edge_runtime.interpreter import Anonymizer
from edge_runtime.manifest import load
from edge_runtime.pipeline import Pipeline
from edge_runtime.sinks import MemorySink, open_sink
from edge_runtime.sinks.unix import UnixSink
from edge_runtime.sources.replay import ReplaySource

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = 4500 - 128 + 1  # stride 1


def run_cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    argv = [sys.executable, "-m", "edge_runtime.cli", "--replay", str(SAMPLE_TRACE), "--speed", "0", "--stride", "1",
            "--status-interval", "0", *args]  # fmt: skip
    return subprocess.run(argv, capture_output=True, timeout=120, cwd=ROOT, env=env)


def test_cli_unpaced_replay_into_a_file_writes_every_window(tmp_path: Path) -> None:
    out, metrics = tmp_path / "w.jsonl", tmp_path / "m.json"
    r = run_cli("--sink", f"file://{out}", "--metrics-file", str(metrics))
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    ids = [json.loads(x)["window_id"] for x in out.read_bytes().splitlines()]
    assert ids == list(range(EXPECTED))
    stats = json.loads(metrics.read_text())["sinks"][f"file://{out}"]
    assert (stats["sent"], stats["dropped"], stats["errors"]) == (EXPECTED, 0, 0)


def test_cli_unpaced_replay_into_stdout_writes_every_window() -> None:
    r = run_cli("--sink", "stdout://")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert [json.loads(x)["window_id"] for x in r.stdout.splitlines()] == list(range(EXPECTED))
    assert f"stdout://={EXPECTED}/0" in r.stderr.decode()


@pytest.fixture(scope="module")
def shipped():  # type: ignore[no-untyped-def]
    m = load(DEFAULT_BUNDLE)
    return m, Anonymizer(m)


def _replay(shipped, sinks) -> Pipeline:  # type: ignore[no-untyped-def]
    m, anonymizer = shipped
    p = Pipeline(ReplaySource(SAMPLE_TRACE, speed=0), m, anonymizer, sinks,
                 from_dict({"runtime": {"status_interval_s": 0}, "window": {"stride": 1}}))  # fmt: skip
    p.run()
    assert p.metrics.counters["windows"] == EXPECTED
    return p


def test_unpaced_replay_into_unix_file_udp_and_memory_at_once(shipped, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """One replay, four sinks: the unix client (reading slowly through a small buffer) gets every window."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    unix = UnixSink(tmp_path / "w.sock", client_buffer=32 * 1024)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    client.connect(str(tmp_path / "w.sock"))
    got = bytearray()

    def read() -> None:
        while chunk := client.recv(8192):
            got.extend(chunk)

    reader = threading.Thread(target=read)
    sinks = [unix, open_sink(f"file://{tmp_path}/w.jsonl"), open_sink(f"udp://127.0.0.1:{rx.getsockname()[1]}"),
             MemorySink()]  # fmt: skip
    for _ in range(1000):  # at most 10 s for the acceptor thread
        if unix.client_count:
            break
        threading.Event().wait(0.01)
    assert unix.client_count == 1
    reader.start()
    _replay(shipped, sinks)
    reader.join(30)
    client.close()
    rx.close()
    assert [json.loads(x)["window_id"] for x in got.splitlines()] == list(range(EXPECTED))
    assert unix.clients_dropped == 0
    for s in sinks:  # UDP: every window handed to the kernel; a datagram lost on the wire is not visible here
        assert (s.stats.sent, s.stats.dropped, s.stats.errors) == (EXPECTED, 0, 0), s.url
