"""What sinks receive and the one queueing discipline they share.

Only ``AnonymizedWindow`` crosses into a sink: the interpreter stage is the only place that
builds one, and ``Sink.send`` refuses anything else, so a raw sample can never be forwarded by
mistake. ``send`` never blocks acquisition: each sink owns a bounded queue drained by its own
thread; when the queue is full the window is dropped and counted (``stats.dropped``).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import numpy as np

__all__ = ["AnonymizedWindow", "SinkStats", "Sink", "QueuedSink", "MemorySink", "url_options", "flag"]


def url_options(query: str) -> dict[str, str]:
    """``a=1&b=x`` -> ``{"a": "1", "b": "x"}`` (the last value wins), for every sink URL."""
    return {k: v[-1] for k, v in parse_qs(query).items()}


def flag(value: str | None) -> bool:
    """A boolean URL option: ``1``, ``true`` or ``yes`` (any case) is on."""
    return (value or "").lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class AnonymizedWindow:
    """One anonymizer output, the only record apps ever see.

    Args:
        window_id: per-stream sequence number of windows (consumers dedupe on (stream, window_id)).
        stream: stream/device identifier chosen by the gateway config.
        start_sample: device sample index of the window's first sample.
        t_device_us: device timestamp of the first sample [µs], if the device sends one.
        t_gateway: gateway wall-clock time when the window was produced [s since epoch].
        rate_hz: sample rate of ``data`` [Hz].
        channels, units: names and units of ``data``'s columns.
        data: ``(length, channels)`` float32 anonymized samples, in ``units``.
        flags: quality flags, e.g. ``("interpolated",)`` when a short gap was filled.
        model_version: the bundle's model version.
    """

    window_id: int
    stream: str
    start_sample: int
    t_device_us: int | None
    t_gateway: float
    rate_hz: float
    channels: tuple[str, ...]
    units: tuple[str, ...]
    data: np.ndarray
    flags: tuple[str, ...] = ()
    model_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "anonymized_window",
            "stream": self.stream,
            "window_id": self.window_id,
            "start_sample": self.start_sample,
            "t_device_us": self.t_device_us,
            "t_gateway": round(self.t_gateway, 6),
            "rate_hz": self.rate_hz,
            "channels": list(self.channels),
            "units": list(self.units),
            "flags": list(self.flags),
            "model_version": self.model_version,
            "data": np.round(self.data.astype(np.float64), 5).tolist(),
        }

    def to_json(self) -> bytes:
        """One compact JSON line (no trailing newline)."""
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()


@dataclass
class SinkStats:
    """Content-free counters of one sink."""

    sent: int = 0
    dropped: int = 0
    errors: int = 0
    last_error: str = ""


class Sink:
    """Base class: ``send`` (never blocks) and ``close`` (drains within ``timeout``)."""

    url: str = ""

    def __init__(self) -> None:
        self.stats = SinkStats()

    def send(self, window: AnonymizedWindow) -> None:
        if not isinstance(window, AnonymizedWindow):
            raise TypeError(f"sinks accept only AnonymizedWindow, not {type(window).__name__}")
        self._send(window)

    def _send(self, window: AnonymizedWindow) -> None:
        raise NotImplementedError

    def close(self, timeout: float = 5.0) -> None:
        """Flush what can be flushed within ``timeout`` seconds and release resources."""

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class QueuedSink(Sink):
    """A sink whose ``_write`` runs on its own thread behind a bounded queue.

    Subclasses implement ``_write(window)`` (may block or raise) and optionally ``_close()``.
    """

    def __init__(self, *, maxsize: int = 1024) -> None:
        super().__init__()
        self._q: queue.Queue[AnonymizedWindow | None] = queue.Queue(maxsize=maxsize)
        self._thread = threading.Thread(target=self._run, name=f"sink-{type(self).__name__}", daemon=True)
        self._closed = False
        self._thread.start()

    def _send(self, window: AnonymizedWindow) -> None:
        if self._closed:
            self.stats.dropped += 1
            return
        try:
            self._q.put_nowait(window)
        except queue.Full:
            self.stats.dropped += 1

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            try:
                self._write(item)
                self.stats.sent += 1
            except Exception as exc:  # a sink failure must never reach acquisition
                self.stats.errors += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"[:200]

    def _write(self, window: AnonymizedWindow) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        pass

    def close(self, timeout: float = 5.0) -> None:
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        while True:  # the sentinel must get in even if the queue is full of stale windows
            try:
                self._q.put(None, timeout=0.05)
                break
            except queue.Full:
                if time.monotonic() > deadline:
                    break
        self._thread.join(max(deadline - time.monotonic(), 0.0))
        self._close()


@dataclass
class _Memory:
    windows: list[AnonymizedWindow] = field(default_factory=list)


class MemorySink(Sink):
    """Keeps every window in memory: for tests and the demo (``memory://``)."""

    url = "memory://"

    def __init__(self) -> None:
        super().__init__()
        self._mem = _Memory()
        self._lock = threading.Lock()

    @property
    def windows(self) -> list[AnonymizedWindow]:
        with self._lock:
            return list(self._mem.windows)

    def _send(self, window: AnonymizedWindow) -> None:
        with self._lock:
            self._mem.windows.append(window)
        self.stats.sent += 1
