"""MQTT user/password and TLS against a real mosquitto: delivery, and refusals a gateway user can read.

Connecting is asynchronous (a broker down at boot must not stop acquisition), so a refused login or
an untrusted certificate is not an exception at open: it is one ERROR line on the ``edge_anonymize``
logger, counted in ``stats.errors``; windows stay in the spool and are counted as dropped at close.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

mqtt = pytest.importorskip("paho.mqtt.client")

from edge_runtime.errors import SinkError  # noqa: E402
from edge_runtime.sinks import open_sink  # noqa: E402
from edge_runtime.sinks.mqtt import Deduper, MqttSink  # noqa: E402

from .conftest import Broker, TlsFiles, password_file, window  # noqa: E402

USER, PASSWORD = "gateway", "p@ss:w/rd+%?#"  # every special character must be percent-encoded in the URL
TOPIC = "gw/auth"
N = 20
# paho leaves the SSLSocket of a failed handshake to the garbage collector (ResourceWarning, fd freed by refcount)
PAHO_SSL_LEAK = pytest.mark.filterwarnings("ignore:unclosed <ssl.SSLSocket:ResourceWarning")


class Subscriber:
    """A consumer with credentials (and TLS): keeps each window's decoded payload, deduplicated."""

    def __init__(self, port: int, *, cafile: Path | None = None) -> None:
        self.got: dict[int, dict[str, Any]] = {}
        self.dedupe = Deduper()
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.c.username_pw_set(USER, PASSWORD)
        if cafile is not None:
            self.c.tls_set(ca_certs=str(cafile))
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.c.on_message = self._on_message
        self.c.connect_async("127.0.0.1", port)
        self.c.loop_start()

    def _on_connect(self, c: Any, u: Any, flags: Any, rc: Any, props: Any) -> None:
        if not rc.is_failure:
            c.subscribe(TOPIC, qos=1)

    def _on_message(self, c: Any, u: Any, msg: Any) -> None:
        if not self.dedupe.seen(msg.payload):
            d = json.loads(msg.payload)
            with self.lock:
                self.got[d["window_id"]] = d

    def wait(self, n: int, timeout: float) -> bool:
        return _wait(lambda: len(self.got) >= n, timeout)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _wait(cond: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)
    return cond()


@pytest.fixture
def closing() -> Iterator[list[Any]]:
    """Sinks and subscribers to close even when an assertion fails first (paho threads must not leak)."""
    things: list[Any] = []
    yield things
    for t in reversed(things):
        if isinstance(t, MqttSink):
            t.close(timeout=0.5)
        else:
            t.close()


@pytest.fixture
def auth_broker(make_broker: Callable[..., Broker], tmp_path: Path) -> Broker:
    pw = password_file(tmp_path / "passwd", USER, PASSWORD)
    return make_broker(anonymous=False, extra=f"password_file {pw}\n")


@pytest.fixture
def tls_broker(make_broker: Callable[..., Broker], tmp_path: Path, tls_files: TlsFiles) -> Broker:
    """TLS-only listener that also wants the password: what a broker reachable off the Pi looks like."""
    pw = password_file(tmp_path / "passwd", USER, PASSWORD)
    t = tls_files
    return make_broker(
        anonymous=False, extra=f"cafile {t.ca}\ncertfile {t.cert}\nkeyfile {t.key}\npassword_file {pw}\n"
    )


def _creds(password: str = PASSWORD) -> str:
    return f"{quote(USER, safe='')}:{quote(password, safe='')}"


def _deliver(url: str, port: int, closing: list[Any], *, cafile: Path | None = None) -> MqttSink:
    """Send N windows through the sink built from ``url``; the subscriber must get each, unaltered."""
    sub = Subscriber(port, cafile=cafile)
    closing.append(sub)
    assert sub.subscribed.wait(10), "subscriber never subscribed"
    sink = open_sink(url)
    closing.append(sink)
    assert isinstance(sink, MqttSink)
    assert _wait(sink._client.is_connected, 10), f"sink never connected: {sink.stats.last_error}"
    for i in range(N):
        sink.send(window(i))
    assert sub.wait(N, 10), f"got {sorted(sub.got)}"
    sink.close(timeout=5)
    assert sorted(sub.got) == list(range(N))
    for i in range(N):  # decoded content, not just a count: the record plus its place in the spool
        got = dict(sub.got[i])
        assert (got.pop("seq"), got.pop("epoch")) == (i, sink.epoch) and got == window(i).to_dict()
    assert (sink.stats.sent, sink.stats.dropped, sink.stats.errors, sink.connects) == (N, 0, 0, 1)
    assert PASSWORD not in sink.url and quote(PASSWORD, safe="") not in sink.url
    return sink


def _one_error_line(caplog: pytest.LogCaptureFixture, *needles: str) -> str:
    errors = [r for r in caplog.records if r.name == "edge_anonymize" and r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    msg = errors[0].getMessage()
    assert "\n" not in msg and errors[0].exc_info is None, msg  # one line, no traceback
    assert all(n in msg for n in needles), msg
    assert PASSWORD not in caplog.text and quote(PASSWORD, safe="") not in caplog.text
    return msg


def _refused(sink: MqttSink, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str], sent: int,
             errors: int = 1) -> None:  # fmt: skip
    """Nothing delivered, every attempt counted, and closing counts the spooled windows as dropped."""
    assert _wait(lambda: sink.stats.errors >= errors, 10), "the refusal was never counted"
    assert not sink._client.is_connected() and sink.stats.sent == 0 and sink.unacked == sent
    t0 = time.monotonic()
    sink.close(timeout=5)
    assert time.monotonic() - t0 < 3, "close hung on a broker that refuses us"
    assert sink.stats.dropped == sent and sink.unacked == 0
    assert any(f"{sent} window(s) never acknowledged" in r.getMessage() for r in caplog.records)
    assert "Traceback" not in capfd.readouterr().err


def _send_refused(url: str, n: int, closing: list[Any], caplog: pytest.LogCaptureFixture,
                  capfd: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """Open ``url``, send ``n`` windows to a broker that will not take them, check the refusal."""
    caplog.set_level(logging.INFO, logger="edge_anonymize")
    sink = open_sink(url)
    closing.append(sink)
    assert isinstance(sink, MqttSink)
    for i in range(n):
        sink.send(window(i))
    _refused(sink, caplog, capfd, sent=n)


# -- username / password ------------------------------------------------------------------------


def test_password_with_special_characters_delivers(auth_broker: Broker, closing: list[Any]) -> None:
    _deliver(f"mqtt://{_creds()}@127.0.0.1:{auth_broker.port}/{TOPIC}?qos=1", auth_broker.port, closing)


@pytest.mark.parametrize("creds", [_creds("p@ss:w/rd"), _creds(PASSWORD[:-1]), ""], ids=["wrong", "truncated", "none"])
def test_refused_login_is_one_error_line_and_counted(
    creds: str, auth_broker: Broker, closing: list[Any], caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    caplog.set_level(logging.INFO, logger="edge_anonymize")
    sub = Subscriber(auth_broker.port)
    closing.append(sub)
    assert sub.subscribed.wait(10)
    at = f"{creds}@" if creds else ""
    sink = open_sink(f"mqtt://{at}127.0.0.1:{auth_broker.port}/{TOPIC}?qos=1")  # no exception: broker may be late
    closing.append(sink)
    assert isinstance(sink, MqttSink)
    for i in range(5):
        sink.send(window(i))
    # the retry after 1 s is refused again: counted, but the journal gets the line once
    _refused(sink, caplog, capfd, sent=5, errors=2)
    msg = _one_error_line(caplog, "Not authorized", "check user and password", f"127.0.0.1:{auth_broker.port}")
    assert sink.stats.last_error in msg
    time.sleep(0.2)
    assert sub.got == {}  # the subscriber (right credentials) saw nothing from the refused sink


# -- TLS ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["tls=yes&cafile={ca}", "mqtts"], ids=["127.0.0.1+tls=yes", "mqtts+localhost"])
def test_tls_with_the_ca_delivers(form: str, tls_broker: Broker, tls_files: TlsFiles, closing: list[Any]) -> None:
    ca = quote(str(tls_files.ca))
    if form == "mqtts":  # hostname checked against the DNS subjectAltName
        url = f"mqtts://{_creds()}@localhost:{tls_broker.port}/{TOPIC}?cafile={ca}"
    else:  # ... and here against the IP subjectAltName
        url = f"mqtt://{_creds()}@127.0.0.1:{tls_broker.port}/{TOPIC}?{form.format(ca=ca)}"
    sink = _deliver(url, tls_broker.port, closing, cafile=tls_files.ca)
    assert sink.url.startswith("mqtts://")


@PAHO_SSL_LEAK
def test_tls_untrusted_ca_is_one_error_line(
    tls_broker: Broker, tls_files: TlsFiles, closing: list[Any], caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    url = f"mqtt://{_creds()}@127.0.0.1:{tls_broker.port}/{TOPIC}?tls=yes&cafile={quote(str(tls_files.other_ca))}"
    _send_refused(url, 3, closing, caplog, capfd)
    _one_error_line(caplog, "TLS connection failed", "CERTIFICATE_VERIFY_FAILED", "cafile=")


def test_plain_mqtt_to_a_tls_port_is_one_error_line(
    tls_broker: Broker, closing: list[Any], caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    _send_refused(f"mqtt://{_creds()}@127.0.0.1:{tls_broker.port}/{TOPIC}", 3, closing, caplog, capfd)
    _one_error_line(caplog, "closed the connection before accepting it", "tls=yes")


@PAHO_SSL_LEAK
def test_tls_to_a_plain_port_is_one_error_line(
    auth_broker: Broker, tls_files: TlsFiles, closing: list[Any], caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    url = f"mqtts://{_creds()}@127.0.0.1:{auth_broker.port}/{TOPIC}?cafile={quote(str(tls_files.ca))}"
    _send_refused(url, 1, closing, caplog, capfd)
    _one_error_line(caplog, "TLS connection failed")


@pytest.mark.parametrize("content", [None, "not a certificate\n"], ids=["missing", "not-pem"])
def test_unusable_cafile_is_a_sink_error_at_open(content: str | None, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    if content is not None:
        ca.write_text(content)
    with pytest.raises(SinkError) as exc:  # port 9 (discard): nothing is connected before the check
        open_sink(f"mqtt://{_creds()}@127.0.0.1:9/{TOPIC}?tls=yes&cafile={quote(str(ca))}")
    msg = str(exc.value)
    assert "\n" not in msg and "CA file" in msg and str(ca) in msg and PASSWORD not in msg
