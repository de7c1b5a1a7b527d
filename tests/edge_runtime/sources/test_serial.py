"""The serial source over a real pty (pyserial ``test_pty.py`` style): exclusive, timeouts, unplug."""

from __future__ import annotations

import time

import pytest

from edge_runtime.errors import SourceError
from edge_runtime.sources import open_source
from edge_runtime.sources.serial import SerialSource

from ..conftest import PtyWriter


@pytest.fixture()
def pty():
    w = PtyWriter()
    yield w
    w.close()


def test_reads_bytes_and_times_out(pty):
    with SerialSource(pty.path) as src:
        pty.write(b"\x01\x02\x03")
        got = b""
        deadline = time.monotonic() + 5
        while len(got) < 3 and time.monotonic() < deadline:
            got += src.read(0.2)
        assert got == b"\x01\x02\x03"
        t0 = time.monotonic()
        assert src.read(0.2) == b""
        assert time.monotonic() - t0 < 3


def test_open_is_exclusive(pty):
    with SerialSource(pty.path):
        with pytest.raises(SourceError, match="lock"):
            SerialSource(pty.path).open()


def test_unplug_raises_source_error_and_reopen_fails_cleanly(pty):
    src = SerialSource(pty.path)
    src.open()
    pty.unplug()
    with pytest.raises(SourceError, match="lost") as e:
        for _ in range(20):
            src.read(0.2)
    assert "\n" not in str(e.value)
    src.close()
    src.close()  # twice is fine
    with pytest.raises(SourceError, match="cannot open"):
        src.open()


def test_urls():
    s = open_source("serial:///dev/imu0?baud=230400")
    assert isinstance(s, SerialSource) and (s.port, s.baud) == ("/dev/imu0", 230400)
    assert open_source("/dev/ttyUSB0").port == "/dev/ttyUSB0"
    with pytest.raises(SourceError, match="baud"):
        open_source("serial:///dev/imu0?baud=fast")
    with pytest.raises(SourceError, match="baud 12 is not a standard rate"):
        open_source("serial:///dev/imu0?baud=12")
    assert open_source("serial:///dev/imu0?baud=921600").baud == 921600
    with pytest.raises(SourceError, match="unknown source scheme"):
        open_source("bogus://x")


def test_nonexistent_port_is_a_one_line_error(tmp_path):
    with pytest.raises(SourceError, match="cannot open serial port") as e:
        SerialSource(str(tmp_path / "ttyNOPE")).open()
    assert "\n" not in str(e.value)
