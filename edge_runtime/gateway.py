"""Many streams in one process: a single-thread selector loop, windows batched through one model.

Sources are the config's ``[[streams]]``. A ``tcp-listen://`` entry accepts many devices, each a
non-blocking socket the loop reads; any other URL (serial, BLE, TCP client, replay) offers only
blocking reads, so it keeps a ``reader.SourceReader`` thread that fills a bounded queue and rings
a doorbell (a socketpair) the selector watches. Each stream has its own decoder, windower, window
ids and counters (``gateway_streams.Stream``); the windows that became ready in one turn of the
loop go through ``Anonymizer.run_batch`` as one batch (at most ``gateway.max_batch``).

A stream's fault stays its own: garbage or silence (no frame for ``stall_timeout_s``, no HELLO for
``hello_timeout_s``), an unplugged device, or a HELLO that does not match the manifest closes that
stream with one log line and a count; the loop never blocks on one stream. Connections beyond
``max_streams`` (or a listener's ``?max=``) are accepted and closed at once, counted as refused.
``stop()`` (SIGTERM) reads what is buffered, runs the last batch and closes the sinks.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from .bundleset import ModelSet
from .config import RuntimeConfig, StreamEntry
from .decoder import StreamInfo
from .errors import SourceError
from .gateway_batch import Batcher
from .gateway_conns import Connections
from .gateway_report import decoder_totals, gateway_stats, status_line
from .gateway_sinks import StreamSinks
from .gateway_streams import Stream, listener_stream_name, stream_secret
from .gateway_threads import ThreadedStream
from .manifest import Manifest
from .metrics import Metrics, publish
from .pipeline import window_spec
from .sinks.base import Sink
from .sources.tcp_listen import SCHEME, TcpListener
from .watchdog import Notifier, Watchdog
from .windower import Window

__all__ = ["Gateway", "is_listener"]

log = logging.getLogger("edge_anonymize")
COUNTERS = ("accepted", "refused", "mismatch", "unplugged", "stalled", "no_hello", "replaced", "batches")


def is_listener(url: str) -> bool:
    return url.startswith(f"{SCHEME}://")


class Gateway:
    """Every configured stream through ``models`` into sinks opened from ``sink_urls``.

    Args:
        cfg: the runtime configuration; ``cfg.streams`` lists the sources.
        models: the loaded bundle (set); all streams share its window.
        sink_urls: sink URLs, ``{stream}`` = one sink per stream (or opened sinks, shared).
        secret: HMAC key of listener stream names (default: ``stream_secret(cfg.gateway)``).
    """

    def __init__(self, cfg: RuntimeConfig, models: ModelSet, sink_urls: Sequence[str | Sink], *,
                 metrics: Metrics | None = None, watchdog: Watchdog | None = None, secret: bytes | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.cfg, self._clock = cfg, clock
        self.spec = window_spec(models.primary[0], cfg)
        self.metrics = metrics or Metrics(ungated=models.ungated)
        self.watchdog = watchdog or Watchdog(Notifier({}))
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.sinks = StreamSinks(sink_urls)
        self.batcher = Batcher(models, self.spec, self.sinks, self.metrics, cfg.gateway.max_batch)
        try:
            self.sinks.check(models)
            self._secret = (
                secret
                if secret is not None
                else (stream_secret(cfg.gateway) if any(is_listener(s.url) for s in cfg.streams) else b"")
            )
            self.listeners = [(s, TcpListener.from_url(s.url)) for s in cfg.streams if is_listener(s.url)]
            self._threaded = [ThreadedStream(self._stream(s.name, s), s.url, cfg.source, notify=self._ring, clock=clock)
                             for s in cfg.streams if not is_listener(s.url)]  # fmt: skip
        except BaseException:
            self.sinks.close(1.0)
            raise
        self.streams: dict[str, Stream] = {t.stream.name: t.stream for t in self._threaded}
        self._ready: list[tuple[Stream, Window]] = []
        self._stop = threading.Event()
        self.ready = threading.Event()  # set once listeners are bound (tests read their ports then)
        self.sel = selectors.DefaultSelector()
        self.conns = Connections(self.sel, self.counts, [s.name for s, _ in self.listeners], self._feed)
        self._bell_r, self._bell_w = socket.socketpair()
        for s in (self._bell_r, self._bell_w):
            s.setblocking(False)
        self._conn_no = 0
        self.metrics.section("decoder", lambda: decoder_totals(self.streams))
        self.metrics.section("sinks", self.sinks.stats)
        self.metrics.section("gateway", self._gateway_stats)
        self.metrics.section("streams", lambda: {n: s.stats() for n, s in self.streams.items()})

    def _stream(self, name: str, entry: StreamEntry, label: str = "", **kw: Any) -> Stream:
        scfg = dataclasses.replace(
            self.cfg.stream, name=entry.name, device_id=entry.device_id or self.cfg.stream.device_id
        )
        return Stream(name, self.spec, self.manifest, scfg, max_interp=self.cfg.window.max_interp, label=label,
                      clock=self._clock, **kw)  # fmt: skip

    # -- control (any thread, signal-safe) -------------------------------------------------------

    def _ring(self) -> None:
        try:
            self._bell_w.send(b"\x01")
        except (BlockingIOError, OSError):  # full: a ring is already pending; closed: shutting down
            pass

    def stop(self) -> None:
        """Drain and return from ``run`` (signal-handler safe)."""
        self._stop.set()
        self._ring()
        self.sinks.stop_waiting(self.cfg.runtime.drain_timeout_s)

    def swap(self, new: ModelSet | tuple[Any, Any]) -> None:
        """Run ``new`` from the next batch on (``Batcher.swap``; the Reloader calls it)."""
        self.batcher.swap(new)

    @property
    def manifest(self) -> Manifest:
        return self.batcher.manifest

    # -- the loop --------------------------------------------------------------------------------

    def run(self) -> None:
        """Serve until ``stop()``; sinks are closed on return.

        Raises:
            SourceError: a listener cannot bind (at start; nothing else is fatal).
        """
        try:
            for _, lst in self.listeners:
                lst.open()
                self.sel.register(lst.sock, selectors.EVENT_READ, (self._accept, lst))  # type: ignore[arg-type]
            self.sel.register(self._bell_r, selectors.EVENT_READ, (self._bell, None))
            for t in self._threaded:
                t.reader.start()
            self.ready.set()
            gc.freeze()  # what start-up made lives for the whole run: keep it out of every gen-2 collection
            self.watchdog.notifier.notify("READY=1")
            self.metrics.state = "streaming"
            self._loop()
        finally:
            self._shutdown()

    def _loop(self) -> None:
        interval = self.cfg.runtime.status_interval_s
        next_status = self._clock() + (interval or float("inf"))
        next_check = 0.0
        while not self._stop.is_set():
            for key, _ in self.sel.select(0.2):
                fn, arg = key.data
                fn(arg)
            self.conns.feed_read()
            if self._ready:
                self._flush()
            now = self._clock()
            if now >= next_check:
                next_check = now + 0.25
                self._timeouts(now)
                self.watchdog.beat("processor")
                self.watchdog.beat("reader")
                self.watchdog.tick()
            if now >= next_status:
                next_status = now + interval
                self.report()

    def _accept(self, lst: TcpListener) -> None:
        entry = next(s for s, li in self.listeners if li is lst)
        for conn in lst.accept():
            open_now = len(self.conns) + sum(not t.stop.is_set() for t in self._threaded)
            if open_now >= self.cfg.gateway.max_streams or self.conns.full(entry.name, lst.max_conns):
                conn.close()
                self.counts["refused"] += 1
                if self.counts["refused"] == 1 or self.counts["refused"] % 1000 == 0:
                    log.warning("listener %s: connection refused, %d open (refused so far: %d)", entry.name,
                                open_now, self.counts["refused"])  # fmt: skip
                continue
            self._conn_no += 1
            st = self._stream("", entry, label=f"{entry.name}#{self._conn_no}", on_hello=self._named)
            self.conns.add(conn, st, entry.name)

    def _named(self, st: Stream, info: StreamInfo) -> None:
        """A listener connection's HELLO: name it, and continue the stream of the same device if any."""
        listener = st.cfg.name
        name = listener_stream_name(listener, self._secret, info.device_id)
        if st.name:
            if st.name != name:
                raise SourceError("the device changed within one connection")
            return
        old = self.streams.pop(name, None)
        if old is not None:
            self.conns.drop_stream(old, "replaced", "a new connection of the same device took over")
            st.take_over(old)
        st.name, st.label = name, name
        self.streams[name] = st
        self._forget_old()

    def _forget_old(self) -> None:
        """Keep at most 4 x max_streams named streams: the longest-closed are forgotten (sinks closed)."""
        excess = len(self.streams) - 4 * self.cfg.gateway.max_streams
        for name in [n for n, s in self.streams.items() if s.state == "closed"][: max(excess, 0)]:
            del self.streams[name]
            self.sinks.drop(name)

    def _feed(self, st: Stream, data: bytes) -> str | None:
        """Decode into the batch; the reason when the stream must close, else None."""
        try:
            windows = st.feed(data)
        except SourceError as exc:  # StreamMismatchError or a device change: this stream only
            return str(exc)
        if windows:
            self._ready.extend((st, w) for w in windows)
        if len(self._ready) >= self.cfg.gateway.max_batch:
            self._flush()
        return None

    def _bell(self, _: object) -> None:
        try:
            while self._bell_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        for t in self._threaded:
            self._drain(t)

    def _drain(self, t: ThreadedStream, limit: int = 64) -> None:
        if t.drain(self._feed_threaded, self._ready, limit):
            self._ring()  # more left: come back after the others had their turn

    def _feed_threaded(self, st: Stream, data: bytes) -> bool:
        why = self._feed(st, data)
        if why is None:
            return True
        self.counts["mismatch"] += 1
        log.warning("stream %s closed (mismatch): %s", st.name, why)
        return False

    def _timeouts(self, now: float) -> None:
        g = self.cfg.gateway
        self.conns.timeouts(now, g.hello_timeout_s, g.stall_timeout_s)
        for t in self._threaded:
            self.counts["stalled"] += t.check(now, g.stall_timeout_s)

    # -- batches ---------------------------------------------------------------------------------

    def _flush(self) -> None:
        ready, self._ready = self._ready, []
        self.counts["batches"] += -(-len(ready) // self.cfg.gateway.max_batch)
        self.batcher.run(ready)

    # -- shutdown and metrics --------------------------------------------------------------------

    def _shutdown(self) -> None:
        self.metrics.state = "draining"
        self.watchdog.notifier.notify("STOPPING=1")
        deadline = self._clock() + self.cfg.runtime.drain_timeout_s
        for _, lst in self.listeners:
            if lst.sock is not None:
                self.sel.unregister(lst.sock)
                lst.close()
        for t in self._threaded:
            t.stop.set()  # all readers stop at once; each is waited for below
        self.conns.read_all()
        for t in self._threaded:
            t.finish(min(deadline - self._clock(), 2 * self.cfg.source.read_timeout_s))
            self._drain(t, limit=t.q.maxsize + 2)
        if self._ready:
            self._flush()
        self.conns.close_all()
        self.sinks.close(max(deadline - self._clock(), 0.5))
        self.metrics.state = "stopped"
        self.sel.close()
        self._bell_r.close()
        self._bell_w.close()
        self.report()

    def _gateway_stats(self) -> dict[str, Any]:
        return gateway_stats(self.counts, len(self.conns), self.streams, self.sinks.open_errors, self.batcher)

    def status_line(self) -> str:
        return status_line(self.metrics.status_line(), self._gateway_stats(), self.batcher.sizes)

    def report(self) -> None:
        """The status line (streams summary) and the metrics file with its ``streams`` section."""
        publish(self.status_line(), unverified=bool(self.manifest.unverified), notifier=self.watchdog.notifier,
                metrics_file=self.cfg.runtime.metrics_file, snapshot=self.metrics.snapshot)  # fmt: skip
