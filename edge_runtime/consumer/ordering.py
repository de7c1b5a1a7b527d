"""In-order, exactly-once windows out of at-least-once MQTT delivery; push-style, no I/O.

Feed every window (``window(epoch, seq, item)``; ``item`` is whatever the caller wants back,
the client passes the raw payload) and spool message (``head``) as it arrives and call ``tick``
now and then; each returns the items that became deliverable, in ``seq`` order, each once. A gap
waits ``grace_s`` for stragglers (after the record behind it arrived; for a missing tail, after
the last record arrived); then ``tick`` returns a ``ReplayRequest`` for at most ``chunk`` seqs,
asked again after ``retry_s``, doubling up to 30 s (the answer may be queued behind a backlog at
the broker), and at once after a reconnect (``reconnected``), until it is filled: a catch-up never
floods the consumer's own broker queue. A gap is given up and counted in ``stats.lost`` when the
gateway's spool no longer holds it, when ``max_buffer`` records wait behind it, or after
``give_up_s`` without progress. Memory: ``max_buffer`` items.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from ..sinks.mqtt_wire import Gone, Head, ReplayRequest

__all__ = ["ConsumerStats", "Reorderer"]

Record = Any  # an item handed back in order: the client's raw payload bytes
_RETRY_MAX_S = 30.0
_GONE = object()  # a buffered tombstone: the gateway said this seq cannot be replayed


@dataclass
class ConsumerStats:
    """Content-free counters of a consumer."""

    delivered: int = 0
    duplicates: int = 0  # copies dropped (replays, broker redeliveries)
    lost: int = 0  # seqs given up: gone from the gateway's spool, buffer full, or no progress for give_up_s
    replay_requests: int = 0
    epochs: int = 0  # gateway spools followed (a new one: the gateway restarted without spool_dir)
    stale: int = 0  # records of an epoch already left behind
    invalid: int = 0  # messages that do not follow the protocol
    streams: int = 0  # topics followed (a wildcard filter: one per stream)
    foreign: int = 0  # messages of streams another consumer owns (partition=K/N), dropped unread
    refused: int = 0  # messages of streams beyond max_streams, dropped unread


class Reorderer:
    """Orders and dedupes one topic's records by ``(epoch, seq)``.

    Args:
        start: ``"latest"`` starts at the first record (or after the spool's ``last``) seen;
            ``"earliest"`` at the oldest the gateway still holds. A later epoch always starts earliest.
        max_buffer: records held behind a gap.
        chunk: most seqs asked for in one replay request.
        grace_s, retry_s, give_up_s: see the module docstring [s].
    """

    def __init__(self, *, start: str = "latest", max_buffer: int = 4096, chunk: int = 200, grace_s: float = 0.5,
                 retry_s: float = 2.0, give_up_s: float = 60.0) -> None:  # fmt: skip
        if start not in ("latest", "earliest"):
            raise ValueError(f"start must be 'latest' or 'earliest', got {start!r}")
        if max_buffer < 1 or chunk < 1 or min(grace_s, retry_s, give_up_s) < 0:
            raise ValueError("max_buffer and chunk must be >= 1 and the times >= 0")
        self.start, self.max_buffer, self.chunk = start, max_buffer, chunk
        self.grace_s, self.retry_s, self.give_up_s = grace_s, retry_s, give_up_s
        self.stats = ConsumerStats()
        self.epoch: str | None = None
        self.next: int | None = None  # next seq to deliver
        self.high = -1  # highest seq known to exist (received, or the spool's last)
        self._buf: dict[int, tuple[Record, float]] = {}  # seq -> (record, arrival time)
        self._old: deque[str] = deque(maxlen=16)
        self._fresh = True  # nothing delivered in this epoch yet: skipping ahead loses nothing
        self._high_at = self._progress_at = self._seen_at = 0.0
        self._asked: tuple[int, float, float] | None = None  # outstanding request: (last seq, sent at, wait)

    def _follow(self, epoch: str, now: float) -> list[Record] | None:
        """Records to flush when ``epoch`` is a new one; None for an epoch already left behind."""
        if epoch == self.epoch:
            return []
        if epoch in self._old:
            self.stats.stale += 1
            return None
        out: list[Record] = []
        if self.epoch is not None:  # the gateway's spool restarted: what was missing of the old one is gone
            if self.next is not None:
                out = self._skip(max(self.high + 1, self.next), now)
            self._old.append(self.epoch)
            self.start = "earliest"
        self.epoch, self.next, self.high, self._fresh, self._asked = epoch, None, -1, True, None
        self._buf.clear()
        self.stats.epochs += 1
        return out

    def _raise_high(self, seq: int, now: float) -> None:
        if seq > self.high:
            if self.next is not None and self.next > self.high:
                self._progress_at = now  # a gap opens now
            self.high, self._high_at = seq, now

    def window(self, epoch: str, seq: int, record: Record, now: float) -> list[Record]:
        """The window ``seq`` of ``epoch`` (checked by ``decode_window``) arrived as ``record``."""
        out = self._follow(epoch, now)
        if out is None:
            return []
        self._seen_at = now
        if self.next is None:
            self.next = seq if self.start == "latest" else 0
        if seq < self.next or seq in self._buf:
            self.stats.duplicates += 1
            return out
        self._raise_high(seq, now)
        self._buf[seq] = (record, now)
        out += self._deliver(now)
        while len(self._buf) > self.max_buffer:  # give up the gap in front rather than grow
            out += self._skip(min(self._buf), now)
        return out

    def head(self, head: Head, now: float) -> list[Record]:
        """A spool message: what the gateway still holds; below ``first`` is gone for good."""
        out = self._follow(head.epoch, now)
        if out is None:
            return []
        if self.next is None:
            self.next = head.last + 1 if self.start == "latest" else head.first
        self._raise_high(head.last, now)
        if self.next < head.first:
            out += self._skip(head.first, now)
        return out + self._deliver(now)

    def gone(self, gone: Gone, now: float) -> list[Record]:
        """Seqs the gateway's spool lost inside its range (a damaged record): give them up now."""
        if gone.epoch != self.epoch or self.next is None:
            return []
        for seq in range(max(gone.start, self.next), min(gone.end, self.high) + 1):
            self._buf.setdefault(seq, (_GONE, now))
        return self._deliver(now)

    @property
    def waiting(self) -> bool:
        """A seq known to exist is not delivered yet: ``tick`` has a gap to wait for, ask for or give up."""
        return self.next is not None and self.next <= self.high

    @property
    def cursor(self) -> tuple[str, int] | None:
        """``(epoch, next seq)``: where delivery stands; ``resume`` takes it back (docs: the consumer's state)."""
        return None if self.epoch is None or self.next is None else (self.epoch, self.next)

    def resume(self, epoch: str, next_seq: int) -> None:
        """Continue a cursor saved by an earlier run: from ``next_seq`` of ``epoch``, every seq counts, so the
        spool message's ``last`` shows the gap since then and it is asked for like any other."""
        if next_seq < 0:
            raise ValueError(f"next seq must be >= 0, got {next_seq}")
        self.epoch, self.next, self.high, self._fresh, self._asked = epoch, next_seq, next_seq - 1, False, None
        self._buf.clear()
        self.stats.epochs += 1

    def reconnected(self) -> None:
        """The broker connection was lost and is back: an outstanding request, or its answer, may have
        died with a killed broker, so the gap in front is asked for again at the next ``tick``."""
        self._asked = None

    def tick(self, now: float) -> tuple[list[Record], ReplayRequest | None]:
        """Give up or ask for the gap in front, if it is overdue."""
        if self.next is None or self.next > self.high:
            return [], None
        ahead = min(self._buf) if self._buf else None
        # a seq missing before one that arrived is lost (a publisher's messages keep their order);
        # a missing tail may still be on its way while records keep coming
        since = self._buf[ahead][1] if ahead is not None else max(self._high_at, self._seen_at)
        if now - since < self.grace_s:
            return [], None
        if now - self._progress_at >= self.give_up_s:
            return self._skip(ahead if ahead is not None else self.high + 1, now), None
        wait = self.retry_s
        if self._asked is not None:
            if now - self._asked[1] < self._asked[2]:
                return [], None
            wait = min(self._asked[2] * 2, max(_RETRY_MAX_S, self.retry_s))
        end = min(ahead - 1 if ahead is not None else self.high, self.next + self.chunk - 1)
        self._asked = (end, now, wait)
        self.stats.replay_requests += 1
        return [], ReplayRequest(self.next, end, self.epoch)

    def _deliver(self, now: float) -> list[Record]:
        out: list[Record] = []
        assert self.next is not None
        if self.next in self._buf:
            self._progress_at = now
        while self.next in self._buf:
            item = self._buf.pop(self.next)[0]
            if item is _GONE:
                self.stats.lost += 1
            else:
                out.append(item)
            self.next += 1
        if out:
            self.stats.delivered += len(out)
            self._fresh = False
        if self._asked is not None and self.next > self._asked[0]:
            self._asked = None  # filled: the next gap may be asked for at once
        return out

    def _skip(self, to: int, now: float) -> list[Record]:
        """Give up every missing seq below ``to``; deliver what is buffered there, in order."""
        assert self.next is not None
        keys = sorted(k for k in self._buf if k < to)
        if not self._fresh:
            self.stats.lost += max(to - self.next - len(keys), 0)
        items = [self._buf.pop(k)[0] for k in keys]
        out = [x for x in items if x is not _GONE]
        self.stats.lost += len(items) - len(out) if not self._fresh else 0
        self.stats.delivered += len(out)
        self.next, self._asked = max(to, self.next), None
        if out:
            self._fresh, self._progress_at = False, now
        return out + self._deliver(now)
