"""The MQTT sink's network thread: one paho client, its spool, pacing and replays (see mqtt.py).

The thread owns the client (no paho loop thread), so publishing and PUBACKs never race: it
connects and reconnects with a capped backoff, moves accepted windows into the spool, publishes
new windows and replays in turn, at most ``inflight`` unacknowledged and ``rate`` per second,
and keeps the retained spool range on ``<topic>/spool`` current. The only state shared with the
pipeline's thread is the inbox and ``stats.dropped``, both under ``lock``.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .base import SinkStats
from .mqtt_wire import Backoff, Gone, Head, Pacer, ReplayRequest, WireError, place, replay_topic, spool_topic
from .spool import DiskSpool, Spool

__all__ = ["Link"]

log = logging.getLogger("edge_anonymize")
_AUTH_REFUSED = (134, 135)  # "Bad user name or password", "Not authorized"
_MAX_REPLAYS = 32  # queued replay ranges; further requests are refused (counted) until some are served
_INBOX = 1024  # windows waiting for the thread, at least (the spool's bound if larger)
_DRAIN = 256  # most windows moved into the spool per step: the network is served in between
_SYNC_S = 2.0  # disk spool: fsync records + acknowledgement mark this often (what power loss may cost)


class Link:
    """Deliver what ``offer`` accepts through ``client`` (callbacks set here; connect_async already called)."""

    def __init__(self, client: Any, spool: Spool, stats: SinkStats, *, url: str, topic: str, qos: int, tls: bool,
                 pacer: Pacer, backoff: Backoff, inflight: int, head_s: float, replay_max: int,
                 clock: Callable[[], float]) -> None:  # fmt: skip
        import paho.mqtt.client as mqtt

        self.client, self.spool, self.stats, self.url, self.topic, self.qos = client, spool, stats, url, topic, qos
        self.pacer, self.backoff, self.inflight = pacer, backoff, inflight
        self.head_s, self.replay_max = head_s, replay_max
        self.epoch, self._tls, self._clock, self._ok = spool.epoch, tls, clock, mqtt.MQTT_ERR_SUCCESS
        self.lock = threading.Lock()  # guards _inbox, closed and stats.dropped
        self._inbox: deque[bytes] = deque()  # encode_record() payloads, not yet numbered
        self._moving = 0  # taken from the inbox, not yet in _pending (so ``unacked`` never dips)
        self._pending: deque[int] = deque(range(max(spool.acked_below, spool.first), spool.next_seq))
        self._inflight: dict[int, tuple[int, bool]] = {}  # mid -> (seq, is_replay)
        self._originals = 0  # entries of _inflight that are not replays
        self._replays: deque[list[int]] = deque()  # [next seq, last seq] still to republish
        self.up = self._refused = self._sock_open = self.closed = self._turn = False
        self._reported = self._reported_replay = ""  # last failure logged: retries must not flood the journal
        self._next_attempt, self._head_at, self._sync_at, self._deadline = float("-inf"), 0.0, 0.0, 0.0
        self._head_due, self._head_last, self._synced = False, -2, (-1, -1)
        self.connects = self.republished = self.replay_requests = self.replay_refused = 0
        self.stopping, self.progress = threading.Event(), threading.Event()  # progress: an ack or a drop
        client.max_inflight_messages_set(inflight + 8)  # + spool range messages and subscriptions
        client.max_queued_messages_set(0)
        client.on_connect, client.on_disconnect = self._on_connect, self._on_disconnect
        client.on_publish, client.on_message = self._on_publish, self._on_message
        self.thread = threading.Thread(target=self._run, name="mqtt-sink", daemon=True)

    # -- other threads -----------------------------------------------------------------------------
    @property
    def unacked(self) -> int:
        return len(self._inbox) + self._moving + len(self._pending) + self._originals

    def offer(self, record: bytes) -> None:
        """Accept a window ``record`` (``encode_record``) for the thread to number and spool. The inbox only
        fills while the thread is stuck (a TCP connect timeout); normally the spool's eviction, which
        consumers see, does the dropping."""
        with self.lock:
            if self.closed or len(self._inbox) >= max(self.spool.max_records, _INBOX):
                self.stats.dropped += 1
                return
            self._inbox.append(record)

    def stop(self, timeout: float) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        self._deadline = time.monotonic() + timeout
        self.stopping.set()
        self.thread.join(timeout + 10.0)  # + one TCP connect timeout (paho: 5 s)

    def _count_dropped(self, n: int) -> None:
        with self.lock:
            self.stats.dropped += n
        self.progress.set()

    # -- paho callbacks ----------------------------------------------------------------------------
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
        self.up, self._reported, self._head_due = True, "", True
        self.connects += 1
        self.backoff.reset()
        client.subscribe(replay_topic(self.topic), qos=1)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if self.up:
            self.stats.last_error = f"disconnected from broker: {reason_code}"
        elif not self._refused and not self.stopping.is_set():  # closed before any CONNACK: e.g. a TLS-only port
            hint = "" if self._tls else " (a TLS-only port? add tls=yes&cafile=...)"
            self._failed(f"broker closed the connection before accepting it{hint}")
        self.up = self._refused = False

    def _connect_failed(self, exc: BaseException) -> None:
        if isinstance(exc, ssl.SSLError) or (self._tls and isinstance(exc, ConnectionResetError)):
            self._failed(f"TLS connection failed: {exc} (check tls=, cafile= and that the port speaks TLS)")
        else:  # broker down or unreachable: transient, a warning
            self._failed(f"cannot connect: {exc or type(exc).__name__}", logging.WARNING)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        item = self._inflight.pop(mid, None)
        if item is not None and not item[1]:  # a republished copy is not counted again
            self._originals -= 1
            self.stats.sent += 1
            self.progress.set()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        """A replay request: queue the part the spool still holds; the next spool message tells the rest."""
        try:
            req = ReplayRequest.parse(msg.payload)
        except WireError as exc:
            self._refuse(str(exc))
            return
        self.replay_requests += 1
        sp = self.spool
        if req.epoch is not None and req.epoch != self.epoch:
            self._head_due = True  # a request for an older epoch: tell the consumer which one is current
            return
        start = max(req.start, sp.first)
        end = min(req.end, sp.last, start + self.replay_max - 1)
        if req.start < sp.first:
            self._head_due = True
        if start > end or any(r[0] <= start and end <= r[1] for r in self._replays):
            return  # nothing left to send, or a retry of a range already queued
        if len(self._replays) >= _MAX_REPLAYS:
            self._refuse(f"more than {_MAX_REPLAYS} replay requests queued")
            return
        self._replays.append([start, end])

    def _refuse(self, reason: str) -> None:
        self.replay_refused += 1
        if reason != self._reported_replay:
            self._reported_replay = reason
            log.warning("%s: replay request refused: %s", self.url, reason)

    # -- the thread --------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._finished():
            try:
                self._step()
            except Exception as exc:  # a bug must not end delivery silently: counted, logged once, retried
                self._failed(f"MQTT sink error: {type(exc).__name__}: {exc}"[:200])
                self._sock_open = self.up = False
                self._retry_later()
        try:
            self._finish()
        except Exception as exc:
            self._failed(f"MQTT sink close error: {type(exc).__name__}"[:200])

    def _finished(self) -> bool:
        if not self.stopping.is_set():
            return False
        idle = not (self._inbox or self._pending or self._originals)
        return not self.up or idle or time.monotonic() > self._deadline  # down at close: do not wait for it

    def _step(self) -> None:
        self._drain_inbox()
        if isinstance(self.spool, DiskSpool) and self._clock() >= self._sync_at:
            self._sync()
        if self._sock_open:
            if self.client.loop(0.05) != self._ok:
                self._sock_open = self.up = False
                self._retry_later()
            elif self.up:
                self._pump(self._clock())
        elif self.stopping.is_set():
            return
        elif self._clock() >= self._next_attempt:
            try:
                self.client.reconnect()
                self._sock_open = True
            except (OSError, ValueError) as exc:
                self._connect_failed(exc)
                self._retry_later()
        else:
            self.stopping.wait(0.05)

    def _retry_later(self) -> None:
        self._next_attempt = self._clock() + self.backoff.next_delay()

    def _drain_inbox(self) -> None:
        with self.lock:
            batch = [self._inbox.popleft() for _ in range(min(len(self._inbox), _DRAIN))]
            self._moving = len(batch)
        for record in batch:
            self._pending.append(self.spool.append(place(record, self.spool.next_seq, self.epoch)))
        self._moving = 0
        lost = 0
        while self._pending and self._pending[0] < self.spool.first:  # pushed out before it was ever sent
            self._pending.popleft()
            lost += 1
        if lost:
            self._count_dropped(lost)

    def _next(self) -> tuple[int, bool] | None:
        """New windows and replays take turns: a consumer's gap stalls its in-order delivery, and a
        long replay must not hold back live windows either."""
        self._turn = not self._turn
        if self._pending and (self._turn or not self._replays):
            return self._pending.popleft(), False
        if not self._replays:
            return None
        r = self._replays[0]
        seq, r[0] = r[0], r[0] + 1
        if r[0] > r[1]:
            self._replays.popleft()
            self._head_due = True  # tells the consumer what of its range is gone
        return seq, True

    def _pump(self, now: float) -> None:
        while (self._pending or self._replays) and (self.qos == 0 or len(self._inflight) < self.inflight):
            if not self.pacer.take(now):
                break
            item = self._next()
            assert item is not None
            seq, replay = item
            payload = self.spool.get(seq)
            if payload is None:  # a hole, evicted, or an unreadable record: never silent
                if not replay:
                    self._count_dropped(1)
                elif seq >= self.spool.first:  # inside the range: only this message can say so
                    self.client.publish(spool_topic(self.topic), Gone(self.epoch, seq, seq).to_json(), qos=1)
                continue
            info = self.client.publish(self.topic, payload, qos=self.qos)
            self.republished += replay
            if self.qos:
                self._inflight[info.mid] = (seq, replay)
                self._originals += not replay
            elif not replay:
                self.stats.sent += 1
                self.progress.set()
        if self._head_due or (self.head_s and now >= self._head_at and self._head_last != self.spool.last):
            self._publish_head(now)

    def _publish_head(self, now: float) -> None:
        sp = self.spool
        head = Head(self.epoch, sp.first, sp.last, self.stats.dropped, sp.evicted)
        self.client.publish(spool_topic(self.topic), head.to_json(), qos=1, retain=True)
        self._head_due, self._head_at, self._head_last = False, now + self.head_s, sp.last

    def _acked_below(self) -> int:
        """Every seq below this was acknowledged (what a disk spool need not resend after a restart)."""
        low = [s for s, replay in list(self._inflight.values()) if not replay]
        return min([*low, self._pending[0] if self._pending else self.spool.next_seq, self.spool.next_seq])

    def _sync(self) -> None:
        mark = (self._acked_below(), self.spool.next_seq)
        if mark != self._synced:
            self.spool.sync(mark[0])
            self._synced = mark
        self._sync_at = self._clock() + _SYNC_S

    def _finish(self) -> None:
        while self._inbox:
            self._drain_inbox()
        if self.up:
            self._publish_head(self._clock())
        self.client.disconnect()  # written at once (no loop thread); closes the socket
        lost = len(self._pending) + self._originals
        self.spool.close(self._acked_below())
        self._pending.clear()
        self._inflight.clear()
        self._originals = 0
        if not lost:
            return
        if isinstance(self.spool, DiskSpool):
            log.warning("%s: %d window(s) not yet acknowledged by the broker, kept in the spool %s for the next start",
                        self.url, lost, self.spool.where)  # fmt: skip
        else:
            self._count_dropped(lost)
            log.warning("%s: %d window(s) never acknowledged by the broker, dropped at close", self.url, lost)
