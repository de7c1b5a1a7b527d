"""``mqtt://[user:pass@]host:port/topic?qos=1&spool=4096``: windows to an MQTT broker (paho-mqtt 2.x).

A broker's PUBACK is not delivery: a hard-killed broker loses what it acknowledged, and a full
subscriber queue drops silently. So every window goes out with ``epoch``/``seq`` (mqtt_wire.py),
the sink keeps a bounded spool of them (spool.py; on disk with ``spool_dir=``, surviving a
restart), publishes the spool's range retained on ``<topic>/spool`` and republishes the ranges a
consumer asks for on ``<topic>/replay``. ``edge_runtime.consumer`` is that consumer; docs/mqtt.md
has the protocol, the options and what is lost when the spool overflows.

Connecting is asynchronous (a broker down at boot must not stop acquisition; windows sent before
the first CONNACK wait in the spool like any other) and reconnects back off exponentially,
capped at ``reconnect_max`` (5 s). New windows and replays go out in turn, never more than
``inflight`` unacknowledged nor ``rate`` per second, so a burst after an outage does not
overflow a subscriber's broker queue (mosquitto's default: 1000). mqtt_link.py runs all that.

``stats.sent`` counts windows the broker acknowledged (QoS 1) or that were written (QoS 0);
``stats.dropped`` those that left the spool first, or that were still unacknowledged at ``close``
(with ``spool_dir`` those stay on disk and go out at the next start instead). Under backpressure
(a recording) ``send`` waits while half the spool is unacknowledged windows, bounded as in base.py:
the other half stays replayable.

Authentication and TLS: ``mqtt://user:pass@host/topic`` (percent-encode ``@ : /`` in the password),
``?tls=yes&cafile=/etc/ssl/broker-ca.pem`` or ``mqtts://`` (port 8883). A refused login, an
untrusted certificate or a TLS/plain mismatch is logged once per distinct reason as one line
(``edge_anonymize`` logger), counted in ``stats.errors`` and kept in ``stats.last_error``, while
windows wait in the spool. A CA file that cannot be read is a ``SinkError`` at open.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from ..errors import SinkError
from .base import AnonymizedWindow, Sink, flag, url_options
from .mqtt_link import Link
from .mqtt_wire import Backoff, Deduper, Pacer, encode_record
from .spool import DiskSpool, Spool

__all__ = ["MqttSink", "Deduper"]

log = logging.getLogger("edge_anonymize")
OPTIONS = ("qos", "client_id", "tls", "cafile", "spool", "spool_mb", "spool_dir", "rate", "inflight", "head",
           "replay_max", "reconnect_min", "reconnect_max")  # fmt: skip


def _redacted(url: str) -> str:
    u = urlsplit(url)
    return u._replace(netloc=f"{u.username}:***@{u.hostname}:{u.port}").geturl() if u.password else url


class MqttSink(Sink):
    """Publish every window with its spool position; republish what consumers ask for.

    Args:
        host, port, topic: broker and topic (no ``+``/``#``).
        qos: 0 or 1 (1 recommended).
        username, password, tls, cafile: broker authentication and TLS.
        spool, spool_mb: spool bounds in windows and MiB (4096 windows ≈ 87 min at 50 Hz, stride 64).
        spool_dir: keep the spool in ``spool_dir/<topic>`` (``spool_dir`` must exist): survives a restart.
        rate, inflight: at most ``rate`` messages/s (0: unpaced) and ``inflight`` unacknowledged.
        head_s: republish the retained spool range at most this often while windows flow (0: only on
            connect and after replays).
        replay_max: most windows one replay request gets.
        reconnect_min, reconnect_max: reconnect backoff [s].
        clock: monotonic time [s] for backoff, pacing and the spool range timer.
    """

    def __init__(self, host: str, port: int = 1883, topic: str = "edge-anonymize/windows", *, qos: int = 1,
                 client_id: str = "", username: str | None = None, password: str | None = None,
                 tls: bool = False, cafile: str | None = None, spool: int = 4096, spool_mb: float = 32.0,
                 spool_dir: str | None = None, rate: float = 200.0, inflight: int = 20, head_s: float = 5.0,
                 replay_max: int = 1000, reconnect_min: float = 1.0, reconnect_max: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        super().__init__()
        try:
            import paho.mqtt.client as mqtt
            from paho.mqtt.enums import CallbackAPIVersion
        except ImportError as exc:
            raise SinkError("the MQTT sink needs paho-mqtt: pip install 'edge-anonymize[mqtt]'") from exc
        if qos not in (0, 1):
            raise SinkError(f"MQTT sink qos must be 0 or 1, got {qos}")
        if not topic or "+" in topic or "#" in topic:
            raise SinkError(f"MQTT sink topic must be non-empty without + or #, got {topic!r}")
        if inflight < 1 or replay_max < 1 or head_s < 0 or spool_mb <= 0:
            raise SinkError("MQTT sink needs inflight >= 1, replay_max >= 1, head >= 0 and spool_mb > 0")
        try:
            backoff, pacer = Backoff(reconnect_min, reconnect_max), Pacer(rate, inflight)
        except ValueError as exc:
            raise SinkError(f"bad MQTT sink option: {exc}") from None
        self.url = f"{'mqtts' if tls or cafile else 'mqtt'}://{host}:{port}/{topic}"  # never the password
        self._client = client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        if username is not None:
            client.username_pw_set(username, password)
        if tls or cafile:
            try:
                client.tls_set(ca_certs=cafile)
            except (OSError, ValueError) as exc:  # missing/unreadable/not-PEM cafile: fail at open, not at runtime
                raise SinkError(f"cannot use MQTT CA file {cafile!r}: {exc}") from exc
        max_bytes = int(spool_mb * 2**20)
        self.spool = DiskSpool(Path(spool_dir) / quote(topic, safe=""), spool, max_bytes) if spool_dir else Spool(spool, max_bytes)  # fmt: skip
        self.epoch, self.backoff, self._stalled = self.spool.epoch, backoff, False
        self._link = Link(client, self.spool, self.stats, url=self.url, topic=topic, qos=qos, tls=bool(tls or cafile),
                          pacer=pacer, backoff=backoff, inflight=inflight, head_s=head_s, replay_max=replay_max,
                          clock=clock)  # fmt: skip
        try:
            client.connect_async(host, port, keepalive=30)  # only records where: the link thread connects
        except (OSError, ValueError) as exc:
            self.spool.close(self.spool.acked_below)
            raise SinkError(f"cannot use MQTT broker {host}:{port}: {exc}") from exc
        self._link.thread.start()

    @classmethod
    def from_url(cls, url: str) -> MqttSink:
        u = urlsplit(url)
        q = url_options(u.query)
        safe = _redacted(url)
        if not u.hostname:
            raise SinkError(f"MQTT sink needs mqtt://host[:port]/topic, got {safe!r}")
        unknown = sorted(set(q) - set(OPTIONS))
        if unknown:
            raise SinkError(f"unknown MQTT sink option {', '.join(unknown)} in {safe!r}; known: {', '.join(OPTIONS)}")
        try:
            return cls(
                u.hostname, u.port or (8883 if u.scheme == "mqtts" else 1883), unquote(u.path.lstrip("/")) or "edge-anonymize/windows",
                qos=int(q.get("qos", "1")), client_id=q.get("client_id", ""),
                username=unquote(u.username) if u.username else None, password=unquote(u.password) if u.password else None,
                tls=u.scheme == "mqtts" or flag(q.get("tls")), cafile=q.get("cafile"),
                spool=int(q.get("spool", "4096")), spool_mb=float(q.get("spool_mb", "32")), spool_dir=q.get("spool_dir"),
                rate=float(q.get("rate", "200")), inflight=int(q.get("inflight", "20")), head_s=float(q.get("head", "5")),
                replay_max=int(q.get("replay_max", "1000")), reconnect_min=float(q.get("reconnect_min", "1")),
                reconnect_max=float(q.get("reconnect_max", "5")),
            )  # fmt: skip
        except ValueError as exc:
            raise SinkError(f"bad MQTT sink option in {safe!r}: {exc}") from None

    # -- counters --------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._link.up

    @property
    def unacked(self) -> int:
        """Windows accepted but not yet acknowledged by the broker."""
        return self._link.unacked

    @property
    def connects(self) -> int:
        return self._link.connects

    @property
    def republished(self) -> int:
        """Messages sent again because a consumer asked for them."""
        return self._link.republished

    @property
    def replay_requests(self) -> int:
        return self._link.replay_requests

    # -- sink --------------------------------------------------------------------------------------
    def _send(self, window: AnonymizedWindow) -> None:
        if self.wait_s is not None and not self._has_room():  # a recording: wait for the broker, bounded
            if not self._stalled and not self._wait(self._room_within):
                self._stalled = True
                self.stats.last_error = f"no progress for {self.wait_s:g} s: the spool drops its oldest windows"
                log.warning("%s: broker made no progress for %g s; the spool drops (counted) until it has room",
                            self.url, self.wait_s)  # fmt: skip
        elif self._stalled:
            self._stalled = False
        self._link.offer(encode_record(window))

    def _has_room(self) -> bool:
        """Unacknowledged windows fill at most half the spool: the other half keeps acknowledged ones
        that a consumer may still ask for (a broker killed after its PUBACK loses them)."""
        sp = self.spool
        fit = sp.max_bytes * len(sp) // sp.nbytes if sp.nbytes else sp.max_records
        return self.unacked < max(min(sp.max_records, fit) // 2, 1)

    def _room_within(self, timeout: float) -> bool:
        if not self._has_room():
            self._link.progress.wait(timeout)
            self._link.progress.clear()
        return self._has_room()

    def flush(self) -> bool:
        """Wait while the broker acknowledges (at most ``wait_s`` without progress); True when all were."""
        if self.wait_s is None:
            return self.unacked == 0
        done, idle_since = self.stats.sent, time.monotonic()
        while self.unacked and self._link.thread.is_alive() and not self.waits_ended:
            self._room_within(0.05)
            if self.stats.sent != done:
                done, idle_since = self.stats.sent, time.monotonic()
            elif time.monotonic() - idle_since > self.wait_s:
                break
        return self.unacked == 0

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what the broker takes within ``timeout`` (not waiting for a broker that is down)."""
        self._link.stop(timeout)
