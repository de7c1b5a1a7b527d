"""A gateway stream behind a blocking source (serial, BLE, TCP client, replay): a reader thread each.

``reader.SourceReader`` (the one-stream pipeline's reader) fills a bounded queue and rings the
gateway's doorbell; the loop drains a bounded number of chunks per turn, so one busy device cannot
starve the others. Such a stream is never closed for silence (a device may be unplugged and come
back: the reader reconnects with backoff); it is marked ``stalled`` (one line) until frames return.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from collections.abc import Callable

from .config import SourceConfig
from .gateway_streams import Stream
from .metrics import Metrics
from .reader import EOF, RECONNECT, SourceReader
from .sources import open_source
from .windower import Window

__all__ = ["ThreadedStream"]

log = logging.getLogger("edge_anonymize")


class ThreadedStream:
    """``stream`` fed by its own reader thread through a queue of ``cfg.queue_chunks`` chunks."""

    def __init__(self, stream: Stream, url: str, cfg: SourceConfig, *, notify: Callable[[], object],
                 clock: Callable[[], float]) -> None:  # fmt: skip
        self.stream, self.stop = stream, threading.Event()
        self.q: queue.Queue[object] = queue.Queue(maxsize=cfg.queue_chunks)
        cfg = dataclasses.replace(cfg, wait=True)  # one absent device must not stop the others
        self.reader = SourceReader(open_source(url), self.q, cfg, Metrics(), self.stop, name=stream.name,
                                   notify=notify, clock=clock)  # fmt: skip

    def drain(self, feed: Callable[[Stream, bytes], bool], ready: list[tuple[Stream, Window]], limit: int = 64) -> bool:
        """Up to ``limit`` queued items through ``feed``; True when items are left (ring again).

        ``feed`` returns False when the stream must close (a HELLO that does not match the model)."""
        st = self.stream
        for _ in range(limit):
            try:
                item = self.q.get_nowait()
            except queue.Empty:
                return False
            if item is RECONNECT:
                ready.extend((st, w) for w in st.reset())
            elif item is EOF:
                st.close("ended")
                log.info("stream %s ended", st.name)
            elif isinstance(item, bytes) and st.state != "closed" and not feed(st, item):
                self.stop.set()
                st.close("mismatch")
        return True

    def check(self, now: float, stall_s: float) -> bool:
        """Mark a silent stream stalled (one line; True when it just stalled) and a failed one closed."""
        st, stalled = self.stream, now - self.stream.last_frame > stall_s
        if self.reader.fatal is not None and st.state != "closed":
            st.close("failed")
            log.warning("stream %s closed (failed): %s", st.name, type(self.reader.fatal).__name__)
        if st.state == "streaming" and stalled:
            st.state = "stalled"
            log.warning("stream %s stalled: no valid frame for %g s", st.name, stall_s)
            return True
        if st.state == "stalled" and not stalled:
            st.state = "streaming"
        return False

    def finish(self, timeout: float) -> None:
        """Stop the reader and wait for it (at most ``timeout`` s); ``drain`` then takes what is left."""
        self.stop.set()
        self.reader.thread.join(max(timeout, 0.0))
