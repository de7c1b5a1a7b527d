"""Sinks chosen by URL. Only ``AnonymizedWindow`` records ever reach one (see base.py).

    unix:///run/edge-anonymize/windows.sock?mode=0660&group=imu   default: apps connect and read JSON lines
    udp://127.0.0.1:9870                                            one JSON datagram per window
    stdout://                                                       JSON lines on stdout
    file:///var/lib/edge-anonymize/windows.jsonl?fsync=1            whole records only, crash-safe
    mqtt://user:pass@127.0.0.1:1883/imu/windows?qos=1&spool=4096    paho-mqtt, spool + dedupe ids
    memory://                                                       tests and demo
"""

from __future__ import annotations

import importlib
from urllib.parse import urlsplit

from ..errors import SinkError
from .base import AnonymizedWindow, MemorySink, QueuedSink, Sink, SinkStats

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
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return MemorySink()
    target = SCHEMES.get(scheme)
    if target is None:
        raise SinkError(f"unknown sink URL {url!r}; known schemes: memory, {', '.join(sorted(SCHEMES))}")
    module_name, cls_name = target.split(":")
    module = importlib.import_module(module_name)
    sink: Sink = getattr(module, cls_name).from_url(url)
    return sink
