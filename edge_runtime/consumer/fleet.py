"""Many streams, several consumers: topic filters, the stable partition of streams, and cursors on disk.

A fleet publishes one topic per stream (``site/<gateway>/<stream>/windows``, one MQTT sink each),
and its ``seq`` numbers that stream alone, so the unit that can be ordered, deduped and repaired
is the topic. A consumer follows a filter (``site/+/+/windows``, ``site/#``) with one ``Reorderer``
per topic. Consumer ``k`` of ``N`` takes the topics with ``crc32(topic) % N == k``: a stream stays
with one consumer, whichever broker message it is. MQTT shared subscriptions (``$share/g/...``)
hand out single messages instead, so no member sees a whole sequence (docs/mqtt.md measures it).

``Checkpoint`` keeps each consumer's cursors (``epoch``, next ``seq``) of its topics in
``<dir>/<client_id>.json``, so a consumer that was killed resumes where its application stopped
and asks the gateways' spools for the rest. At start it reads every file in ``<dir>`` and takes,
for each topic it now owns, the cursor of the most recently saved file: consumers that share the
directory hand streams over when ``N`` changes. No I/O here except ``Checkpoint``.
"""

from __future__ import annotations

import json
import logging
import os
import time
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

__all__ = ["Checkpoint", "Partition", "check_filter", "matches", "partition_of", "stream_of"]

log = logging.getLogger("edge_anonymize")
SPOOL, REPLAY = "spool", "replay"  # the last topic level of a stream's control topics (mqtt_wire.py)


def partition_of(topic: str, n: int) -> int:
    """The consumer (0..n-1) that owns ``topic``: CRC-32 (zlib, IEEE) of its UTF-8 bytes, modulo ``n``.

    Stable across processes, hosts and languages (unlike Python's salted ``hash``)."""
    return zlib.crc32(topic.encode()) % n


class Partition:
    """``"k/N"``: this consumer is number ``k`` (0-based) of ``N``; ``None`` or ``"0/1"`` owns everything."""

    def __init__(self, spec: str | None = None) -> None:
        self.k, self.n = 0, 1
        if spec:
            k, sep, n = spec.partition("/")
            if not sep or not k.isdigit() or not n.isdigit() or not 0 <= int(k) < int(n):
                raise ValueError(f"partition must be K/N with 0 <= K < N, got {spec!r}")
            self.k, self.n = int(k), int(n)

    def owns(self, topic: str) -> bool:
        return self.n == 1 or partition_of(topic, self.n) == self.k

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"


def check_filter(topic: str) -> None:
    """A subscription filter the consumer can follow: ``ValueError`` with a one-line reason if not."""
    if not topic:
        raise ValueError("the topic filter is empty")
    if topic.startswith("$share/"):
        raise ValueError("a shared subscription ($share/...) gives each member single messages, so no member "
                         "sees a stream's whole sequence and gaps cannot be told from the other members' share; "
                         "split the streams with partition=K/N instead (docs/mqtt.md)")  # fmt: skip
    levels = topic.split("/")
    for i, level in enumerate(levels):
        if ("+" in level and level != "+") or ("#" in level and (level != "#" or i != len(levels) - 1)):
            raise ValueError(f"bad topic filter {topic!r}: + and # must be whole levels, # only the last")
    if levels[-1] in (SPOOL, REPLAY):
        raise ValueError(f"the topic filter {topic!r} names a control topic; give the windows' topic")


def matches(filt: str, topic: str) -> bool:
    """MQTT topic matching: ``+`` is one level, a trailing ``#`` any number (zero included)."""
    f, t = filt.split("/"), topic.split("/")
    for i, level in enumerate(f):
        if level == "#":
            return True
        if i >= len(t) or (level != "+" and level != t[i]):
            return False
    return len(f) == len(t)


def stream_of(topic: str, filt: str) -> tuple[str, str]:
    """``(stream topic, kind)`` of a message received on ``filt``: kind ``"window"``, ``"spool"``,
    ``"replay"`` (another consumer's request, seen by a ``#`` filter) or ``""`` (none of these)."""
    head, _, last = topic.rpartition("/")
    if not filt.endswith("#"):  # subscribed as <filt> and <filt>/spool: the level count tells them apart
        if matches(filt, topic):
            return topic, "window"
        return (head, SPOOL) if last == SPOOL and matches(filt, head) else (topic, "")
    if head and last in (SPOOL, REPLAY):
        return head, last
    return topic, "window"


class Checkpoint:
    """Cursors ``{topic: (epoch, next seq)}`` of one consumer in ``<directory>/<client_id>.json``.

    ``save`` writes a temporary file, fsyncs it and renames it over the old one: a killed consumer
    leaves the previous or the new file, never a torn one. ``load`` logs an unreadable file once
    and skips it (those streams start as if new: ``start=``).
    """

    def __init__(self, directory: str, client_id: str) -> None:
        self.dir = Path(directory)
        if not self.dir.is_dir():
            raise ValueError(f"state directory {directory!r} does not exist")
        self.path = self.dir / f"{quote(client_id, safe='')}.json"
        self._saved: dict[str, tuple[str, int]] | None = None
        self.errors = 0

    def load(self, wanted: Any) -> dict[str, tuple[str, int]]:
        """The cursors of the topics ``wanted(topic)`` accepts, each from the newest file that has it."""
        best: dict[str, tuple[float, str, int]] = {}
        for path in sorted(self.dir.glob("*.json")):
            try:
                d = json.loads(path.read_bytes())
                saved, cursors = float(d["saved"]), d["cursors"]
                items = [(str(t), str(c["epoch"]), int(c["next"])) for t, c in cursors.items()]
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                log.warning("consumer state %s unreadable (%s); its streams start anew", path, type(exc).__name__)
                continue
            for topic, epoch, nxt in items:
                if wanted(topic) and nxt >= 0 and (topic not in best or saved > best[topic][0]):
                    best[topic] = (saved, epoch, nxt)
        out = {t: (e, n) for t, (_, e, n) in best.items()}
        self._saved = dict(out)
        return out

    def save(self, cursors: dict[str, tuple[str, int]]) -> None:
        if cursors == self._saved:
            return
        doc = {"saved": time.time(), "cursors": {t: {"epoch": e, "next": n} for t, (e, n) in sorted(cursors.items())}}
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            with tmp.open("wb") as f:
                f.write(json.dumps(doc, separators=(",", ":")).encode())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            if not self.errors:
                log.error("cannot write consumer state %s: %s; a restart resumes from an older cursor", self.path, exc)
            self.errors += 1
            return
        self._saved = dict(cursors)
