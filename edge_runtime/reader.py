"""The reader thread of one blocking source, shared by the one-stream pipeline and the gateway.

It owns the source: reads byte chunks into a bounded queue (a live device's overflow is dropped
and counted, the decoder then sees a sequence gap; a recording waits for room instead, so an
unpaced replay loses nothing) and reconnects on loss with capped exponential backoff (paho-style,
clock and sleep injectable). ``RECONNECT`` and ``EOF`` go into the queue as markers. ``notify``
runs after every put: the gateway rings its selector's doorbell there, the pipeline needs nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from .backoff import Backoff
from .config import SourceConfig
from .errors import SourceError
from .metrics import Metrics
from .sources.base import Source
from .watchdog import Watchdog

__all__ = ["RECONNECT", "EOF", "SourceReader"]

log = logging.getLogger("edge_anonymize")
RECONNECT, EOF = object(), object()


class SourceReader:
    """Reads ``source`` into ``q`` until ``stop`` is set, the source ends, or a bug ends it (``fatal``).

    Args:
        source: an unopened source (opened, and reopened after a loss, here).
        q: the bounded queue the consumer drains.
        cfg: read timeout, backoff, ``wait`` (keep retrying when absent at start).
        metrics: counts ``queue_overflow``, ``reconnects``, ``source_errors``; state and last error.
        stop: ends the thread (and every backoff wait) promptly.
        name: the stream's name in log lines ("" for the one-stream pipeline).
    """

    def __init__(self, source: Source, q: queue.Queue[object], cfg: SourceConfig, metrics: Metrics,
                 stop: threading.Event, *, watchdog: Watchdog | None = None, name: str = "",
                 notify: Callable[[], object] = lambda: None, sleep: Callable[[float], object] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.source, self.q, self.cfg, self.metrics, self.stop = source, q, cfg, metrics, stop
        self.watchdog, self.notify, self._clock = watchdog, notify, clock
        self._sleep = sleep or stop.wait
        self._who = f"stream {name}: " if name else ""
        self.backoff = Backoff(cfg.reconnect_min_s, cfg.reconnect_max_s)
        self.fatal: BaseException | None = None
        self.thread = threading.Thread(target=self.run, name=f"edge-reader{'-' + name if name else ''}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _beat(self) -> None:
        if self.watchdog is not None:
            self.watchdog.beat("reader")

    def _put_waiting(self, item: object) -> None:
        while not self.stop.is_set():
            try:
                self.q.put(item, timeout=0.1)
                self.notify()
                return
            except queue.Full:
                continue

    def run(self) -> None:
        timeout = self.cfg.read_timeout_s
        opened_once = False
        try:
            while not self.stop.is_set():
                try:
                    self.source.open()
                except SourceError as exc:
                    if not opened_once and not self.cfg.wait:
                        raise  # interactive start: a wrong port is an error, not a wait
                    self._lost(exc)
                    continue
                opened_once = True
                self.metrics.state = "connected"
                log.info("%ssource connected: %s", self._who, self.source.url)
                try:
                    while not self.stop.is_set():
                        data = self.source.read(timeout)
                        self._beat()
                        if not data:
                            continue
                        self.backoff.reset()
                        if self.source.can_wait:
                            self._put_waiting(data)
                            continue
                        try:
                            self.q.put_nowait(data)
                            self.notify()
                        except queue.Full:
                            self.metrics.add("queue_overflow")
                except SourceError as exc:
                    self.source.close()
                    self._put_waiting(RECONNECT)
                    self.metrics.add("reconnects")
                    self._lost(exc)
                except EOFError:
                    self.source.close()
                    self._put_waiting(EOF)
                    return
            self.source.close()
        except BaseException as exc:  # a bug in a source must end the run, not hang it
            self.fatal = exc
            self.source.close()
            self.stop.set()
            self.notify()

    def _lost(self, exc: SourceError) -> None:
        self.metrics.add("source_errors")
        self.metrics.state = "reconnecting"
        self.metrics.last_error = str(exc)[:200]
        delay = self.backoff.next_delay()
        log.warning("%s%s; retrying in %.1f s", self._who, exc, delay)
        end = self._clock() + delay
        while not self.stop.is_set():  # keep the watchdog fed while waiting: backing off is progress
            self._beat()
            left = end - self._clock()
            if left <= 0:
                break
            self._sleep(min(left, 1.0))
