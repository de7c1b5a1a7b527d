"""``Consumer``: the gateway's MQTT windows, in order, each once, gaps asked back from its spool.

Single-threaded: ``poll()`` runs the paho client itself (no loop thread) and returns the windows
that became deliverable, so a slow caller slows reading and the broker's queue for this client
fills, overflows (mosquitto: 1000) and is then repaired by replays, never by an unbounded buffer
here. It subscribes QoS 1 on a persistent session (``clean=False``, a stable ``client_id``) and
resubscribes on every connect, since a restarted broker without persistence forgets sessions.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import SinkError
from ..sinks.base import flag, url_options
from ..sinks.mqtt_wire import Backoff, Head, WireError, decode_window, parse_spool_message, replay_topic, spool_topic
from .ordering import ConsumerStats, Reorderer

__all__ = ["Consumer"]

log = logging.getLogger("edge_anonymize")
_OPTIONS = ("client_id", "clean", "start", "tls", "cafile", "chunk", "max_buffer", "retry", "give_up")


class Consumer:
    """Windows of one gateway topic.

    Args:
        host, port, topic: broker and the sink's topic.
        client_id, clean: MQTT session; keep ``client_id`` stable per consumer and ``clean=False``
            so the broker queues windows while this consumer is away.
        username, password, tls, cafile: broker authentication and TLS.
        start, max_buffer, chunk, retry_s, give_up_s: see ``Reorderer``.
        clock: monotonic time [s] for gap timers and reconnect backoff.
    """

    def __init__(self, host: str, port: int = 1883, topic: str = "edge-anonymize/windows", *,
                 client_id: str = "", clean: bool = False, username: str | None = None,
                 password: str | None = None, tls: bool = False, cafile: str | None = None, start: str = "latest",
                 max_buffer: int = 4096, chunk: int = 200, grace_s: float = 0.5, retry_s: float = 2.0,
                 give_up_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        try:
            import paho.mqtt.client as mqtt
            from paho.mqtt.enums import CallbackAPIVersion
        except ImportError as exc:
            raise SinkError("the MQTT consumer needs paho-mqtt: pip install 'edge-anonymize[mqtt]'") from exc
        try:
            self.order = Reorderer(start=start, max_buffer=max_buffer, chunk=chunk, grace_s=grace_s, retry_s=retry_s,
                                   give_up_s=give_up_s)  # fmt: skip
        except ValueError as exc:
            raise SinkError(f"bad MQTT consumer option: {exc}") from None
        self.stats: ConsumerStats = self.order.stats
        self.topic, self._spool_topic, self._clock = topic, spool_topic(topic), clock
        self.client_id = client_id or f"edge-anonymize-consumer-{socket.gethostname()}"[:64]
        self.backoff = Backoff(0.5, 5.0)
        self._ready: deque[bytes] = deque()
        self._open = self._up = self._closed = False
        self._next_attempt = float("-inf")
        self._received = 0
        self.last_error = ""
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=clean)
        self._ok = mqtt.MQTT_ERR_SUCCESS
        if username is not None:
            self._client.username_pw_set(username, password)
        if tls or cafile:
            try:
                self._client.tls_set(ca_certs=cafile)
            except (OSError, ValueError) as exc:
                raise SinkError(f"cannot use MQTT CA file {cafile!r}: {exc}") from exc
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        try:
            self._client.connect_async(host, port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise SinkError(f"cannot use MQTT broker {host}:{port}: {exc}") from exc

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Consumer:
        """``mqtt[s]://[user:pass@]host[:port]/topic?client_id=app1&start=earliest``."""
        u = urlsplit(url)
        q = url_options(u.query)
        if u.scheme not in ("mqtt", "mqtts") or not u.hostname:
            raise SinkError("consumer URL must be mqtt[s]://[user:pass@]host[:port]/topic")
        unknown = sorted(set(q) - set(_OPTIONS))
        if unknown:
            raise SinkError(f"unknown consumer option {', '.join(unknown)}; known: {', '.join(_OPTIONS)}")
        try:
            return cls(
                u.hostname, u.port or (8883 if u.scheme == "mqtts" else 1883), unquote(u.path.lstrip("/")) or "edge-anonymize/windows",
                client_id=q.get("client_id", ""), clean=flag(q.get("clean")),
                username=unquote(u.username) if u.username else None, password=unquote(u.password) if u.password else None,
                tls=u.scheme == "mqtts" or flag(q.get("tls")), cafile=q.get("cafile"), start=kwargs.pop("start", None) or q.get("start", "latest"),
                chunk=int(q.get("chunk", "200")), max_buffer=int(q.get("max_buffer", "4096")),
                retry_s=float(q.get("retry", "2")), give_up_s=float(q.get("give_up", "60")), **kwargs,
            )  # fmt: skip
        except ValueError as exc:
            raise SinkError(f"bad MQTT consumer option: {exc}") from None

    @property
    def connected(self) -> bool:
        return self._up

    # -- paho callbacks (inside poll) ------------------------------------------------------------
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if getattr(reason_code, "is_failure", False):
            self._note(f"broker refused the connection: {reason_code}")
            return
        self._up = True
        self.backoff.reset()
        client.subscribe([(self.topic, 1), (self._spool_topic, 1)])
        self.order.reconnected()  # a replay request in flight may have died with the broker

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        self._up = False

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self._received += 1
        now = self._clock()
        try:
            if msg.topic == self._spool_topic:
                said = parse_spool_message(msg.payload)
                self._ready.extend(self.order.head(said, now) if isinstance(said, Head) else self.order.gone(said, now))
            elif msg.topic == self.topic:  # held as bytes (~2.6 kB, a decoded window is ~15 kB)
                d = decode_window(msg.payload)
                self._ready.extend(self.order.window(d["epoch"], d["seq"], bytes(msg.payload), now))
        except WireError:
            self.stats.invalid += 1

    def _note(self, reason: str) -> None:
        if reason != self.last_error:
            log.warning("MQTT consumer %s: %s; retrying", self.topic, reason)
        self.last_error = reason

    # -- driving ---------------------------------------------------------------------------------
    def poll(self, timeout: float = 0.1) -> list[dict[str, Any]]:
        """Run the network for up to ``timeout`` s; the windows now deliverable, in order."""
        if self._open:
            for _ in range(256):  # paho reads one packet per loop() here: take what is waiting
                seen = self._received
                if self._client.loop(timeout) != self._ok:
                    self._open = self._up = False
                    self._next_attempt = self._clock() + self.backoff.next_delay()
                    break
                timeout = 0.0
                if self._received == seen:
                    break
        elif self._clock() >= self._next_attempt:
            try:
                self._client.reconnect()
                self._open = True
            except (OSError, ValueError) as exc:
                self._note(f"cannot connect: {exc or type(exc).__name__}")
                self._next_attempt = self._clock() + self.backoff.next_delay()
        else:
            time.sleep(timeout)
        ready, request = self.order.tick(self._clock())
        self._ready.extend(ready)
        if request is not None and self._up:
            self._client.publish(replay_topic(self.topic), request.to_json(), qos=1)
        out = [json.loads(payload) for payload in self._ready]
        self._ready.clear()
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while not self._closed:
            yield from self.poll()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._client.disconnect()
