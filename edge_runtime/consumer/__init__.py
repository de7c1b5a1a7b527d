"""The consumer side of the MQTT sink: windows in order, each once, gaps replayed from the gateway's spool.

    from edge_runtime.consumer import Consumer
    consumer = Consumer.from_url("mqtt://127.0.0.1/imu/windows?client_id=app1")
    for record in consumer:  # dicts: AnonymizedWindow.to_dict() + seq + epoch
        ...

``edge-anonymize-consume URL`` prints them as JSON lines. The protocol is in docs/mqtt.md.
"""

from __future__ import annotations

from .client import Consumer
from .ordering import ConsumerStats, Reorderer

__all__ = ["Consumer", "ConsumerStats", "Reorderer"]
