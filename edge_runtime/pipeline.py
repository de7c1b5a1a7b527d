"""Wires the stages, nothing else: source -> decoder -> windower -> normalizer/interpreter -> sinks.

Two threads. The *reader* (``reader.SourceReader``, shared with the gateway) owns the source: it
reads byte chunks into a bounded queue (a live device's overflow is dropped and counted, the
decoder then sees a sequence gap; a recording waits for room instead, so an unpaced replay loses
nothing) and reconnects on loss with capped exponential backoff. The *processor* (the caller's thread)
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
from .contract import WindowSpec
from .decoder import Block, Gap, StreamDecoder, StreamInfo, check_stream
from .errors import EdgeError, SourceError
from .interpreter import Anonymizer
from .manifest import Manifest
from .metrics import Metrics, publish
from .reader import EOF, RECONNECT, SourceReader
from .sinks.base import Sink, send_counted
from .sources.base import Source
from .views import Views
from .watchdog import Notifier, Watchdog
from .windower import Window, Windower, stream_windows

__all__ = ["Backoff", "Pipeline", "window_spec"]

log = logging.getLogger("edge_anonymize")


def window_spec(manifest: Manifest, cfg: RuntimeConfig) -> WindowSpec:
    """The manifest's window with the configured stride (0 = the manifest's)."""
    return manifest.window.with_stride(cfg.window.stride) if cfg.window.stride else manifest.window


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
        self._clock = clock
        self.spec = window_spec(manifest, cfg)
        self.decoder = StreamDecoder(cfg.stream)
        self.windower = Windower.for_spec(self.spec, cfg.window.max_interp)
        self.stream = cfg.stream.name
        self._q: queue.Queue[object] = queue.Queue(maxsize=cfg.source.queue_chunks)
        self._reader = SourceReader(source, self._q, cfg.source, self.metrics, self._stop, watchdog=self.watchdog,
                                    sleep=sleep, clock=clock)  # fmt: skip
        self.backoff = self._reader.backoff
        self._window_id = 0
        self.metrics.section("decoder", self.decoder.stats)
        self.metrics.section("windower", lambda: self.windower.counts)
        self.metrics.section("sinks", self._sink_stats)
        self.metrics.section("views", lambda: {"deleted": dict(self._routes.deleted), "model_runs": dict(self._routes.calls)})
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

    def _route(self, models: ModelSet) -> Views:
        """Each sink's view over ``models`` (views.py): each model runs at most once per window."""
        return Views(models, self.sinks)

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
            self.models, old_routes, self._routes = pending, self._routes, self._route(pending)
            self._routes.carry_counts(old_routes)  # counters stay monotonic across a swap
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

    # -- processor (caller's thread) -----------------------------------------------------------

    def run(self) -> None:
        """Process until the source ends (replay) or ``stop()``; sinks are closed on return.

        Raises:
            StreamMismatchError: the device's HELLO does not match the manifest.
            EdgeError: another fatal error (the source thread's, re-raised here).
        """
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
                    self._clock() > deadline or (self._q.empty() and not self._reader.thread.is_alive())
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
                if item is EOF:
                    break
                if item is RECONNECT:
                    self._handle(self.decoder.reset())
                elif isinstance(item, bytes):
                    self.metrics.add("chunks")
                    self.metrics.add("bytes", len(item))
                    self._handle(self.decoder.feed(item))
        finally:
            self._stop.set()
            self._shutdown(deadline)
        fatal = self._reader.fatal
        if fatal is not None:
            if isinstance(fatal, EdgeError):
                raise fatal
            raise SourceError(f"source failed: {type(fatal).__name__}") from fatal

    def _shutdown(self, deadline: float | None) -> None:
        self.metrics.state = "stopped"
        if self._reader.thread.ident is not None:
            self._reader.thread.join(timeout=max(self.cfg.source.read_timeout_s * 2, 1.0))
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
        publish(self.metrics.status_line(), unverified=bool(self.manifest.unverified), notifier=self.watchdog.notifier,
                metrics_file=self.cfg.runtime.metrics_file, snapshot=self.metrics.snapshot)  # fmt: skip

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
        spec = self.spec
        common = (self._window_id, self.stream, w.start, w.t_us, now, spec.rate_hz, spec.channels, spec.units,
                  w.flag_names)  # views.Common
        for sinks, out in self._routes.records(common, w.data, self.metrics):
            send_counted(sinks, out)
        self._window_id += 1
        self.metrics.add("windows")
        self.metrics.window.add(time.perf_counter() - t0)
