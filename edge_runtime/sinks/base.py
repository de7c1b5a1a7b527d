"""What sinks receive and the one queueing discipline they share.

Only ``AnonymizedWindow`` crosses into a sink: the interpreter stage is the only place that
builds one, and ``Sink.send`` refuses anything else, so a raw sample can never be forwarded by
mistake. Each queued sink owns a bounded queue drained by its own thread. What a full queue does
depends on the source:

* a live device cannot wait, so ``send`` never blocks: the window is dropped and counted
  (``stats.dropped``) and acquisition goes on;
* a recording can wait (``Source.can_wait``), so the pipeline calls ``apply_backpressure()`` and a
  full sink makes ``send`` wait for room instead (an unpaced replay loses nothing). The wait is
  bounded: a sink that makes no progress for ``wait_s`` seconds is *stalled*, drops (counted, one
  log line) until it has room again, and ``stop_waiting()`` (SIGTERM) ends every wait by the drain
  deadline. Sinks with their own buffer (MQTT's spool) use the same ``_wait`` for theirs.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import parse_qs

import numpy as np

__all__ = ["AnonymizedWindow", "SinkStats", "Sink", "QueuedSink", "url_options", "flag", "WAIT_S", "send_counted"]

log = logging.getLogger("edge_anonymize")
WAIT_S = 10.0  # a sink without progress this long is stalled (well inside the unit's WatchdogSec=30)


def url_options(query: str) -> dict[str, str]:
    """``a=1&b=x`` -> ``{"a": "1", "b": "x"}`` (the last value wins), for every sink URL."""
    return {k: v[-1] for k, v in parse_qs(query).items()}


def flag(value: str | None) -> bool:
    """A boolean URL option: ``1``, ``true`` or ``yes`` (any case) is on."""
    return (value or "").lower() in ("1", "true", "yes")


class AnonymizedWindow(NamedTuple):
    """One anonymizer output, the only record apps ever see.

    Immutable, as every sink of a view shares one record; a named tuple rather than a frozen
    dataclass because it is built once per window and view (1.2 µs instead of 3.9).

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
        view: the bundle-set member that made ``data`` ("default" for a single bundle; see bundleset.py),
            ``label`` for a label-only release, ``NAME@RATEHz`` for a generalized one (views.py).
        activity, activity_p: the on-device activity estimate and its probability, only in a
            label-only release (then ``data`` is empty: no samples at all).
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
    view: str = "default"
    activity: str | None = None
    activity_p: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {
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
            "view": self.view,
            "data": np.round(self.data.astype(np.float64), 5).tolist(),
        }
        if self.activity is not None:
            d |= {"activity": self.activity, "activity_p": self.activity_p}
        return d

    def to_json(self) -> bytes:
        """One compact JSON line (no trailing newline)."""
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()


def send_counted(sinks: list[Sink], window: AnonymizedWindow) -> None:
    """Send to every sink; a broken sink is counted, never allowed to stop acquisition."""
    for sink in sinks:
        try:
            sink.send(window)
        except Exception as exc:
            sink.stats.errors += 1
            sink.stats.last_error = type(exc).__name__


@dataclass
class SinkStats:
    """Content-free counters of one sink.

    ``dropped``: windows the sink never delivered; ``removed``: windows it did write that its own
    retention later deleted (the oldest rotated file sink file), counted so nothing disappears silently.
    """

    sent: int = 0
    dropped: int = 0
    errors: int = 0
    removed: int = 0
    last_error: str = ""


class Sink:
    """Base class: ``send`` (waits only under backpressure, bounded) and ``close`` (drains within ``timeout``)."""

    url: str = ""
    view: str = ""  # the bundle-set member this sink reads ("" = the default), from the URL's ?view=

    def __init__(self) -> None:
        self.stats = SinkStats()
        self.wait_s: float | None = None  # None: never wait (live source); else the bounded wait [s]
        self._wait_end: float | None = None  # monotonic time after which nothing waits (shutdown)

    def apply_backpressure(self, wait_s: float = WAIT_S) -> None:
        """The source can wait (a recording): a full sink makes ``send`` wait instead of dropping."""
        if not wait_s > 0:
            raise ValueError(f"backpressure wait must be > 0 s, got {wait_s}")
        self.wait_s = wait_s

    def stop_waiting(self, within_s: float = 0.0) -> None:
        """End every backpressure wait ``within_s`` from now (SIGTERM's drain deadline); signal-safe."""
        self._wait_end = time.monotonic() + within_s

    @property
    def waits_ended(self) -> bool:
        return self._wait_end is not None and time.monotonic() >= self._wait_end

    def _wait(self, attempt: Callable[[float], bool]) -> bool:
        """Retry ``attempt(slice_s)`` (a bounded blocking try) until it succeeds, at most ``wait_s`` and
        never past ``stop_waiting``'s deadline; False without backpressure or when the time is up."""
        if self.wait_s is None:
            return False
        end = time.monotonic() + self.wait_s
        while True:
            limit = end if self._wait_end is None else min(end, self._wait_end)
            left = limit - time.monotonic()
            if left <= 0:
                return False
            if attempt(min(left, 0.05)):
                return True

    def send(self, window: AnonymizedWindow) -> None:
        if not isinstance(window, AnonymizedWindow):
            raise TypeError(f"sinks accept only AnonymizedWindow, not {type(window).__name__}")
        self._send(window)

    def _send(self, window: AnonymizedWindow) -> None:
        raise NotImplementedError

    def flush(self) -> bool:
        """Wait until every accepted window was handed on, while the sink makes progress (at most
        ``wait_s`` without any); True when nothing is left. A recording's end calls it before ``close``."""
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Flush what can be flushed within ``timeout`` seconds and release resources."""

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class QueuedSink(Sink):
    """A sink whose ``_write`` runs on its own thread behind a bounded queue.

    Subclasses implement ``_write(window)`` (may block or raise) and optionally ``_close()``. Under
    backpressure ``send`` waits for room (see the module docstring); windows still queued when
    ``close`` gives up are counted as dropped, never lost silently.
    """

    def __init__(self, *, maxsize: int = 1024) -> None:
        super().__init__()
        self._q: queue.Queue[AnonymizedWindow | None] = queue.Queue(maxsize=maxsize)
        self._thread = threading.Thread(target=self._run, name=f"sink-{type(self).__name__}", daemon=True)
        self._closed = False
        self._stalled = False
        self._thread.start()

    def _offer(self, window: AnonymizedWindow, timeout: float) -> bool:
        try:
            self._q.put(window, timeout=timeout)
            return True
        except queue.Full:
            return False

    def _send(self, window: AnonymizedWindow) -> None:
        if self._closed:
            self.stats.dropped += 1
            return
        try:
            self._q.put_nowait(window)
        except queue.Full:
            if self._stalled or not self._wait(lambda t: self._offer(window, t)):
                self._drop_full()
                return
        if self._stalled:
            self._stalled = False
            log.info("sink %s has room again; waiting for it resumes", self.url)

    def _drop_full(self) -> None:
        self.stats.dropped += 1
        if self.wait_s is None or self._stalled or self.waits_ended:
            return
        self._stalled = True
        self.stats.last_error = f"no progress for {self.wait_s:g} s: dropping windows until there is room"
        log.warning("sink %s made no progress for %g s; dropping (counted) until it has room", self.url, self.wait_s)

    def _run(self) -> None:
        while True:
            item = self._q.get()
            try:
                if item is None:
                    return
                self._write(item)
                self.stats.sent += 1
            except Exception as exc:  # a sink failure must never reach acquisition
                self.stats.errors += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"[:200]
            finally:
                self._q.task_done()

    def _write(self, window: AnonymizedWindow) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        pass

    def _done(self) -> int:
        return self.stats.sent + self.stats.errors

    def flush(self) -> bool:
        if self.wait_s is None:
            return self._q.unfinished_tasks == 0
        done, idle_since = self._done(), time.monotonic()
        while self._q.unfinished_tasks and self._thread.is_alive() and not self.waits_ended:
            time.sleep(0.01)
            if self._done() != done:
                done, idle_since = self._done(), time.monotonic()
            elif time.monotonic() - idle_since > self.wait_s:
                break
        return self._q.unfinished_tasks == 0

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
        if self._thread.is_alive():  # gave up: what is still queued will never be written
            lost = 0
            while True:
                try:
                    lost += self._q.get_nowait() is not None
                except queue.Empty:
                    break
            if lost:
                self.stats.dropped += lost
                log.warning("sink %s: %d window(s) still queued at close, dropped", self.url, lost)
        self._close()
