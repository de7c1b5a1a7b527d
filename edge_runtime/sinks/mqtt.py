"""``mqtt://[user:pass@]host:port/topic?qos=1&spool=4096``: windows to an MQTT broker (paho-mqtt 2.x).

QoS 1 alone is not enough: a hard-killed broker loses messages it already acknowledged. So the
sink keeps a bounded *spool* of the most recent windows and republishes it after every reconnect;
each payload carries ``(stream, window_id)`` and consumers drop duplicates with ``Deduper``.
Windows pushed out of the spool before the broker acknowledged them are counted as dropped, never
silently lost; ``stats.sent`` counts windows the broker acknowledged (QoS 1) or that were written
to the socket (QoS 0), and windows still unacknowledged at ``close`` are counted as dropped.
Reconnects back off exponentially (1 s doubling to 120 s, paho's own timer).

Authentication and TLS: ``mqtt://user:pass@host/topic`` (percent-encode ``@ : /`` in the password),
``?tls=yes&cafile=/etc/ssl/broker-ca.pem`` or ``mqtts://`` (port 8883). Connecting is asynchronous
so a broker that is down at boot does not stop acquisition; a refused login, an untrusted
certificate or a TLS/plain mismatch is therefore logged once per distinct reason as one line
(``edge_anonymize`` logger), counted in ``stats.errors`` and kept in ``stats.last_error``, while
windows wait in the spool. A CA file that cannot be read is a ``SinkError`` at open.
"""

from __future__ import annotations

import json
import logging
import ssl
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import SinkError
from .base import AnonymizedWindow, Sink, flag, url_options

__all__ = ["MqttSink", "Deduper"]

log = logging.getLogger("edge_anonymize")
_AUTH_REFUSED = (134, 135)  # "Bad user name or password", "Not authorized"


class Deduper:
    """Consumer side: ``seen(payload) -> bool`` is True for a window already delivered."""

    def __init__(self, horizon: int = 100_000) -> None:
        self._seen: OrderedDict[tuple[str, int], None] = OrderedDict()
        self.horizon, self.duplicates = horizon, 0

    def seen(self, payload: bytes | dict[str, Any]) -> bool:
        d = json.loads(payload) if isinstance(payload, bytes | bytearray) else payload
        key = (str(d["stream"]), int(d["window_id"]))
        if key in self._seen:
            self.duplicates += 1
            return True
        self._seen[key] = None
        if len(self._seen) > self.horizon:
            self._seen.popitem(last=False)
        return False


class MqttSink(Sink):
    """Publish every window, keep the last ``spool`` windows for republishing after a reconnect.

    Args:
        host, port, topic: broker and topic.
        qos: 0 or 1 (1 recommended).
        username, password, tls, cafile: broker authentication and TLS.
        spool: windows kept for republishing (4096 windows ≈ 87 min at 50 Hz, stride 64).
        republish_delay_s: wait after a reconnect before republishing, so consumers can resubscribe.
    """

    def __init__(self, host: str, port: int = 1883, topic: str = "edge-anonymize/windows", *, qos: int = 1,
                 client_id: str = "", username: str | None = None, password: str | None = None,
                 tls: bool = False, cafile: str | None = None, spool: int = 4096,
                 republish_delay_s: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        super().__init__()
        try:
            import paho.mqtt.client as mqtt
        except ImportError as exc:
            raise SinkError("the MQTT sink needs paho-mqtt: pip install 'edge-anonymize[mqtt]'") from exc
        if qos not in (0, 1):
            raise SinkError(f"MQTT sink qos must be 0 or 1, got {qos}")
        self.url = f"{'mqtts' if tls or cafile else 'mqtt'}://{host}:{port}/{topic}"  # never the password
        self.topic, self.qos, self.spool_size, self.republish_delay_s = topic, qos, spool, republish_delay_s
        self._clock = clock
        self._lock = threading.Lock()
        self._spool: OrderedDict[int, tuple[bytes, bool]] = OrderedDict()  # seq -> (payload, acked)
        self._mids: dict[int, int] = {}
        self._early: set[int] = set()  # mids acknowledged before ``_publish`` could register them
        self._seq = 0
        self._connected_once = False
        self._republish_at: float | None = None
        self._tls = bool(tls or cafile)
        self._up = self._refused = False  # state of the current connection attempt (network thread)
        self._reported = ""  # last failure logged: retries must not flood the journal
        self.connects = self.republished = 0
        from paho.mqtt.enums import CallbackAPIVersion

        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        if username is not None:
            self._client.username_pw_set(username, password)
        if self._tls:
            try:
                self._client.tls_set(ca_certs=cafile)
            except (OSError, ValueError) as exc:  # missing/unreadable/not-PEM cafile: fail at open, not at runtime
                raise SinkError(f"cannot use MQTT CA file {cafile!r}: {exc}") from exc
        self._client.reconnect_delay_set(min_delay=1, max_delay=120)
        self._client.max_queued_messages_set(0)
        self._client.on_connect = self._on_connect
        self._client.on_publish = self._on_publish
        self._client.on_disconnect = self._on_disconnect
        self._client.on_connect_fail = self._on_connect_fail
        try:
            self._client.connect_async(host, port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise SinkError(f"cannot use MQTT broker {host}:{port}: {exc}") from exc
        self._stopping = threading.Event()  # before loop_start: the callbacks read it
        self._client.loop_start()
        self._timer = threading.Thread(target=self._republisher, name="mqtt-republish", daemon=True)
        self._timer.start()

    @classmethod
    def from_url(cls, url: str) -> MqttSink:
        u = urlsplit(url)
        q = url_options(u.query)
        if not u.hostname:
            raise SinkError(f"MQTT sink needs mqtt://host[:port]/topic, got {url!r}")
        try:
            return cls(
                u.hostname, u.port or (8883 if u.scheme == "mqtts" else 1883), unquote(u.path.lstrip("/")) or "edge-anonymize/windows",
                qos=int(q.get("qos", "1")), client_id=q.get("client_id", ""),
                username=unquote(u.username) if u.username else None, password=unquote(u.password) if u.password else None,
                tls=u.scheme == "mqtts" or flag(q.get("tls")), cafile=q.get("cafile"),
                spool=int(q.get("spool", "4096")), republish_delay_s=float(q.get("republish_delay", "2.0")),
            )  # fmt: skip
        except ValueError as exc:
            raise SinkError(f"bad MQTT sink option in {url!r}: {exc}") from exc

    # paho callbacks (network thread) ----------------------------------------------------------
    def _failed(self, reason: str, level: int = logging.ERROR) -> None:
        """Count every failed attempt; log each distinct reason once, as one line."""
        self.stats.errors += 1
        self.stats.last_error = reason
        if reason != self._reported:
            self._reported = reason
            log.log(level, "%s: %s; windows are kept in the spool and the sink keeps retrying", self.url, reason)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if getattr(reason_code, "is_failure", False):
            self._refused = True
            auth = getattr(reason_code, "value", None) in _AUTH_REFUSED
            hint = " (check user and password in the sink URL)" if auth else ""
            self._failed(f"broker refused the connection: {reason_code}{hint}")
            return
        if self._reported:
            log.info("%s: connected", self.url)
        self._up, self._reported = True, ""
        self.connects += 1
        if self._connected_once:  # a reconnect: the broker may have lost what it acknowledged
            self._republish_at = self._clock() + self.republish_delay_s
        self._connected_once = True

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if self._up:
            self.stats.last_error = f"disconnected from broker: {reason_code}"
        elif not self._refused and not self._stopping.is_set():  # closed before any CONNACK: e.g. a TLS-only port
            hint = "" if self._tls else " (a TLS-only port? add tls=yes&cafile=...)"
            self._failed(f"broker closed the connection before accepting it{hint}")
        self._up = self._refused = False

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        exc = sys.exc_info()[1]  # paho calls this inside its ``except OSError``: the only way to learn why
        if isinstance(exc, ssl.SSLError) or (self._tls and isinstance(exc, ConnectionResetError)):
            self._failed(f"TLS connection failed: {exc} (check tls=, cafile= and that the port speaks TLS)")
        else:  # broker down or unreachable: transient, a warning
            self._failed(f"cannot connect: {exc or 'unknown error'}", logging.WARNING)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        with self._lock:
            seq = self._mids.pop(mid, None)
            if seq is None:  # the network thread can see the PUBACK before publish() has returned the mid
                self._early.add(mid)
            else:
                self._acked(seq)

    def _acked(self, seq: int) -> None:
        """Mark ``seq`` delivered (caller holds the lock); a republished copy is not counted again."""
        if seq in self._spool and not self._spool[seq][1]:
            self._spool[seq] = (self._spool[seq][0], True)
            self.stats.sent += 1

    # sink --------------------------------------------------------------------------------------
    def _publish(self, seq: int, payload: bytes) -> None:
        info = self._client.publish(self.topic, payload, qos=self.qos)
        if info.rc == 0 or self.qos:  # rc != 0 while offline: kept in the spool, resent on reconnect
            with self._lock:
                if info.mid in self._early:
                    self._early.discard(info.mid)
                    self._acked(seq)
                else:
                    self._mids[info.mid] = seq

    def _send(self, window: AnonymizedWindow) -> None:
        payload = window.to_json()
        with self._lock:
            seq = self._seq
            self._seq += 1
            self._spool[seq] = (payload, False)
            while len(self._spool) > self.spool_size:
                _, (_, acked) = self._spool.popitem(last=False)
                if not acked:
                    self.stats.dropped += 1  # left the spool before the broker confirmed it
        if self._client.is_connected():
            self._publish(seq, payload)

    def _republisher(self) -> None:
        while not self._stopping.wait(0.1):
            at = self._republish_at
            if at is None or self._clock() < at or not self._client.is_connected():
                continue
            self._republish_at = None
            with self._lock:
                items = list(self._spool.items())
            for seq, (payload, _) in items:
                self._publish(seq, payload)
            self.republished += len(items)

    @property
    def unacked(self) -> int:
        with self._lock:
            return sum(1 for _, acked in self._spool.values() if not acked)

    def close(self, timeout: float = 5.0) -> None:
        deadline = self._clock() + timeout
        while self.unacked and self._client.is_connected() and self._clock() < deadline:
            time.sleep(0.05)
        self._stopping.set()
        self._client.disconnect()
        self._client.loop_stop()
        with self._lock:  # what the broker never acknowledged is lost now: count it
            lost = sum(1 for _, acked in self._spool.values() if not acked)
            self._spool.clear()
        if lost:
            self.stats.dropped += lost
            log.warning("%s: %d window(s) never acknowledged by the broker, dropped at close", self.url, lost)
