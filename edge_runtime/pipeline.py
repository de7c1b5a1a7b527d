"""Wires the stages, nothing else: source -> decoder -> windower -> normalizer/interpreter -> sinks.

Two threads. The *reader* owns the source: it reads byte chunks into a bounded queue (a live
device's overflow is dropped and counted, the decoder then sees a sequence gap; a recording waits
for room instead, so an unpaced replay loses nothing) and reconnects on loss with capped
exponential backoff (paho-style, clock and sleep injectable). The *processor* (the caller's thread)
decodes, windows, runs the model and hands ``AnonymizedWindow`` records to sinks. ``swap()``
(SIGHUP) hands it a new, fully loaded model that takes over at the next window boundary. With a live
device a sink's ``send`` never blocks (a full sink drops and counts); with a recording every sink
applies backpressure (``Sink.apply_backpressure``: a bounded wait for room, see sinks/base.py), so
a replay is paced by its slowest sink and loses nothing, and at its end the sinks are flushed
before they close. ``stop()`` (SIGTERM) drains the queue within ``drain_timeout_s`` and closes sinks.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from .backoff import Backoff
from .bundleset import ModelSet
from .config import RuntimeConfig
from .decoder import Block, Gap, StreamDecoder, StreamInfo, check_stream
from .errors import EdgeError, SourceError
from .interpreter import Anonymizer
from .manifest import Manifest
from .metrics import Metrics, write_json
from .sinks.base import AnonymizedWindow, Sink
from .sources.base import Source
from .watchdog import Notifier, Watchdog
from .windower import Window, Windower, stream_windows

__all__ = ["Backoff", "Pipeline"]

log = logging.getLogger("edge_anonymize")
_RECONNECT, _EOF = object(), object()


class Pipeline:
    """One stream from ``source`` to ``sinks`` through the bundle's model.

    Args:
        source: an unopened source (opened, and reopened after a loss, by the reader thread).
        manifest, anonymizer: the checked bundle and its loaded model.
        sinks: opened sinks; closed by ``run`` on the way out.
        cfg: the runtime configuration.
        sleep: backoff sleep [s]; default waits on the stop event so shutdown is prompt.
        clock: monotonic time [s] for status/metrics intervals.
    """

    def __init__(self, source: Source, manifest: Manifest, anonymizer: Anonymizer, sinks: Sequence[Sink],
                 cfg: RuntimeConfig, *, models: ModelSet | None = None, metrics: Metrics | None = None,
                 watchdog: Watchdog | None = None,
                 sleep: Callable[[float], object] | None = None, clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.source, self.manifest, self.anonymizer, self.sinks, self.cfg = (
            source,
            manifest,
            anonymizer,
            list(sinks),
            cfg,
        )
        self.models = models or ModelSet.single(manifest, anonymizer)
        self.metrics = metrics or Metrics(ungated=self.models.ungated)
        self.watchdog = watchdog or Watchdog(Notifier({}))
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._clock = clock
        self.spec = manifest.window.with_stride(cfg.window.stride) if cfg.window.stride else manifest.window
        self.decoder = StreamDecoder(cfg.stream)
        self.windower = Windower(self.spec.length, self.spec.stride, len(self.spec.channels),
                                 max_interp=cfg.window.max_interp, period_us=1e6 / self.spec.rate_hz)  # fmt: skip
        self.backoff = Backoff(cfg.source.reconnect_min_s, cfg.source.reconnect_max_s)
        self.stream = cfg.stream.name
        self._q: queue.Queue[object] = queue.Queue(maxsize=cfg.source.queue_chunks)
        self._reader: threading.Thread | None = None
        self._fatal: BaseException | None = None
        self._window_id = 0
        self.metrics.section("decoder", self.decoder.stats)
        self.metrics.section("windower", lambda: self.windower.counts)
        self.metrics.section("sinks", self._sink_stats)
        self.metrics.section("bundle", lambda: {"model_version": self.manifest.model_version,
                                                "signed_by": self.manifest.signed_by,
                                                "unsigned": bool(self.manifest.unverified), "swaps": self.swaps})  # fmt: skip
        self._pending: ModelSet | None = None
        self.swaps = 0
        self.manifest, self.anonymizer = self.models.primary
        self._routes = self._route(self.models)
        self._stop_requested = False
        if source.can_wait:  # a recording waits for its sinks instead of losing windows
            for sink in self.sinks:
                sink.apply_backpressure()

    def _route(self, models: ModelSet) -> list[tuple[str, Manifest, Anonymizer, list[Sink]]]:
        """(view, manifest, model, its sinks) per view in use: each model runs once per window."""
        by_view: dict[str, list[Sink]] = {}
        for sink in self.sinks:
            by_view.setdefault(models.view_of(getattr(sink, "view", "")), []).append(sink)
        return [(v, *models.members[v], sinks) for v, sinks in by_view.items()]

    def swap(self, new: ModelSet | tuple[Manifest, Anonymizer]) -> None:
        """Run the models of ``new`` (a set, or one ``(manifest, anonymizer)``) from the next window on; thread-safe.

        The models are handed over whole, between two windows, so no window is produced by a
        half-loaded model and none is skipped. Why the window must stay: the windower, the stream
        check and every consumer were set up for the running rate, length, channels and units.

        Raises:
            ManifestError: a member's window differs from the running one, or a sink's view is
                missing from the new set (the running models stay).
        """
        models = new if isinstance(new, ModelSet) else ModelSet.single(*new)
        models.check_window(self.manifest.window)
        self._route(models)  # every sink's view must exist in the new set
        self._pending = models  # one reference assignment: atomic for the processor thread

    def _take_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            old = self.manifest.model_version
            self.models, self._routes = pending, self._route(pending)
            self.manifest, self.anonymizer = pending.primary
            self.metrics.ungated = pending.ungated
            self.swaps += 1
            log.info("model %s -> %s from window %d on", old, self.manifest.model_version, self._window_id)

    def stop(self) -> None:
        """Ask the pipeline to drain and return (signal-handler safe); sink waits end by the drain deadline."""
        self._stop_requested = True
        self._stop.set()
        for sink in self.sinks:
            sink.stop_waiting(self.cfg.runtime.drain_timeout_s)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _sink_stats(self) -> dict[str, dict[str, Any]]:
        names = [s.url.split("?")[0] or type(s).__name__ for s in self.sinks]
        return {
            (n if names.count(n) == 1 else f"{n}#{i}"): asdict(s.stats)
            for i, (n, s) in enumerate(zip(names, self.sinks, strict=True))
        }

    # -- reader thread -------------------------------------------------------------------------

    def _put_waiting(self, item: object) -> None:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _read_loop(self) -> None:
        timeout = self.cfg.source.read_timeout_s
        opened_once = False
        try:
            while not self._stop.is_set():
                try:
                    self.source.open()
                except SourceError as exc:
                    if not opened_once and not self.cfg.source.wait:
                        raise  # interactive start: a wrong port is an error, not a wait
                    self._lost(exc)
                    continue
                opened_once = True
                self.metrics.state = "connected"
                log.info("source connected: %s", self.source.url)
                try:
                    while not self._stop.is_set():
                        data = self.source.read(timeout)
                        self.watchdog.beat("reader")
                        if not data:
                            continue
                        self.backoff.reset()
                        if self.source.can_wait:
                            self._put_waiting(data)
                            continue
                        try:
                            self._q.put_nowait(data)
                        except queue.Full:
                            self.metrics.add("queue_overflow")
                except SourceError as exc:
                    self.source.close()
                    self._put_waiting(_RECONNECT)
                    self.metrics.add("reconnects")
                    self._lost(exc)
                except EOFError:
                    self.source.close()
                    self._put_waiting(_EOF)
                    return
            self.source.close()
        except BaseException as exc:  # a bug in a source must end the run, not hang it
            self._fatal = exc
            self.source.close()
            self._stop.set()

    def _lost(self, exc: SourceError) -> None:
        self.metrics.add("source_errors")
        self.metrics.state = "reconnecting"
        self.metrics.last_error = str(exc)[:200]
        delay = self.backoff.next_delay()
        log.warning("%s; retrying in %.1f s", exc, delay)
        end = self._clock() + delay
        while not self._stop.is_set():  # keep the watchdog fed while waiting: backing off is progress
            self.watchdog.beat("reader")
            left = end - self._clock()
            if left <= 0:
                break
            self._sleep(min(left, 1.0))

    # -- processor (caller's thread) -----------------------------------------------------------

    def run(self) -> None:
        """Process until the source ends (replay) or ``stop()``; sinks are closed on return.

        Raises:
            StreamMismatchError: the device's HELLO does not match the manifest.
            EdgeError: another fatal error (the source thread's, re-raised here).
        """
        self._reader = threading.Thread(target=self._read_loop, name="edge-reader", daemon=True)
        self._reader.start()
        self.watchdog.notifier.notify("READY=1")
        next_status = self._clock() + (self.cfg.runtime.status_interval_s or float("inf"))
        deadline: float | None = None
        try:
            while True:
                if self._stop.is_set() and deadline is None:
                    deadline = self._clock() + self.cfg.runtime.drain_timeout_s
                    self.metrics.state = "draining"
                    self.watchdog.notifier.notify("STOPPING=1")
                if deadline is not None and (
                    self._clock() > deadline or (self._q.empty() and not self._reader.is_alive())
                ):
                    break
                try:
                    item = self._q.get(timeout=0.1)
                except queue.Empty:
                    item = None
                self.watchdog.beat("processor")
                self.watchdog.tick()
                if self._clock() >= next_status:
                    next_status = self._clock() + self.cfg.runtime.status_interval_s
                    self.report()
                if item is _EOF:
                    break
                if item is _RECONNECT:
                    self._handle(self.decoder.reset())
                elif isinstance(item, bytes):
                    self.metrics.add("chunks")
                    self.metrics.add("bytes", len(item))
                    self._handle(self.decoder.feed(item))
        finally:
            self._stop.set()
            self._shutdown(deadline)
        if self._fatal is not None:
            if isinstance(self._fatal, EdgeError):
                raise self._fatal
            raise SourceError(f"source failed: {type(self._fatal).__name__}") from self._fatal

    def _shutdown(self, deadline: float | None) -> None:
        self.metrics.state = "stopped"
        if self._reader is not None:
            self._reader.join(timeout=max(self.cfg.source.read_timeout_s * 2, 1.0))
        if self.source.can_wait and not self._stop_requested:  # a recording's end: let every sink catch up
            for sink in self.sinks:
                if not sink.flush():
                    log.warning("sink %s did not catch up before closing", sink.url)
        left = max((deadline or self._clock() + self.cfg.runtime.drain_timeout_s) - self._clock(), 0.5)
        for sink in self.sinks:
            try:
                sink.close(timeout=left / max(len(self.sinks), 1))
            except Exception as exc:  # one sink failing to close must not keep the others open
                log.warning("sink %s did not close cleanly: %s", sink.url, type(exc).__name__)
        self.report()

    def report(self) -> None:
        """Log the status line and write the metrics file (atomically) if configured.

        A bundle whose signature was not verified (``--allow-unsigned``) is named in every line."""
        line = self.metrics.status_line()
        if self.manifest.unverified:
            line = f"UNSIGNED {line}"
        log.info("%s", line)
        self.watchdog.notifier.notify(f"STATUS={line[:200]}")
        if self.cfg.runtime.metrics_file:
            try:
                write_json(self.cfg.runtime.metrics_file, self.metrics.snapshot())
            except OSError as exc:
                log.warning("cannot write metrics file: %s", exc.strerror)

    def _handle(self, events: list[StreamInfo | Block | Gap]) -> None:
        for w in stream_windows(events, self.windower, self.spec.view, self._on_info):
            self._window(w)

    def _on_info(self, info: StreamInfo) -> None:
        check_stream(info, self.manifest, self.cfg.stream)  # raises StreamMismatchError
        self.metrics.state = "streaming"

    def _window(self, w: Window) -> None:
        if self._pending is not None:
            self._take_pending()
        t0, now = time.perf_counter(), time.time()
        for name, manifest, anonymizer, sinks in self._routes:
            out = AnonymizedWindow(
                window_id=self._window_id, stream=self.stream, start_sample=w.start, t_device_us=w.t_us,
                t_gateway=now, rate_hz=self.spec.rate_hz, channels=self.spec.channels,
                units=self.spec.units, data=anonymizer.run(w.data), flags=w.flag_names,
                model_version=manifest.model_version, view=name,
            )  # fmt: skip
            self.metrics.interpreter.add(anonymizer.last_invoke_s)
            for sink in sinks:
                try:
                    sink.send(out)
                except Exception as exc:  # a broken sink is counted, never allowed to stop acquisition
                    sink.stats.errors += 1
                    sink.stats.last_error = type(exc).__name__
        self._window_id += 1
        self.metrics.add("windows")
        self.metrics.window.add(time.perf_counter() - t0)
