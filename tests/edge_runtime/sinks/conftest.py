"""Sink test helpers: windows to send, a real mosquitto broker on a free loopback port, and the
password file and throwaway TLS certificates its authenticated listeners need."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


def need(tool: str) -> str:
    """The path of a command-line tool, or skip the test saying how to get it."""
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} not installed (apt-get install {'openssl' if tool == 'openssl' else 'mosquitto'})")
    return path


def wait_port(port: int, timeout: float = 10.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"broker did not listen on {port}")


class Broker:
    """A real mosquitto process that tests can kill -9 and restart on the same port.

    ``extra`` lines follow the ``listener`` line, so listener options (``certfile``...) apply to it.
    """

    def __init__(self, tmp: Path, *, anonymous: bool = True, extra: str = "") -> None:
        self.port = free_port()
        self.conf = tmp / "mosquitto.conf"
        self.log = tmp / "mosquitto.log"
        # as root mosquitto switches to user "mosquitto", which cannot read keys under tmp_path
        user = "user root\n" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
        self.conf.write_text(f"{user}allow_anonymous {str(anonymous).lower()}\npersistence false\n"
                             f"listener {self.port} 127.0.0.1\n{extra}")  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen([shutil.which("mosquitto") or "mosquitto", "-c", str(self.conf)],
                                         stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
        try:
            wait_port(self.port, proc=self.proc)
        except RuntimeError as exc:
            self.kill()
            raise RuntimeError(f"{exc}: {self.log.read_text(errors='replace')[-500:]}") from None

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


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """``make_broker(anonymous=False, extra="password_file ...")``: started brokers, killed at teardown."""
    need("mosquitto")
    started: list[Broker] = []

    def make(*, anonymous: bool = True, extra: str = "") -> Broker:
        tmp = tmp_path / f"broker{len(started)}"
        tmp.mkdir()
        b = Broker(tmp, anonymous=anonymous, extra=extra)
        started.append(b)
        b.start()
        return b

    yield make
    for b in started:
        b.kill()


def password_file(path: Path, user: str, password: str) -> Path:
    """A mosquitto password file holding one user (``mosquitto_passwd -b -c``)."""
    subprocess.run([need("mosquitto_passwd"), "-b", "-c", str(path), user, password], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)  # fmt: skip
    return path


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA, a server certificate it signed for localhost/127.0.0.1, and an unrelated CA."""

    ca: Path
    cert: Path
    key: Path
    other_ca: Path


_OPENSSL_CNF = """[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
subjectAltName = DNS:localhost,IP:127.0.0.1
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """EC P-256 keys (fast to make); extensions strict enough for Python's X509 strict verification."""
    openssl = need("openssl")
    d = tmp_path_factory.mktemp("tls")
    (d / "openssl.cnf").write_text(_OPENSSL_CNF)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-config", "openssl.cnf"]

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True, timeout=60)

    for name in ("ca", "other_ca"):
        run("req", "-x509", *key, "-extensions", "ca", "-days", "2", "-subj", f"/CN=edge-anonymize test {name}",
            "-keyout", f"{name}.key", "-out", f"{name}.crt")  # fmt: skip
    run("req", "-new", *key, "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", "2", "-days", "2",
        "-extfile", "openssl.cnf", "-extensions", "server", "-out", "server.crt")  # fmt: skip
    return TlsFiles(d / "ca.crt", d / "server.crt", d / "server.key", d / "other_ca.crt")
