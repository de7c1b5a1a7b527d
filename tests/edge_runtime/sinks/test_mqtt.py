"""MQTT sink against a real mosquitto: delivery, a broker that comes up late, a capped reconnect
backoff, spool overflow counted (by the sink and by the consumer), and one-line option errors."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import pytest

mqtt = pytest.importorskip("paho.mqtt.client")

from edge_runtime.consumer import Consumer  # noqa: E402
from edge_runtime.errors import SinkError  # noqa: E402
from edge_runtime.sinks import open_sink  # noqa: E402
from edge_runtime.sinks.mqtt import Deduper, MqttSink  # noqa: E402

from .conftest import Broker, window  # noqa: E402


class Subscriber:
    """A plain QoS 1 consumer (no replays) that resubscribes on every (re)connect and dedupes."""

    def __init__(self, port: int, topic: str) -> None:
        self.ids: set[int] = set()
        self.dedupe = Deduper()
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sub-test")
        self.c.reconnect_delay_set(min_delay=1, max_delay=2)
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.c.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.c.on_message = self._on_message
        self.c.connect_async("127.0.0.1", port)
        self.c.loop_start()

    def _on_message(self, c, u, msg) -> None:  # type: ignore[no-untyped-def]
        if not self.dedupe.seen(msg.payload):
            with self.lock:
                self.ids.add(json.loads(msg.payload)["window_id"])

    def wait(self, n: int, timeout: float) -> bool:
        return wait_for(lambda: len(self.ids) >= n, timeout)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def wait_for(cond: Callable[[], bool], timeout: float, tick: Callable[[], None] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        if tick is not None:
            tick()
        time.sleep(0.02)
    return cond()


class FakeClock:
    """The sink's injected clock: time moves only when the test says so."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float = 0.25) -> None:
        self.t += s


@pytest.fixture
def closing() -> Iterator[list[MqttSink | Subscriber | Consumer]]:
    things: list[MqttSink | Subscriber | Consumer] = []
    yield things
    for t in reversed(things):
        t.close(timeout=0.5) if isinstance(t, MqttSink) else t.close()


def test_windows_are_delivered(broker: Broker, closing: list) -> None:
    sub = Subscriber(broker.port, "gw/w")
    closing.append(sub)
    assert sub.subscribed.wait(10)
    sink = open_sink(f"mqtt://127.0.0.1:{broker.port}/gw/w?qos=1")
    assert isinstance(sink, MqttSink)
    closing.append(sink)
    for i in range(50):  # sent at once, before the first CONNACK: none may be lost
        sink.send(window(i))
    assert sub.wait(50, 20), f"got {len(sub.ids)}"
    sink.close()
    assert sub.ids == set(range(50)) and sink.unacked == 0 and sink.stats.sent == 50


def test_windows_sent_before_the_broker_is_up_are_all_delivered(broker: Broker, closing: list) -> None:
    """The issue: a broker that starts after the gateway lost every window queued before the first connection."""
    broker.kill()  # the port is free: nothing listens yet
    clock = FakeClock()
    sink = MqttSink("127.0.0.1", broker.port, "gw/late", clock=clock)
    closing.append(sink)
    n = 22
    for i in range(n):
        sink.send(window(i))
    assert wait_for(lambda: sink.stats.errors >= 1, 10), "the first attempt never failed"
    broker.start()
    sub = Subscriber(broker.port, "gw/late")  # subscribed before the sink's next attempt (clock frozen)
    closing.append(sub)
    assert sub.subscribed.wait(10)
    assert wait_for(lambda: len(sub.ids) >= n, 20, clock.advance), f"got {sorted(sub.ids)}"
    sink.close()
    assert sub.ids == set(range(n))
    assert (sink.stats.sent, sink.stats.dropped, sink.connects) == (n, 0, 1)


def test_reconnect_backoff_is_capped_and_the_broker_is_found_soon(broker: Broker, closing: list) -> None:
    """1 s doubling, capped at 5 s: a broker up after a long outage is reached within one cap, not 120 s."""
    broker.kill()
    clock = FakeClock()
    sink = MqttSink("127.0.0.1", broker.port, "gw/b", clock=clock)
    closing.append(sink)
    for _ in range(240):  # 60 s of the sink's time
        clock.advance(0.25)
        time.sleep(0.005)
    assert wait_for(lambda: sink.stats.errors >= 10, 10), sink.stats
    assert max(sink.backoff.recent) == 5.0 and list(sink.backoff.recent)[:4] == [1.0, 2.0, 4.0, 5.0]
    broker.start()
    t_up = clock()
    assert wait_for(lambda: sink.connected, 20, lambda: clock.advance(0.25)), sink.stats.last_error
    assert clock() - t_up <= 5.0 + 0.5  # at most one capped delay (+ one clock step) after the broker came up


def test_spool_overflow_is_counted_by_sink_and_consumer(broker: Broker, closing: list) -> None:
    sink = open_sink(f"mqtt://127.0.0.1:{broker.port}/gw/o?spool=10&reconnect_min=0.2&reconnect_max=0.5")
    assert isinstance(sink, MqttSink)
    consumer = Consumer("127.0.0.1", broker.port, "gw/o", client_id="overflow")
    closing += [sink, consumer]
    got: list[int] = []

    def poll() -> None:
        got.extend(r["seq"] for r in consumer.poll(0.01))

    assert wait_for(lambda: consumer.connected and sink.connected, 10, poll)
    for i in range(5):
        sink.send(window(i))
    assert wait_for(lambda: len(got) == 5, 10, poll), got
    broker.kill()
    assert wait_for(lambda: not sink.connected, 10)
    for i in range(5, 45):  # broker down: nothing is acknowledged, the spool keeps the newest 10
        sink.send(window(i))
    assert wait_for(lambda: sink.stats.dropped == 30, 10) and sink.unacked == 10
    broker.start()
    assert wait_for(lambda: len(got) == 15, 30, poll), got
    assert got == [*range(5), *range(35, 45)], (got, consumer.stats, sink.stats)
    assert consumer.stats.lost == 30 and consumer.stats.duplicates == 0  # the consumer knows, too
    assert sink.stats.dropped == 30 and sink.stats.sent == 15


@pytest.mark.parametrize("query, needle", [
    ("republish_delay=2", "unknown MQTT sink option republish_delay"),
    ("rate=-1", "rate >= 0"),
    ("inflight=0", "inflight >= 1"),
    ("reconnect_min=9&reconnect_max=1", "reconnect_min <= reconnect_max"),
    ("qos=2", "qos must be 0 or 1"),
    ("spool=many", "bad MQTT sink option"),
])  # fmt: skip
def test_bad_options_are_one_line_errors_without_the_password(query: str, needle: str) -> None:
    with pytest.raises(SinkError) as exc:
        open_sink(f"mqtt://gw:s3cret@127.0.0.1:9/t?{query}")
    msg = str(exc.value)
    assert needle in msg and "\n" not in msg and "s3cret" not in msg


def test_wildcard_topic_is_refused() -> None:
    with pytest.raises(SinkError, match="without \\+ or #"):
        open_sink("mqtt://127.0.0.1:9/imu/%23")


def test_a_recording_waits_for_the_broker_instead_of_dropping(broker: Broker, closing: list) -> None:
    """Under backpressure (a replayed recording) ``send`` waits while the spool is full of unacknowledged
    windows: 2,000 windows through a 100-window spool, none dropped; without it most would be."""
    consumer = Consumer("127.0.0.1", broker.port, "gw/bp", client_id="bp", start="earliest")
    sink = MqttSink.from_url(f"mqtt://127.0.0.1:{broker.port}/gw/bp?spool=100&rate=0")
    closing += [sink, consumer]
    got: list[int] = []

    def poll() -> None:
        got.extend(r["seq"] for r in consumer.poll(0.005))

    assert wait_for(lambda: consumer.connected, 10, poll)
    sink.apply_backpressure(wait_s=10)
    reader = threading.Thread(target=lambda: wait_for(lambda: len(got) >= 2000, 60, poll))
    reader.start()
    for i in range(2000):
        sink.send(window(i))
    assert sink.flush()
    reader.join()
    assert sink.stats.dropped == 0 and sink.stats.sent == 2000
    assert got == list(range(2000)) and consumer.stats.lost == 0
