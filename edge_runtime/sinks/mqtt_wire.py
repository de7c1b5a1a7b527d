"""The MQTT window protocol shared by the gateway's sink and the consumer client; no I/O.

A broker's PUBACK is not delivery: a hard-killed broker loses messages it acknowledged, and a full
subscriber queue drops them silently. So every window message carries ``epoch`` (random, one per
spool: a gateway restart with an on-disk spool keeps it) and ``seq`` (dense, +1 per window). A
consumer that sees a gap asks the gateway to republish it from its bounded spool:

    <topic>          window records: ``AnonymizedWindow.to_dict()`` + ``seq`` + ``epoch``
    <topic>/spool    retained ``{"type": "spool", "epoch", "first", "last", "dropped", "evicted"}``,
                     and ``{"type": "gone", "epoch", "from", "to"}`` for requested seqs the spool
                     lost inside its range (a damaged record on disk)
    <topic>/replay   consumer -> gateway ``{"type": "replay", "epoch", "from", "to"}`` (inclusive)

Replies are the same bytes on ``<topic>``, paced. What is older than ``first`` is gone; the next
spool message says so. See docs/mqtt.md.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ..backoff import Backoff  # re-exported: the link and the consumer reconnect alike
from .base import AnonymizedWindow

__all__ = ["Backoff", "Deduper", "Gone", "Head", "Pacer", "ReplayRequest", "WireError", "encode_record", "encode_window",
           "decode_window", "parse_spool_message", "place", "replay_topic", "spool_topic"]  # fmt: skip

MAX_CONTROL_BYTES = 1024  # a replay request or spool message is ~100 bytes; refuse anything bigger unread


class WireError(ValueError):
    """A control message or window record that does not follow the protocol (one-line reason)."""


def replay_topic(topic: str) -> str:
    return f"{topic}/replay"


def spool_topic(topic: str) -> str:
    return f"{topic}/spool"


def encode_record(window: AnonymizedWindow) -> bytes:
    """The window record without its spool position: the JSON work, done in the caller's thread."""
    return json.dumps(window.to_dict(), separators=(",", ":")).encode()


def place(record: bytes, seq: int, epoch: str) -> bytes:
    """``record`` (from ``encode_record``) with ``seq`` and ``epoch`` appended: ``encode_window``'s bytes."""
    return b'%s,"seq":%d,"epoch":%s}' % (record[:-1], seq, json.dumps(epoch).encode())


def encode_window(window: AnonymizedWindow, seq: int, epoch: str) -> bytes:
    """The window record plus its spool position: one compact JSON object."""
    return place(encode_record(window), seq, epoch)


def _json(payload: bytes, max_bytes: int | None) -> dict[str, Any]:
    if max_bytes is not None and len(payload) > max_bytes:
        raise WireError(f"message of {len(payload)} bytes, more than {max_bytes}")
    try:
        d = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError(f"not JSON ({type(exc).__name__})") from None
    if not isinstance(d, dict):
        raise WireError("not a JSON object")
    return d


def _int(d: dict[str, Any], key: str) -> int:
    v = d.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < -1 or v >= 2**63:
        raise WireError(f"{key!r} must be an integer >= -1, got {type(v).__name__}")
    return v


def _epoch(d: dict[str, Any], required: bool = True) -> str | None:
    v = d.get("epoch")
    if v is None and not required:
        return None
    if not isinstance(v, str) or not 0 < len(v) <= 64:
        raise WireError("'epoch' must be a short string")
    return v


def decode_window(payload: bytes) -> dict[str, Any]:
    """A window record with ``epoch`` and ``seq`` (the only fields the protocol needs)."""
    d = _json(payload, None)
    if d.get("type") != "anonymized_window":
        raise WireError("not an anonymized_window record")
    _epoch(d)
    if _int(d, "seq") < 0:
        raise WireError("'seq' must be >= 0")
    return d


@dataclass(frozen=True)
class Head:
    """What the gateway's spool holds: ``first..last`` can be replayed (``last = first - 1`` when empty)."""

    epoch: str
    first: int
    last: int
    dropped: int = 0  # windows that left the spool before the broker acknowledged them
    evicted: int = 0  # windows that left the spool (acknowledged or not): no longer replayable

    def to_json(self) -> bytes:
        return json.dumps({"type": "spool", "epoch": self.epoch, "first": self.first, "last": self.last,
                           "dropped": self.dropped, "evicted": self.evicted}, separators=(",", ":")).encode()  # fmt: skip

    @classmethod
    def parse(cls, payload: bytes) -> Head:
        d = _json(payload, MAX_CONTROL_BYTES)
        if d.get("type") != "spool":
            raise WireError("not a spool message")
        epoch = _epoch(d)
        assert epoch is not None
        first, last = _int(d, "first"), _int(d, "last")
        if first < 0 or last < first - 1:
            raise WireError(f"bad spool range {first}..{last}")
        return cls(epoch, first, last, max(_int(d, "dropped"), 0), max(_int(d, "evicted"), 0))


@dataclass(frozen=True)
class ReplayRequest:
    """Ask the gateway to republish ``start..end`` (inclusive) of ``epoch`` (None: the current one)."""

    start: int
    end: int
    epoch: str | None = None

    def to_json(self) -> bytes:
        d: dict[str, Any] = {"type": "replay", "from": self.start, "to": self.end}
        if self.epoch is not None:
            d["epoch"] = self.epoch
        return json.dumps(d, separators=(",", ":")).encode()

    @classmethod
    def parse(cls, payload: bytes) -> ReplayRequest:
        d = _json(payload, MAX_CONTROL_BYTES)
        if d.get("type", "replay") != "replay":
            raise WireError("not a replay request")
        start, end = _int(d, "from"), _int(d, "to")
        if start < 0 or end < start:
            raise WireError(f"bad replay range {start}..{end}")
        return cls(start, end, _epoch(d, required=False))


@dataclass(frozen=True)
class Gone:
    """Seqs ``start..end`` of ``epoch`` cannot be replayed although the spool's range covers them."""

    epoch: str
    start: int
    end: int

    def to_json(self) -> bytes:
        d = {"type": "gone", "epoch": self.epoch, "from": self.start, "to": self.end}
        return json.dumps(d, separators=(",", ":")).encode()


def parse_spool_message(payload: bytes) -> Head | Gone:
    """What the gateway says on ``<topic>/spool``."""
    d = _json(payload, MAX_CONTROL_BYTES)
    if d.get("type") == "gone":
        epoch, start, end = _epoch(d), _int(d, "from"), _int(d, "to")
        assert epoch is not None
        if start < 0 or end < start:
            raise WireError(f"bad gone range {start}..{end}")
        return Gone(epoch, start, end)
    return Head.parse(payload)


class Pacer:
    """Token bucket: at most ``rate`` messages per second with bursts of ``burst``; ``rate=0`` is unpaced."""

    def __init__(self, rate: float, burst: int) -> None:
        if rate < 0 or burst < 1:
            raise ValueError(f"need rate >= 0 and burst >= 1, got {rate} and {burst}")
        self.rate, self.burst = rate, burst
        self._tokens = float(burst)
        self._t: float | None = None

    def take(self, now: float) -> bool:
        if self.rate == 0:
            return True
        if self._t is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._t) * self.rate)
        self._t = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class Deduper:
    """Consumer side, for subscribers that do not need ordering: ``seen(payload)`` is True for a repeat.

    Keys on ``(epoch, seq)`` (``(stream, window_id)`` for records without them); the newest
    ``horizon`` keys are remembered.
    """

    def __init__(self, horizon: int = 100_000) -> None:
        self._seen: OrderedDict[tuple[str, int], None] = OrderedDict()
        self.horizon, self.duplicates = horizon, 0

    def seen(self, payload: bytes | dict[str, Any]) -> bool:
        d = json.loads(payload) if isinstance(payload, bytes | bytearray) else payload
        key = (str(d["epoch"]), int(d["seq"])) if "seq" in d else (str(d["stream"]), int(d["window_id"]))
        if key in self._seen:
            self.duplicates += 1
            return True
        self._seen[key] = None
        if len(self._seen) > self.horizon:
            self._seen.popitem(last=False)
        return False
