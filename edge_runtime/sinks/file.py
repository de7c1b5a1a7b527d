"""``file:///path.jsonl``: JSON lines that survive SIGKILL and power loss as whole records.

Each record is one ``os.write`` of ``line + b"\\n"`` on an ``O_APPEND`` descriptor; on open, a torn
tail (a last line without its newline, or one that does not parse) is cut off, so a reader only
ever sees whole records. Rotation (``max_bytes=``) keeps numbered files: the full file becomes
``path.1``, the older ones move up to ``path.2`` ... ``path.<keep>`` (default 5), renames only,
so no file is ever overwritten or half-written. Only the oldest file past ``keep`` is deleted, and
its windows are counted (``stats.removed``) and logged in one line. The file's folder must exist;
``?mkdir=1`` creates it (and its parents), so a mistyped path is refused at start.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import SinkError
from .base import AnonymizedWindow, QueuedSink, flag, url_options

__all__ = ["FileSink", "repair_tail", "KEEP"]

log = logging.getLogger("edge_anonymize")
KEEP = 5  # rotated files kept by default (path.1 ... path.5)


def repair_tail(path: Path) -> int:
    """Truncate a torn last record; returns the number of bytes removed."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    with open(path, "rb+") as f:
        # read back just far enough to find the last newline
        chunk = 1 << 16
        pos, tail = size, b""
        while pos > 0:
            step = min(chunk, pos)
            pos -= step
            f.seek(pos)
            tail = f.read(step) + tail
            if b"\n" in tail[:-1] or pos == 0:
                break
        keep = size
        if not tail.endswith(b"\n"):
            cut = tail.rfind(b"\n")
            keep = pos + cut + 1 if cut >= 0 else 0
        else:  # last line complete; check it parses (a zero-filled tail after power loss does not)
            body = tail[:-1]
            start = body.rfind(b"\n") + 1
            try:
                json.loads(body[start:])
            except ValueError:
                keep = pos + start
        if keep < size:
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
        return size - keep


def _count_records(path: Path) -> int:
    n = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            n += block.count(b"\n")
    return n


class FileSink(QueuedSink):
    """Append-only JSON lines.

    Args:
        path: file to append to (created with mode 0640).
        fsync: fsync after every record (power-loss safe; slower on SD cards).
        max_bytes: rotate when the file would exceed this size (0 = never).
        keep: rotated files kept (``path.1`` newest ... ``path.<keep>`` oldest), at least 1.
        mkdir: create missing parent folders (URL ``?mkdir=1``); otherwise a missing folder is an
            error, so a typo in the path is caught at start instead of writing somewhere unexpected.
    """

    def __init__(self, path: str | Path, *, fsync: bool = False, max_bytes: int = 0, keep: int = KEEP,
                 mkdir: bool = False, maxsize: int = 1024) -> None:  # fmt: skip
        self.path = Path(path)
        self.url = f"file://{self.path}"
        if max_bytes < 0 or keep < 1:
            raise SinkError(f"file sink needs max_bytes >= 0 and keep >= 1, got max_bytes={max_bytes} keep={keep}")
        self.fsync, self.max_bytes, self.keep = fsync, max_bytes, keep
        if not mkdir and not self.path.parent.is_dir():
            raise SinkError(f"file sink folder {self.path.parent} does not exist (create it, or add ?mkdir=1 to the URL)")
        try:
            if mkdir:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.repaired = repair_tail(self.path)
            self._fd = self._open()
        except OSError as exc:
            raise SinkError(f"cannot open file sink {self.path}: {exc.strerror or exc}") from exc
        super().__init__(maxsize=maxsize)

    @classmethod
    def from_url(cls, url: str) -> FileSink:
        u = urlsplit(url)
        q = url_options(u.query)
        path = unquote(u.path)
        if not path:
            raise SinkError(f"file sink needs file:///absolute/path.jsonl, got {url!r}")
        try:
            return cls(path, fsync=flag(q.get("fsync")), max_bytes=int(q.get("max_bytes", "0")),
                       keep=int(q.get("keep", str(KEEP))), mkdir=flag(q.get("mkdir")))  # fmt: skip
        except ValueError as exc:
            raise SinkError(f"bad file sink option in {url!r}: {exc}") from exc

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o640)

    def rotated(self, k: int) -> Path:
        """The k-th rotated file (1 = newest)."""
        return self.path.with_name(f"{self.path.name}.{k}")

    def _rotate(self) -> None:
        """path -> path.1 -> ... -> path.<keep>; only path.<keep> is deleted, and its windows counted."""
        oldest = self.rotated(self.keep)
        if oldest.exists():
            n = _count_records(oldest)
            oldest.unlink()
            self.stats.removed += n
            log.info("file sink %s: rotation deleted %s (%d window(s)); keep=%d", self.path, oldest.name, n, self.keep)
        for k in range(self.keep - 1, 0, -1):
            if self.rotated(k).exists():
                os.replace(self.rotated(k), self.rotated(k + 1))  # the target was just moved away: never overwrites
        os.close(self._fd)
        os.replace(self.path, self.rotated(1))
        self._fd = self._open()

    def _write(self, window: AnonymizedWindow) -> None:
        record = window.to_json() + b"\n"
        size = os.fstat(self._fd).st_size
        if self.max_bytes and size and size + len(record) > self.max_bytes:  # an empty file is never rotated
            self._rotate()
        if os.write(self._fd, record) != len(record):  # a short write leaves a torn tail: cut it
            repair_tail(self.path)
            raise OSError("short write to file sink (disk full?)")
        if self.fsync:
            os.fsync(self._fd)

    def _close(self) -> None:
        try:
            os.fsync(self._fd)
        except OSError:
            pass
        os.close(self._fd)
