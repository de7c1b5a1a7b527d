"""Sinks chosen by URL. Only ``AnonymizedWindow`` records ever reach one (see base.py).

    unix:///run/edge-anonymize/windows.sock?mode=0660&group=imu   default: apps connect and read JSON lines
    udp://127.0.0.1:9870                                            one JSON datagram per window
    stdout://                                                       JSON lines on stdout
    file:///var/lib/edge-anonymize/windows.jsonl?fsync=1            whole records only, crash-safe
    mqtt://user:pass@127.0.0.1:1883/imu/windows?qos=1&spool=4096    paho-mqtt, spool + dedupe ids
    memory://                                                       tests and demo

``open_sink`` checks what every URL shares before a sink is built, so a typo is one line at start:
the port must be 0..65535, and a ``file://`` sink's folder must exist (``?mkdir=1`` creates it).
Any URL may end in ``view=NAME``: the sink then gets the windows of that member of a bundle set
(``edge_runtime.bundleset``) instead of the default model's.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from ..errors import SinkError
from .base import AnonymizedWindow, QueuedSink, Sink, SinkStats, flag, url_options
from .simple import MemorySink

__all__ = ["AnonymizedWindow", "MemorySink", "QueuedSink", "Sink", "SinkStats", "open_sink", "SCHEMES"]

SCHEMES: dict[str, str] = {
    "unix": "edge_runtime.sinks.unix:UnixSink",
    "udp": "edge_runtime.sinks.simple:UdpSink",
    "stdout": "edge_runtime.sinks.simple:StdoutSink",
    "file": "edge_runtime.sinks.file:FileSink",
    "mqtt": "edge_runtime.sinks.mqtt:MqttSink",
    "mqtts": "edge_runtime.sinks.mqtt:MqttSink",
}


def open_sink(url: str) -> Sink:
    """Build and open the sink for ``url``.

    Raises:
        SinkError: unknown scheme, bad option, or the sink cannot be opened (one line).
    """
    url, view = _split_view(url)
    sink = _open(url)
    sink.view = view
    return sink


def _split_view(url: str) -> tuple[str, str]:
    """``"udp://h:1?view=strict"`` -> ``("udp://h:1", "strict")``: the view is the pipeline's, not the sink's."""
    parts = urlsplit(url)
    if "view=" not in parts.query:
        return url, ""
    kept: list[str] = []
    views: list[str] = []
    for item in parts.query.split("&"):
        (views if item.startswith("view=") else kept).append(item)
    if len(views) > 1 or not views[0][5:]:
        raise SinkError(f"sink URL {url!r}: give one non-empty view=NAME")
    return parts._replace(query="&".join(kept)).geturl(), unquote(views[0][5:])


def _open(url: str) -> Sink:
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme == "memory":
        return MemorySink()
    target = SCHEMES.get(scheme)
    if target is None:
        raise SinkError(f"unknown sink URL {url!r}; known schemes: memory, {', '.join(sorted(SCHEMES))}")
    _check_url(url, parts)
    module_name, cls_name = target.split(":")
    module = importlib.import_module(module_name)
    sink: Sink = getattr(module, cls_name).from_url(url)
    return sink


def _check_url(url: str, parts: SplitResult) -> None:
    """Checks shared by every sink URL (no I/O beyond looking at a folder)."""
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when it is read
    except ValueError as exc:  # "Port out of range 0-65535", "Port could not be cast to integer value"
        raise SinkError(f"sink URL {url!r}: {exc}") from None
    if parts.scheme == "file" and parts.path:
        folder = Path(unquote(parts.path)).parent
        if not folder.is_dir() and not flag(url_options(parts.query).get("mkdir")):
            raise SinkError(f"file sink folder {folder} does not exist (create it, or add ?mkdir=1 to the URL)")
