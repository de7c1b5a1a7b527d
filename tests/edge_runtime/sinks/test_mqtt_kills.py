"""End to end through a real mosquitto at its default settings (no persistence, a 1000-message
queue per subscriber): SIGKILLs during a stream, and a slow subscriber after an outage. The
project's consumer must end with every window, in order, once. benchmarks/mqtt_soak.py is the
20-kill version, and measures what plain QoS 1 (no consumer, so no replays) loses."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

pytest.importorskip("paho.mqtt.client")

from edge_runtime.consumer import Consumer  # noqa: E402
from edge_runtime.sinks.mqtt import MqttSink  # noqa: E402

from .conftest import Broker, window  # noqa: E402
from .test_mqtt import wait_for  # noqa: E402

FAST_RECONNECT = "reconnect_min=0.2&reconnect_max=1"


class Reader:
    """The consumer client on its own thread; ``per_window_s`` makes it a slow application."""

    def __init__(self, port: int, topic: str, *, per_window_s: float = 0.0) -> None:
        self.consumer = Consumer("127.0.0.1", port, topic, client_id=f"reader-{topic}")
        self.seqs: list[int] = []
        self.per_window_s = per_window_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for record in self.consumer.poll(0.02):
                self.seqs.append(record["seq"])
                if self.per_window_s:
                    time.sleep(self.per_window_s)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.consumer.close()


@pytest.fixture
def closing() -> Iterator[list[object]]:
    things: list[object] = []
    yield things
    for t in reversed(things):
        t.close(timeout=0.5) if isinstance(t, MqttSink) else t.close()  # type: ignore[attr-defined]


def test_hard_broker_kills_lose_nothing_end_to_end(broker: Broker, closing: list[object]) -> None:
    topic = "gw/kills"
    reader = Reader(broker.port, topic)
    sink = MqttSink.from_url(f"mqtt://127.0.0.1:{broker.port}/{topic}?{FAST_RECONNECT}")
    closing += [sink, reader]
    assert wait_for(lambda: reader.consumer.connected and sink.connected, 10)
    n, kills, t0 = 0, 0, time.monotonic()
    next_kill = t0 + 1.5
    while kills < 5:  # ~100 windows/s, a SIGKILL every 2 s, the broker back 0.5 s later
        sink.send(window(n))
        n += 1
        time.sleep(0.01)
        if time.monotonic() >= next_kill:
            broker.kill()
            time.sleep(0.5)
            broker.start()
            kills += 1
            next_kill = time.monotonic() + 2.0
    for _ in range(50):  # a tail after the last restart
        sink.send(window(n))
        n += 1
        time.sleep(0.01)
    assert wait_for(lambda: len(reader.seqs) >= n, 60), f"{len(reader.seqs)} of {n}: {reader.consumer.stats}"
    stats = reader.consumer.stats
    print(f"\n{kills} kills, {n} windows in {time.monotonic() - t0:.1f} s: consumer {len(reader.seqs)} "
          f"(replay requests {stats.replay_requests}, duplicates dropped {stats.duplicates}, republished "
          f"{sink.republished})")  # fmt: skip
    assert reader.seqs == list(range(n))  # every window, in order, once
    assert stats.lost == 0 and sink.stats.dropped == 0 and sink.connects == kills + 1


class HeldClock:
    """Real time for the sink, except that ``hold()`` stops it: a sink in backoff then waits."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._held: float | None = None

    def __call__(self) -> float:
        return self._held if self._held is not None else time.monotonic() - self._offset

    def hold(self) -> None:
        self._held = self()

    def release(self) -> None:
        assert self._held is not None
        self._offset, self._held = time.monotonic() - self._held, None


@pytest.mark.parametrize("rate", ["200", "0"], ids=["paced", "unpaced"])
def test_slow_subscriber_after_an_outage_loses_nothing(rate: str, broker: Broker, closing: list[object]) -> None:
    """1,500 windows spooled while the broker is down, then released into a subscriber that is
    already back and reads ~200 windows/s through mosquitto's default 1000-message queue.
    Unpaced, the broker drops about a third; the consumer asks for them, 200 at a time."""
    topic, clock = f"gw/slow{rate}", HeldClock()
    reader = Reader(broker.port, topic, per_window_s=0.005)
    sink = MqttSink("127.0.0.1", broker.port, topic, rate=float(rate), reconnect_min=0.2, reconnect_max=1, clock=clock)
    closing += [sink, reader]
    assert wait_for(lambda: reader.consumer.connected and sink.connected, 10)
    sink.send(window(0))
    assert wait_for(lambda: reader.seqs == [0], 10)
    broker.kill()
    assert wait_for(lambda: not sink.connected, 10)
    clock.hold()  # the sink stays in backoff until the subscriber is back
    n = 1500
    for i in range(1, n):
        sink.send(window(i))
    broker.start()
    assert wait_for(lambda: reader.consumer.connected, 20)
    clock.release()
    assert wait_for(lambda: len(reader.seqs) >= n, 60), f"{len(reader.seqs)} of {n}: {reader.consumer.stats}"
    stats = reader.consumer.stats
    print(f"\nrate={rate}: {n} windows, replay requests {stats.replay_requests}, republished {sink.republished}")
    assert reader.seqs == list(range(n)) and stats.lost == 0 and sink.stats.dropped == 0


def test_kills_during_a_recording_lose_nothing(broker: Broker, closing: list[object]) -> None:
    """A recording (``--replay``) goes as fast as the broker acknowledges: the sink's backpressure must
    leave acknowledged windows in the spool, or what a killed broker had acknowledged is gone."""
    topic, n = "gw/rec", 1200
    reader = Reader(broker.port, topic)
    sink = MqttSink.from_url(f"mqtt://127.0.0.1:{broker.port}/{topic}?spool=400&{FAST_RECONNECT}")
    closing += [sink, reader]
    assert wait_for(lambda: reader.consumer.connected and sink.connected, 10)
    sink.apply_backpressure()
    sender = threading.Thread(target=lambda: [sink.send(window(i)) for i in range(n)], daemon=True)
    sender.start()
    for _ in range(3):  # ~200 windows/s (the sink's pace), a SIGKILL every 1.5 s
        time.sleep(1.5)
        broker.kill()
        time.sleep(0.3)
        broker.start()
    sender.join(60)
    assert sink.flush()
    assert wait_for(lambda: len(reader.seqs) >= n, 30), f"{len(reader.seqs)} of {n}: {reader.consumer.stats}"
    print(f"\nrecording: {n} windows, 3 kills, replay requests {reader.consumer.stats.replay_requests}, "
          f"republished {sink.republished}")  # fmt: skip
    assert reader.seqs == list(range(n)) and reader.consumer.stats.lost == 0 and sink.stats.dropped == 0
