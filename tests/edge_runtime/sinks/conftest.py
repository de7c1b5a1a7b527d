"""Sink test helpers: windows to send, and a real mosquitto broker on a free loopback port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.sinks import AnonymizedWindow


def window(i: int, *, stream: str = "imu", channels: int = 2) -> AnonymizedWindow:
    data = np.full((128, channels), 0.25 * (i % 7), np.float32)
    return AnonymizedWindow(i, stream, 64 * i, None, 1.7e9 + i, 50.0, ("acc_mag", "gyro_mag")[:channels] if channels == 2
                            else tuple(f"c{k}" for k in range(channels)), ("m/s^2", "rad/s")[:channels] if channels == 2
                            else ("u",) * channels, data, (), "test")  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"broker did not listen on {port}")


class Broker:
    """A real mosquitto process that tests can kill -9 and restart on the same port."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.conf = tmp / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([shutil.which("mosquitto") or "mosquitto", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        wait_port(self.port)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if shutil.which("mosquitto") is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto; .ci/run installs it)")
    b = Broker(tmp_path)
    b.start()
    yield b
    b.kill()
