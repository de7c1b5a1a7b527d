"""The gateway's sinks: a URL with ``{stream}`` is one sink per stream, any other URL one shared sink.

``mqtt://127.0.0.1/ward/{stream}/windows?qos=1`` opens ``.../ward/ward-1a2b3c4d/windows`` on that
stream's first window (a failure there is one log line and counted; the stream goes on without it);
``unix:///run/edge-anonymize/windows.sock`` is opened at start and gets every stream's records.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from .bundleset import ModelSet
from .errors import EdgeError
from .sinks import open_sink
from .sinks.base import Sink

__all__ = ["StreamSinks", "TEMPLATE"]

log = logging.getLogger("edge_anonymize")
TEMPLATE = "{stream}"


def _view_of(url: str) -> str:
    from .sinks import _split_view

    return _split_view(url)[1]


class StreamSinks:
    """Opens, routes and closes the gateway's sinks; per-stream sinks are bounded by the stream registry."""

    def __init__(self, urls: Iterable[str | Sink]) -> None:
        """``urls``: sink URLs, or already opened sinks (shared; tests and benchmarks bring their own)."""
        urls = list(urls)
        self.templates = [u for u in urls if isinstance(u, str) and TEMPLATE in u]
        self.shared: list[Sink] = [u for u in urls if isinstance(u, Sink)]
        self.per_stream: dict[str, list[tuple[str, Sink]]] = {}  # stream -> (template, its sink)
        self.open_errors = 0
        self._resolved: dict[str, list[Sink]] = {}
        try:
            for url in urls:
                if isinstance(url, str) and TEMPLATE not in url:
                    self.shared.append(open_sink(url))
        except BaseException:
            self.close(1.0)
            raise
        self._closed: dict[str, dict[str, int]] = {}  # stats of per-stream sinks already closed, by template

    def views(self) -> set[str]:
        """The views any sink reads ("" = the default)."""
        return {s.view for s in self.shared} | {_view_of(t) for t in self.templates}

    def check(self, models: ModelSet) -> None:
        """Every sink's view parses against ``models`` (views.py; ManifestError otherwise)."""
        from .views import Views

        Views.for_specs(models, self.views())

    def of(self, stream: str) -> list[Sink]:
        """Shared sinks + this stream's own (opened now, on its first window)."""
        cached = self._resolved.get(stream)
        if cached is not None:
            return cached
        own = self.per_stream.get(stream)
        if own is None:
            own = []
            for t in self.templates:
                try:
                    own.append((t, open_sink(t.replace(TEMPLATE, stream))))
                except EdgeError as exc:
                    self.open_errors += 1
                    log.warning("stream %s: sink %s not opened: %s", stream, t, exc)
            self.per_stream[stream] = own
        cached = self._resolved[stream] = self.shared + [sink for _, sink in own]
        return cached

    def drop(self, stream: str, timeout: float = 1.0) -> None:
        """Close a forgotten stream's own sinks (their counts stay in the stats)."""
        self._resolved.pop(stream, None)
        for t, sink in self.per_stream.pop(stream, []):
            _close(sink, timeout)
            acc = self._closed.setdefault(t, {})
            for k, v in asdict(sink.stats).items():
                if isinstance(v, int):
                    acc[k] = acc.get(k, 0) + v

    def stop_waiting(self, within_s: float) -> None:
        for sink in self.all():
            sink.stop_waiting(within_s)

    def all(self) -> list[Sink]:
        return self.shared + [s for own in self.per_stream.values() for _, s in own]

    def close(self, timeout: float) -> None:
        sinks = self.all()
        for sink in sinks:
            _close(sink, timeout / max(len(sinks), 1))

    def stats(self) -> dict[str, dict[str, Any]]:
        """Shared sinks by URL; per-stream sinks summed by template (``sinks``: how many are open)."""
        out: dict[str, dict[str, Any]] = {}
        for i, s in enumerate(self.shared):
            name = s.url.split("?")[0] or type(s).__name__
            out[name if name not in out else f"{name}#{i}"] = asdict(s.stats)
        for t in self.templates:
            acc: dict[str, Any] = {**self._closed.get(t, {}), "sinks": 0}
            for own in self.per_stream.values():
                for tt, sink in own:
                    if tt == t:
                        acc["sinks"] += 1
                        for k, v in asdict(sink.stats).items():
                            if isinstance(v, int):
                                acc[k] = acc.get(k, 0) + v
            out[t.split("?")[0]] = acc
        return out


def _close(sink: Sink, timeout: float) -> None:
    try:
        sink.close(timeout=max(timeout, 0.05))
    except Exception as exc:  # one sink failing to close must not keep the others open
        log.warning("sink %s did not close cleanly: %s", sink.url, type(exc).__name__)
