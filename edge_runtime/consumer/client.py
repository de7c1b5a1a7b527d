"""``Consumer``: the gateway's MQTT windows, in order, each once, gaps asked back from its spool.

Single-threaded: ``poll()`` runs the paho client itself (no loop thread) and returns the windows
that became deliverable, so a slow caller slows reading and the broker's queue for this client
fills, overflows (mosquitto: 1000) and is then repaired by replays, never by an unbounded buffer
here. It subscribes QoS 1 on a persistent session (``clean=False``, a stable ``client_id``) and
resubscribes on every connect, since a restarted broker without persistence forgets sessions.

The topic may be a filter (``site/+/+/windows``): each stream topic gets its own ``Reorderer``,
``partition=K/N`` keeps only the streams this consumer owns, and ``state=DIR`` saves the cursors
so that a restart resumes (fleet.py; docs/mqtt.md "Fleets").
"""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import fields
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import SinkError
from ..sinks.base import flag, url_options
from ..sinks.mqtt_wire import Backoff, Head, WireError, decode_window, parse_spool_message, replay_topic, spool_topic
from .fleet import Checkpoint, Partition, check_filter, matches, stream_of
from .ordering import ConsumerStats, Reorderer

__all__ = ["Consumer"]

log = logging.getLogger("edge_anonymize")
_OPTIONS = ("client_id", "clean", "start", "tls", "cafile", "chunk", "max_buffer", "retry", "give_up", "partition",
            "state", "max_streams")  # fmt: skip
_COUNTERS = [f.name for f in fields(ConsumerStats)]
_SAVE_S = 1.0  # state=: cursors are written this often (a restart repeats at most this much)
# what mqtt_wire.place() writes: the record opens with its type and ends with seq and epoch, so
# ordering needs no JSON parse (a window is parsed once, when delivered; a duplicate never)
_HEAD = b'{"type":"anonymized_window",'
_TAIL = re.compile(rb',"seq":(0|[1-9][0-9]{0,17}),"epoch":"([0-9A-Za-z_-]{1,64})"\}\Z')


def _position(payload: bytes) -> tuple[str, int]:
    """``(epoch, seq)`` of a window message; ``WireError`` if it is not one."""
    m = _TAIL.search(payload, max(len(payload) - 120, 0)) if payload.startswith(_HEAD) else None
    if m is None:  # another writer's layout: the full check
        d = decode_window(payload)
        return d["epoch"], d["seq"]
    return m.group(2).decode(), int(m.group(1))


class Consumer:
    """Windows of one gateway topic, or of every stream topic a filter matches.

    Args:
        host, port, topic: broker and the sink's topic, or a filter of many (``site/+/+/windows``).
        client_id, clean: MQTT session; keep ``client_id`` stable per consumer and ``clean=False``
            so the broker queues windows while this consumer is away.
        username, password, tls, cafile: broker authentication and TLS.
        start, max_buffer, chunk, retry_s, give_up_s: see ``Reorderer``.
        partition: ``"K/N"``: only the streams with ``crc32(topic) % N == K`` (fleet.py).
        state_dir: keep the cursors in ``state_dir/<client_id>.json``; resume from them at start.
        max_streams: most stream topics followed; messages of further ones are counted in ``refused``.
        clock: monotonic time [s] for gap timers and reconnect backoff.
    """

    def __init__(self, host: str, port: int = 1883, topic: str = "edge-anonymize/windows", *,
                 client_id: str = "", clean: bool = False, username: str | None = None,
                 password: str | None = None, tls: bool = False, cafile: str | None = None, start: str = "latest",
                 max_buffer: int = 4096, chunk: int = 200, grace_s: float = 0.5, retry_s: float = 2.0,
                 give_up_s: float = 60.0, partition: str | None = None, state_dir: str | None = None,
                 max_streams: int = 1024, clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        try:
            import paho.mqtt.client as mqtt
            from paho.mqtt.enums import CallbackAPIVersion
        except ImportError as exc:
            raise SinkError("the MQTT consumer needs paho-mqtt: pip install 'edge-anonymize[mqtt]'") from exc
        self._order_kw: dict[str, Any] = dict(start=start, max_buffer=max_buffer, chunk=chunk, grace_s=grace_s,
                                              retry_s=retry_s, give_up_s=give_up_s)  # fmt: skip
        try:
            Reorderer(**self._order_kw)  # the options, checked once
            check_filter(topic)
            self.partition = Partition(partition)
            if max_streams < 1:
                raise ValueError(f"max_streams must be >= 1, got {max_streams}")
        except ValueError as exc:
            raise SinkError(f"bad MQTT consumer option: {exc}") from None
        self.topic, self.max_streams, self._clock = topic, max_streams, clock
        suffix = f"-p{self.partition.k}of{self.partition.n}" if self.partition.n > 1 else ""
        self.client_id = client_id or f"edge-anonymize-consumer-{socket.gethostname()}"[: 64 - len(suffix)] + suffix
        self._own = ConsumerStats()  # what no stream's Reorderer counts: invalid, foreign, refused
        self._streams: dict[str, Reorderer] = {}
        self._waiting: set[str] = set()  # streams with a gap or a missing tail: only these need ``tick``
        self.checkpoint: Checkpoint | None = None
        if state_dir is not None:
            try:
                self.checkpoint = Checkpoint(state_dir, self.client_id)
            except ValueError as exc:
                raise SinkError(f"bad MQTT consumer option: {exc}") from None
            for stream, (epoch, nxt) in self.checkpoint.load(self._wanted).items():
                if len(self._streams) < max_streams:
                    self._stream(stream).resume(epoch, nxt)
        self._save_at = clock() + _SAVE_S
        self.backoff = Backoff(0.5, 5.0)
        self._ready: deque[tuple[str, bytes]] = deque()
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
        if "#" in url:  # a URL fragment: the filter would end silently before it
            raise SinkError("write the topic wildcard # as %23 in the consumer URL (site/%23)")
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
                retry_s=float(q.get("retry", "2")), give_up_s=float(q.get("give_up", "60")),
                partition=q.get("partition"), state_dir=q.get("state"), max_streams=int(q.get("max_streams", "1024")),
                **kwargs,
            )  # fmt: skip
        except ValueError as exc:
            raise SinkError(f"bad MQTT consumer option: {exc}") from None

    @property
    def connected(self) -> bool:
        return self._up

    @property
    def stats(self) -> ConsumerStats:
        """The counters summed over all streams (``stream_stats`` has them per stream topic)."""
        total = ConsumerStats()
        for key in _COUNTERS:
            setattr(total, key, sum(getattr(o.stats, key) for o in self._streams.values()) + getattr(self._own, key))
        total.streams = len(self._streams)
        return total

    def stream_stats(self) -> dict[str, ConsumerStats]:
        return {topic: order.stats for topic, order in self._streams.items()}

    def cursors(self) -> dict[str, tuple[str, int]]:
        """``{stream topic: (epoch, next seq)}``: where delivery stands (what ``state=`` saves)."""
        return {t: c for t, o in self._streams.items() if (c := o.cursor) is not None}

    def _wanted(self, stream: str) -> bool:
        return matches(self.topic, stream) and self.partition.owns(stream)

    def _stream(self, stream: str) -> Reorderer:
        order = self._streams.get(stream)
        if order is None:
            order = self._streams[stream] = Reorderer(**self._order_kw)
        return order

    # -- paho callbacks (inside poll) ------------------------------------------------------------
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if getattr(reason_code, "is_failure", False):
            self._note(f"broker refused the connection: {reason_code}")
            return
        self._up = True
        self.backoff.reset()
        subs = [(self.topic, 1)] if self.topic.endswith("#") else [(self.topic, 1), (spool_topic(self.topic), 1)]
        client.subscribe(subs)
        for order in self._streams.values():
            order.reconnected()  # a replay request in flight may have died with the broker

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        self._up = False

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self._received += 1
        stream, kind = stream_of(msg.topic, self.topic)
        if kind == "replay":  # another consumer's request, seen through a # filter
            return
        if not kind:
            self._own.invalid += 1
            return
        if not self.partition.owns(stream):  # decided on the topic alone: nothing is parsed
            self._own.foreign += 1
            return
        order = self._streams.get(stream)
        if order is None:
            if len(self._streams) >= self.max_streams:
                if not self._own.refused:
                    log.warning("MQTT consumer %s: more than max_streams=%d stream topics; %s and later ones are "
                                "dropped (counted in refused)", self.topic, self.max_streams, stream)  # fmt: skip
                self._own.refused += 1
                return
            order = self._stream(stream)
        now = self._clock()
        try:
            if kind == "spool":
                said = parse_spool_message(msg.payload)
                out = order.head(said, now) if isinstance(said, Head) else order.gone(said, now)
            else:  # held as bytes (~2.6 kB, a decoded window is ~15 kB)
                epoch, seq = _position(msg.payload)
                out = order.window(epoch, seq, bytes(msg.payload), now)
        except WireError:
            self._own.invalid += 1
            return
        self._ready.extend((stream, payload) for payload in out)
        if order.waiting:
            self._waiting.add(stream)

    def _note(self, reason: str) -> None:
        if reason != self.last_error:
            log.warning("MQTT consumer %s: %s; retrying", self.topic, reason)
        self.last_error = reason

    # -- driving ---------------------------------------------------------------------------------
    def poll(self, timeout: float = 0.1) -> list[dict[str, Any]]:
        """Run the network for up to ``timeout`` s; the windows now deliverable, in order per stream.

        Each record gets ``"topic"``, its stream topic. What earlier calls returned counts as handled: with
        ``state=`` its cursor is saved (at most every 1 s), so a restart repeats at most that much."""
        if self.checkpoint is not None and self._clock() >= self._save_at:
            self.checkpoint.save(self.cursors())
            self._save_at = self._clock() + _SAVE_S
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
        now = self._clock()
        for stream in list(self._waiting):  # not every stream: a fleet's consumer follows hundreds
            order = self._streams[stream]
            ready, request = order.tick(now)
            if not order.waiting:
                self._waiting.discard(stream)
            self._ready.extend((stream, payload) for payload in ready)
            if request is not None and self._up:
                self._client.publish(replay_topic(stream), request.to_json(), qos=1)
        out = []
        for stream, payload in self._ready:
            try:
                record = json.loads(payload)
            except ValueError:  # framed like a window, but not JSON inside: its seq is spent, counted
                self._own.invalid += 1
                continue
            if isinstance(record, dict):
                record["topic"] = stream
                out.append(record)
            else:
                self._own.invalid += 1
        self._ready.clear()
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while not self._closed:
            yield from self.poll()

    def close(self) -> None:
        """Disconnect; with ``state=``, save the cursors of everything returned so far."""
        if not self._closed:
            self._closed = True
            self._client.disconnect()
            if self.checkpoint is not None:
                self.checkpoint.save(self.cursors())
