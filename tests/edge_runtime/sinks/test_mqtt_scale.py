"""A fleet through a real mosquitto: 8 streams (8 MQTT sinks, one topic each) and 3 consumers.

Partitioned (``partition=K/3`` on one wildcard filter): every window of every stream arrives,
each stream at one consumer only, in order. A consumer is SIGKILLed for ~4 s, and while it is away
the broker is SIGKILLed too (no persistence: its session and queue are gone); restarted, it
resumes from its saved cursors (``state=``) and gets the rest from the spools, 0 missing. A shared
subscription (``$share/g/...``) delivers each window once too, but splits every stream across
the members (the reason the consumer refuses it), and mosquitto keeps queueing a departed member's
share (printed, not asserted: broker behaviour). docs/mqtt.md "Fleets" quotes the printed numbers.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("paho.mqtt.client")

from edge_runtime.consumer import Consumer  # noqa: E402
from edge_runtime.consumer.fleet import partition_of  # noqa: E402
from edge_runtime.errors import SinkError  # noqa: E402
from edge_runtime.sinks.mqtt import MqttSink  # noqa: E402

from .conftest import Broker, window  # noqa: E402
from .test_mqtt import wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
TOPICS = [f"site/g{g}/s{s}/windows" for g in range(4) for s in range(2)]  # crc32 % 3 splits them 2/3/3
FILTER = "site/+/+/windows"


@pytest.fixture
def sinks(broker: Broker) -> Iterator[list[MqttSink]]:
    made = [MqttSink("127.0.0.1", broker.port, t, client_id=f"gw-{i}", reconnect_min=0.2, reconnect_max=1.0)
            for i, t in enumerate(TOPICS)]  # fmt: skip
    yield made
    for s in made:
        s.close(timeout=2.0)


class Cli:
    """One ``edge-anonymize-consume`` process; its stdout goes to a file read back as records."""

    def __init__(self, tmp: Path, port: int, k: int, run: int, state: Path) -> None:
        self.out, self.err = tmp / f"c{k}.{run}.out", tmp / f"c{k}.{run}.err"
        url = f"mqtt://127.0.0.1:{port}/{FILTER}?partition={k}/3&client_id=c{k}&state={state}&start=earliest"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "edge_runtime.consumer", url], stdout=out, stderr=err,
                                         cwd=ROOT)  # fmt: skip

    def records(self) -> list[tuple[str, int]]:
        lines = self.out.read_bytes().split(b"\n")[:-1]  # a line being written is not complete yet
        return [(d["topic"], d["seq"]) for d in map(json.loads, lines)]

    def stop(self, sig: int = signal.SIGTERM) -> dict[str, int]:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(20)
        last = (self.err.read_text().strip().splitlines() or [""])[-1]
        return {k: int(v) for k, v in (kv.split("=") for kv in last.split())} if sig == signal.SIGTERM else {}


def test_partitioned_consumers_split_the_fleet_and_a_killed_one_catches_up(
    broker: Broker, sinks: list[MqttSink], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    clis = [Cli(tmp_path, broker.port, k, 0, state) for k in range(3)]
    runs: list[Cli] = list(clis)
    per_stream, rounds = 250, 0
    try:
        assert wait_for(lambda: all(s.connected for s in sinks), 10)
        time.sleep(1.0)  # the consumers' interpreters start and subscribe (start=earliest covers a late one)
        t0 = time.monotonic()
        killed_at = restarted_at = 0.0
        for n in range(per_stream):  # 50 rounds/s: 400 windows/s into the broker, all 8 streams
            for i, s in enumerate(sinks):
                s.send(window(n, stream=f"s{i}"))
            rounds += 1
            time.sleep(0.02)
            if n == 40:
                clis[1].proc.kill()  # SIGKILL: nothing flushed, no cursor saved at exit
                killed_at = time.monotonic()
            if n == 120:  # and the broker with it (no persistence): consumer 1's session and its queue are gone
                broker.kill()
                time.sleep(0.3)
                broker.start()
            if n == 215:  # ~3.5 s away: ~1,400 windows for its session, more than mosquitto queues (1000)
                clis[1] = Cli(tmp_path, broker.port, 1, 1, state)
                runs.append(clis[1])
                restarted_at = time.monotonic()
        sent_s = time.monotonic() - t0
        expected = {(t, q) for t in TOPICS for q in range(per_stream)}

        def seen() -> set[tuple[str, int]]:
            return {r for c in runs for r in c.records()}

        assert wait_for(lambda: seen() >= expected, 40), f"missing {len(expected - seen())}"
        done_after = time.monotonic() - restarted_at
        stats = [c.stop() for c in clis]
    finally:
        for c in runs:
            if c.proc.poll() is None:
                c.proc.kill()
                c.proc.wait(10)
    by_consumer: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for c in runs:
        by_consumer[int(c.out.name[1])] += c.records()
    got = [r for rs in by_consumer.values() for r in rs]
    owners = {t: {k for k, rs in by_consumer.items() for tt, _ in rs if tt == t} for t in TOPICS}
    assert set(got) == expected and all(len(o) == 1 for o in owners.values()), owners
    assert {t: o.pop() for t, o in owners.items()} == {t: partition_of(t, 3) for t in TOPICS}
    for c in runs:  # within one process: every stream in order, each window once
        recs = c.records()
        for t in TOPICS:
            seqs = [q for tt, q in recs if tt == t]
            assert seqs == sorted(set(seqs)), (c.out.name, t)
    duplicates = len(got) - len(set(got))
    assert duplicates == len(set(runs[1].records()) & set(runs[3].records()))  # only around the kill
    assert all(s["lost"] == 0 and s["invalid"] == 0 for s in stats), stats
    assert stats[1]["replay_requests"] > 0 and sum(s["foreign"] for s in stats) > 0
    assert [s["streams"] for s in stats] == [Counter(partition_of(t, 3) for t in TOPICS)[k] for k in range(3)]
    print(f"\npartitioned: {len(expected)} windows of {len(TOPICS)} streams in {sent_s:.1f} s; "
          f"per consumer {[len(set(by_consumer[k])) for k in range(3)]} (streams {[s['streams'] for s in stats]}); "
          f"consumer 1 SIGKILLed {restarted_at - killed_at:.1f} s, before the kill {len(runs[1].records())}, "
          f"after the restart {len(runs[3].records())} incl. {duplicates} repeated (after its last saved cursor), "
          f"replay requests {stats[1]['replay_requests']}, windows republished {sum(s.republished for s in sinks)}, "
          f"all in {done_after:.1f} s after the restart; "
          f"missing 0; foreign messages dropped {[s['foreign'] for s in stats]}")  # fmt: skip


def test_a_shared_subscription_splits_every_stream_across_the_group(broker: Broker, sinks: list[MqttSink]) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    got: dict[int, list[tuple[str, int]]] = defaultdict(list)

    def member(k: int) -> Any:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"share-{k}", clean_session=False)
        c.on_connect = lambda c, u, f, rc, p: c.subscribe(f"$share/g/{FILTER}", qos=1)
        c.on_message = lambda c, u, m: got[k].append((m.topic, json.loads(m.payload)["seq"]))
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        return c

    members = [member(k) for k in range(3)]
    try:
        assert wait_for(lambda: all(s.connected for s in sinks), 10)
        time.sleep(0.5)
        per_stream, away = 60, 0
        for n in range(per_stream):
            for i, s in enumerate(sinks):
                s.send(window(n, stream=f"s{i}"))
            time.sleep(0.01)
            if n == 20:  # member 1 leaves for 20 rounds; its persistent session stays in the group
                members[1].loop_stop()
                members[1].disconnect()
                away = len(got[1])
            if n == 40:
                members[1] = member(1)
        total = per_stream * len(TOPICS)
        assert wait_for(lambda: len({r for rs in got.values() for r in rs}) >= total, 20)
    finally:
        for c in members:
            c.loop_stop()
            c.disconnect()
    everything = [r for rs in got.values() for r in rs]
    assert set(everything) == {(t, q) for t in TOPICS for q in range(per_stream)}
    # at least once: a member that leaves may get a window again that it had not acknowledged yet
    assert len(everything) - total <= 10
    split = {t: sorted(Counter(k for k, rs in got.items() for tt, _ in rs if tt == t).values()) for t in TOPICS}
    assert all(len(v) == 3 for v in split.values()), split  # every stream's sequence is spread over all members
    print(f"\nshared: {total} windows, all received, {len(everything) - total} twice; per member "
          f"{[len(got[k]) for k in range(3)]}; members per stream {[len(v) for v in split.values()]}; "
          f"a stream's share at one member {min(min(v) for v in split.values())}..{max(max(v) for v in split.values())} "
          f"of {per_stream}; member 1 had {away} when it left for 20 of the 60 rounds")  # fmt: skip
    with pytest.raises(SinkError, match=r"shared subscription.*partition=K/N"):
        Consumer.from_url(f"mqtt://127.0.0.1:{broker.port}/$share/g/{FILTER}")


def test_one_consumer_follows_many_streams_through_a_hash_filter(broker: Broker, sinks: list[MqttSink]) -> None:
    """``site/%23``: windows, spool messages and other consumers' replay requests on one subscription;
    one cursor per stream, and a gap in one stream (its first windows sent before the consumer was
    there, with start=earliest) is asked back from that stream's spool alone."""
    for i, s in enumerate(sinks[:3]):
        for n in range(20):
            s.send(window(n, stream=f"s{i}"))
    assert wait_for(lambda: all(s.stats.sent == 20 for s in sinks[:3]), 10)
    consumer = Consumer.from_url(f"mqtt://127.0.0.1:{broker.port}/site/%23?client_id=hash&start=earliest&clean=1")
    got: dict[str, list[int]] = defaultdict(list)

    def poll() -> None:
        for r in consumer.poll(0.02):
            got[r["topic"]].append(r["seq"])

    try:
        assert wait_for(lambda: consumer.connected, 10, poll)
        for n in range(20, 30):
            for i, s in enumerate(sinks):
                s.send(window(n, stream=f"s{i}"))
        want = {t: list(range(30 if i < 3 else 10)) for i, t in enumerate(TOPICS)}  # seq counts per sink
        assert wait_for(lambda: dict(got) == want, 20, poll), dict(got)
        stats = consumer.stats
    finally:
        consumer.close()
    assert stats.streams == 8 and stats.lost == 0 and stats.invalid == 0 and stats.replay_requests >= 3, stats


@pytest.mark.slow
def test_cost_of_a_delivered_and_of_a_foreign_window(make_broker: Any) -> None:
    """What docs/mqtt.md quotes for sizing a partitioned tier: CPU per window of the consumer's own
    thread (``thread_time``), for one consumer that owns every topic and one that owns an eighth."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from edge_runtime.sinks.mqtt_wire import encode_window

    b = make_broker(extra="max_queued_messages 100000\n")  # measure CPU, not the broker's queue bound
    topics = [f"site/g{i // 4}/s{i % 4}/windows" for i in range(256)]
    rounds = 40
    payloads = [[encode_window(window(q), q, f"e{i}") for q in range(rounds)] for i in range(len(topics))]
    cpu: dict[str, float] = {}
    results: dict[str, Any] = {}

    def consume(part: str, total: int) -> None:
        c = Consumer("127.0.0.1", b.port, FILTER, partition=part, clean=True, start="earliest", client_id=part)
        while not c.connected:
            c.poll(0.05)
        results[part] = c
        t0, deadline = time.thread_time(), time.monotonic() + 60
        while (c.stats.delivered + c.stats.foreign) < total and time.monotonic() < deadline:
            c.poll(0.05)
        cpu[part] = time.thread_time() - t0
        c.close()

    total = rounds * len(topics)
    threads = [threading.Thread(target=consume, args=(p, total)) for p in ("0/1", "5/8")]
    for th in threads:
        th.start()
    assert wait_for(lambda: len(results) == 2, 10)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="pub")
    pub.connect("127.0.0.1", b.port)
    pub.loop_start()
    for q in range(rounds):  # 10,240 windows at about 2,000/s
        for i, t in enumerate(topics):
            pub.publish(t, payloads[i][q], qos=0)
        time.sleep(0.128)
    for th in threads:
        th.join(70)
    pub.loop_stop()
    pub.disconnect()
    every, eighth = results["0/1"].stats, results["5/8"].stats
    assert every.delivered == total and every.lost == 0 and eighth.delivered + eighth.foreign == total
    per_delivered = cpu["0/1"] / every.delivered
    per_foreign = (cpu["5/8"] - eighth.delivered * per_delivered) / eighth.foreign
    assert per_foreign < per_delivered
    print(f"\ncost: {1e6 * per_delivered:.0f} us per delivered window, {1e6 * per_foreign:.0f} us per foreign one "
          f"({every.delivered} delivered; {eighth.delivered} + {eighth.foreign} foreign)")  # fmt: skip
