"""Bounded spools of the window payloads the MQTT sink published, addressed by sequence number.

The sink keeps the newest windows so a consumer can ask for what a broker lost after it had
acknowledged it. The bounds are records and bytes; what falls out is counted (``evicted``) and
the ``first`` seq the spool still holds is published, so a consumer knows what is gone.

``DiskSpool`` (``spool_dir=``) survives a gateway restart: a folder of segment files of checked
records (``<IQI`` payload length, seq, crc32 of seq + payload, then the payload), each appended
and flushed to the OS in one write, fsynced with ``state.json`` (temp file + rename) by
``sync``. A torn tail (crash, power loss, a truncated file) is cut back to the last whole record
when the spool opens: one warning line, never a traceback.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import struct
import zlib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import SinkError

__all__ = ["Spool", "DiskSpool"]

log = logging.getLogger("edge_anonymize")
_HEAD = struct.Struct("<IQI")
_MAX_RECORD = 16 << 20


def _crc(seq: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(seq.to_bytes(8, "little")))


class Spool:
    """In memory: the newest ``max_records`` payloads, ``max_bytes`` at most; lost at exit."""

    def __init__(self, max_records: int = 4096, max_bytes: int = 32 << 20) -> None:
        if max_records < 1 or max_bytes < 1:
            raise SinkError(f"spool bounds must be >= 1, got {max_records} records and {max_bytes} bytes")
        self.max_records, self.max_bytes = max_records, max_bytes
        self.epoch = secrets.token_hex(6)  # random: says nothing about the wearer or the gateway
        self.first = self.next_seq = self.acked_below = 0
        self.nbytes = self.evicted = self.torn = 0
        self.where = "memory"
        self._sizes: deque[int] = deque()
        self._mem: deque[bytes] = deque()

    def __len__(self) -> int:
        return self.next_seq - self.first

    @property
    def last(self) -> int:
        return self.next_seq - 1

    def append(self, payload: bytes) -> int:
        """Keep ``payload`` as seq ``next_seq`` (returned), evicting the oldest beyond the bounds."""
        seq = self.next_seq
        self._store(seq, payload)
        self._sizes.append(len(payload))
        self.nbytes += len(payload)
        self.next_seq += 1
        self._evict()
        return seq

    def _evict(self) -> None:
        while len(self) > self.max_records or (self.nbytes > self.max_bytes and len(self) > 1):
            self._forget(self.first)
            self.nbytes -= self._sizes.popleft()
            self.first += 1
            self.evicted += 1

    def get(self, seq: int) -> bytes | None:
        """The payload of ``seq``, or None when it left the spool (or its record is damaged)."""
        return self._mem[seq - self.first] if self.first <= seq < self.next_seq else None

    def _store(self, seq: int, payload: bytes) -> None:
        self._mem.append(payload)

    def _forget(self, seq: int) -> None:
        self._mem.popleft()

    def sync(self, acked_below: int) -> None:
        """Make appended records and the acknowledgement mark durable (disk spool only)."""

    def close(self, acked_below: int) -> None:
        self.sync(acked_below)


@dataclass
class _Segment:
    first: int
    path: Path
    size: int = 0
    offsets: list[int] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.first + len(self.offsets)


class DiskSpool(Spool):
    """The spool in ``folder`` (created inside an existing parent), locked against a second sink."""

    def __init__(self, folder: str | Path, max_records: int = 4096, max_bytes: int = 32 << 20, *,
                 segment_records: int = 256) -> None:  # fmt: skip
        super().__init__(max_records, max_bytes)
        self.dir, self.segment_records = Path(folder), max(segment_records, 1)
        self.where = str(self.dir)
        if not self.dir.parent.is_dir():
            raise SinkError(f"spool_dir {self.dir.parent} does not exist (create it, e.g. systemd StateDirectory=)")
        try:
            self.dir.mkdir(mode=0o700, exist_ok=True)
            self._lock: BinaryIO = open(self.dir / "lock", "ab")  # held (and locked) until close
        except OSError as exc:
            raise SinkError(f"cannot use spool_dir {self.dir.parent}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            raise SinkError(f"MQTT spool {self.dir} is in use by another sink") from None
        self._segs: list[_Segment] = []
        self._fh: BinaryIO | None = None
        self._rh: tuple[Path, BinaryIO] | None = None
        self._extra: dict[int, bytes] = {}  # records the disk refused (full, read-only): kept in memory
        self._reported = ""
        self._recover()

    # -- opening ---------------------------------------------------------------------------------
    def _read_state(self) -> dict[str, Any]:
        path = self.dir / "state.json"
        try:
            d = json.loads(path.read_bytes())
            return d if isinstance(d, dict) else {}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            log.warning("MQTT spool %s: state.json unreadable; spooled windows will be resent", self.dir)
            return {}

    def _scan(self, path: Path) -> tuple[_Segment, list[int]] | None:
        try:
            first = int(path.stem)
            data = path.read_bytes()
        except (ValueError, OSError):
            return None
        seg, sizes, pos = _Segment(first, path), [], 0
        while pos + _HEAD.size <= len(data):
            n, seq, crc = _HEAD.unpack_from(data, pos)
            end = pos + _HEAD.size + n
            if seq != seg.end or n > _MAX_RECORD or end > len(data) or _crc(seq, data[pos + _HEAD.size : end]) != crc:
                break
            seg.offsets.append(pos)
            sizes.append(n)
            pos = end
        if pos < len(data):
            self.torn += 1
            log.warning("MQTT spool %s: torn record at byte %d cut off, %d whole record(s) kept", path, pos, len(sizes))
            try:
                os.truncate(path, pos)
            except OSError:
                pass
        seg.size = pos
        return seg, sizes

    def _recover(self) -> None:
        """Reload the segments. Seqs that were published but are not on disk (a torn or lost
        record) stay a hole, never reused: a consumer that has the old window would drop the new one."""
        state = self._read_state()
        sizes: list[int] = []  # 0: a hole
        for path in sorted(self.dir.glob("*.seg")):
            found = self._scan(path)
            if found is None:
                continue
            seg, seg_sizes = found
            if not seg.offsets:
                path.unlink(missing_ok=True)
                continue
            end = self._segs[-1].end if self._segs else seg.first
            if not end <= seg.first <= end + self.max_records:  # overlapping or far apart: keep the newest run
                log.warning("MQTT spool %s: %s does not follow record %d, older records dropped", self.dir,
                            path.name, end - 1)  # fmt: skip
                for old in self._segs:
                    old.path.unlink(missing_ok=True)
                self._segs, sizes, end = [], [], seg.first
            sizes += [0] * (seg.first - end)
            self._segs.append(seg)
            sizes += seg_sizes
        if self._segs:
            self.first, self.next_seq = self._segs[0].first, self._segs[-1].end
            try:  # the records carry their epoch: it survives a lost state file
                self.epoch = str(json.loads(self.get(self.last) or b"")["epoch"])
            except (ValueError, KeyError, TypeError):
                pass
        nxt = state.get("next")
        same = isinstance(state.get("epoch"), str) and (not self._segs or state["epoch"] == self.epoch)
        if isinstance(nxt, int) and nxt > self.next_seq and same:  # seqs up to ``next`` were published: a hole
            if not self._segs or nxt - self.next_seq > self.max_records:
                for old in self._segs:
                    old.path.unlink(missing_ok=True)
                self._segs, sizes, self.first = [], [], nxt
            sizes += [0] * (nxt - self.first - len(sizes))
            self.epoch, self.next_seq = state["epoch"], nxt
        self._sizes, self.nbytes = deque(sizes), sum(sizes)
        acked = state.get("acked_below") if state.get("epoch") == self.epoch else None
        self.acked_below = min(max(acked if isinstance(acked, int) else self.first, self.first), self.next_seq)
        self._evict()

    # -- records ---------------------------------------------------------------------------------
    def _failed(self, what: str, exc: OSError) -> None:
        reason = f"MQTT spool {self.dir}: cannot {what}: {exc.strerror or exc}"
        if reason != self._reported:
            self._reported = reason
            log.error("%s; keeping those windows in memory", reason)

    def _store(self, seq: int, payload: bytes) -> None:
        rec = _HEAD.pack(len(payload), seq, _crc(seq, payload)) + payload
        try:
            if self._fh is None or len(self._segs[-1].offsets) >= self.segment_records or self._segs[-1].end != seq:
                self._rotate(seq)
            assert self._fh is not None
            if self._fh.write(rec) != len(rec):
                raise OSError("short write")
        except OSError as exc:
            self._failed("write", exc)
            self._extra[seq] = payload
            if self._fh is not None:
                self._fh.close()
                self._fh = None  # the next record starts a fresh segment
            return
        seg = self._segs[-1]
        seg.offsets.append(seg.size)
        seg.size += len(rec)

    def _rotate(self, seq: int) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        last = self._segs[-1] if self._segs else None
        if last is not None and last.end == seq and len(last.offsets) < self.segment_records:
            seg = last  # reopened after a restart: keep appending to it
        else:
            seg = _Segment(seq, self.dir / f"{seq:020d}.seg")
            self._segs.append(seg)
        self._fh = open(seg.path, "ab", buffering=0)  # unbuffered: one write() per record

    def get(self, seq: int) -> bytes | None:
        if not self.first <= seq < self.next_seq:
            return None
        if seq in self._extra:
            return self._extra[seq]
        seg = next((s for s in reversed(self._segs) if s.first <= seq), None)
        if seg is None or seq >= seg.end:
            return None
        try:
            if self._rh is None or self._rh[0] != seg.path:
                if self._rh is not None:
                    self._rh[1].close()
                self._rh = (seg.path, open(seg.path, "rb"))  # cached for the rest of a replay run
            fh = self._rh[1]
            fh.seek(seg.offsets[seq - seg.first])
            n, s, crc = _HEAD.unpack(fh.read(_HEAD.size))
            payload = fh.read(n)
        except (OSError, struct.error):
            return None
        return payload if s == seq and len(payload) == n and _crc(s, payload) == crc else None

    def _forget(self, seq: int) -> None:
        self._extra.pop(seq, None)
        while self._segs and self._segs[0].end <= seq + 1 and (self._fh is None or len(self._segs) > 1):
            seg = self._segs.pop(0)
            if self._rh is not None and self._rh[0] == seg.path:
                self._rh[1].close()
                self._rh = None
            seg.path.unlink(missing_ok=True)

    # -- durability ------------------------------------------------------------------------------
    def sync(self, acked_below: int) -> None:
        tmp = self.dir / "state.json.tmp"
        try:
            if self._fh is not None:
                os.fsync(self._fh.fileno())
            with open(tmp, "wb") as f:
                f.write(json.dumps({"epoch": self.epoch, "next": self.next_seq, "acked_below": acked_below}).encode())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.dir / "state.json")
        except OSError as exc:
            self._failed("sync", exc)

    def close(self, acked_below: int) -> None:
        self.sync(acked_below)
        for fh in (self._fh, self._rh[1] if self._rh else None, self._lock):
            if fh is not None:
                fh.close()
        self._fh = self._rh = None
