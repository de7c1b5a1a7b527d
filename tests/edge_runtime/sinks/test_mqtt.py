"""MQTT against a real mosquitto: delivery, a SIGKILLed broker mid-run, spool overflow counting."""

from __future__ import annotations

import json
import threading
import time

import pytest

mqtt = pytest.importorskip("paho.mqtt.client")

from edge_runtime.sinks import open_sink  # noqa: E402
from edge_runtime.sinks.mqtt import Deduper, MqttSink  # noqa: E402

from .conftest import Broker, window  # noqa: E402


class Subscriber:
    """A consumer that resubscribes on every (re)connect and dedupes by window id."""

    def __init__(self, port: int, topic: str) -> None:
        self.ids: set[int] = set()
        self.dedupe = Deduper()
        self.lock = threading.Lock()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sub-test")
        self.c.reconnect_delay_set(min_delay=1, max_delay=2)
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.c.on_message = self._on_message
        self.c.connect_async("127.0.0.1", port)
        self.c.loop_start()

    def _on_message(self, c, u, msg) -> None:  # type: ignore[no-untyped-def]
        if not self.dedupe.seen(msg.payload):
            with self.lock:
                self.ids.add(json.loads(msg.payload)["window_id"])

    def wait(self, n: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.ids) >= n:
                    return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def _connected(sink: MqttSink, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not sink._client.is_connected():
        time.sleep(0.05)
    return sink._client.is_connected()


def test_windows_are_delivered(broker: Broker) -> None:
    sub = Subscriber(broker.port, "gw/w")
    sink = open_sink(f"mqtt://127.0.0.1:{broker.port}/gw/w?qos=1")
    assert isinstance(sink, MqttSink) and _connected(sink)
    time.sleep(0.5)
    for i in range(50):
        sink.send(window(i))
    assert sub.wait(50, 20), f"got {len(sub.ids)}"
    sink.close()
    sub.close()
    assert sub.ids == set(range(50)) and sink.unacked == 0


def test_broker_sigkill_mid_run_loses_nothing(broker: Broker) -> None:
    n = 300
    sub = Subscriber(broker.port, "gw/w")
    sink = MqttSink("127.0.0.1", broker.port, "gw/w", spool=1000, republish_delay_s=3.0)
    assert _connected(sink)
    time.sleep(0.5)
    for i in range(n):
        if i == 120:
            broker.kill()  # acknowledged-but-undelivered windows die with it
        if i == 180:
            broker.start()
        sink.send(window(i))
        time.sleep(0.01)
    assert sub.wait(n, 60), f"missing {sorted(set(range(n)) - sub.ids)[:20]}"
    assert sink.stats.dropped == 0 and sink.connects >= 2 and sink.republished > 0
    sink.close()
    sub.close()


def test_spool_overflow_is_counted_never_silent(broker: Broker) -> None:
    sink = MqttSink("127.0.0.1", broker.port, "gw/w", spool=10)
    assert _connected(sink)
    broker.kill()
    assert _wait_disconnected(sink)
    for i in range(40):  # broker down: nothing is acknowledged, the spool holds only the last 10
        sink.send(window(i))
    assert sink.stats.dropped == 30 and sink.unacked == 10
    sink.close(timeout=0.5)


def _wait_disconnected(sink: MqttSink, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and sink._client.is_connected():
        time.sleep(0.05)
    return not sink._client.is_connected()
