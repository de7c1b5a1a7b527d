"""The consumer: ordering, dedupe, gap requests and give-ups with an injected clock (no broker),
then the ``edge-anonymize-consume`` CLI against a real mosquitto and sink."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge_runtime.consumer import Reorderer
from edge_runtime.sinks.mqtt_wire import Gone, Head, ReplayRequest

from .conftest import Broker, window

ROOT = Path(__file__).resolve().parents[3]


def feed(r: Reorderer, seqs: list[int], now: float = 0.0, epoch: str = "e") -> list[int]:
    out: list[int] = []
    for s in seqs:
        out += r.window(epoch, s, s, now)
    return out


def test_in_order_once_whatever_the_arrival_order() -> None:
    r = Reorderer()
    assert feed(r, [0, 1, 3, 2, 2, 1, 5, 4, 0]) == [0, 1, 2, 3, 4, 5]
    assert (r.stats.delivered, r.stats.duplicates, r.stats.lost) == (6, 3, 0)


def test_gap_is_asked_for_after_the_grace_then_again_with_backoff() -> None:
    r = Reorderer(grace_s=0.5, retry_s=2.0, chunk=3)
    assert feed(r, [0, 1, 9]) == [0, 1]
    assert r.tick(0.4) == ([], None)  # stragglers may still come
    assert r.tick(0.6) == ([], ReplayRequest(2, 4, "e"))  # at most ``chunk``
    assert r.tick(2.0)[1] is None
    assert r.tick(2.7)[1] == ReplayRequest(2, 4, "e")  # retried after 2 s, then after 4 s
    assert r.tick(5.0)[1] is None and r.tick(6.8)[1] == ReplayRequest(2, 4, "e")
    assert feed(r, [2, 3, 4], 7.0) == [2, 3, 4]
    assert r.tick(7.0)[1] == ReplayRequest(5, 7, "e")  # the filled request frees the next at once
    assert feed(r, [5, 6, 7, 8], 7.1) == [5, 6, 7, 8, 9] and r.stats.replay_requests == 4


def test_a_reconnect_asks_again_without_waiting_for_the_retry_timer() -> None:
    """A killed broker loses the request or its answer: waiting out a doubled timer (4, 8, … s)
    lets the gap fall out of a busy gateway's spool."""
    r = Reorderer(grace_s=0.5, retry_s=2.0)
    feed(r, [0, 5])
    assert r.tick(1.0)[1] == ReplayRequest(1, 4, "e")
    assert r.tick(3.5)[1] == ReplayRequest(1, 4, "e")  # retried; the next retry is 4 s away
    r.reconnected()
    assert r.tick(3.6)[1] == ReplayRequest(1, 4, "e")


def test_tail_gap_from_the_spool_message_and_what_the_spool_lost() -> None:
    r = Reorderer(grace_s=0.0)
    feed(r, [0, 1])
    assert r.head(Head("e", 0, 6), 1.0) == []  # 2..6 exist but never arrived
    assert r.tick(1.0)[1] == ReplayRequest(2, 6, "e")
    assert r.head(Head("e", 4, 6), 1.1) == []  # 2, 3 left the spool: lost, counted
    assert r.stats.lost == 2 and r.next == 4
    assert r.gone(Gone("e", 5, 5), 1.2) == [] and feed(r, [4, 6], 1.3) == [4, 6]  # 5: a damaged record
    assert (r.stats.lost, r.stats.delivered) == (3, 4)


def test_bounded_buffer_gives_up_the_gap_in_front() -> None:
    r = Reorderer(max_buffer=4)
    feed(r, [0])
    assert feed(r, [2, 3, 4, 5]) == []
    assert feed(r, [6]) == [2, 3, 4, 5, 6] and r.stats.lost == 1


def test_no_progress_for_give_up_s_skips_and_counts() -> None:
    r = Reorderer(give_up_s=60.0)
    feed(r, [0, 2], now=100.0)
    assert r.tick(159.0)[0] == [] and r.tick(160.5)[0] == [2]
    assert r.stats.lost == 1


def test_new_epoch_flushes_the_old_one_and_old_records_are_stale() -> None:
    r = Reorderer()
    feed(r, [10, 11, 13], epoch="a")  # 12 never came when the gateway restarted (memory spool)
    assert r.head(Head("b", 0, 1), 1.0) == [13] and r.stats.lost == 1
    assert feed(r, [0, 1], epoch="b") == [0, 1]  # a new epoch starts at its beginning
    assert feed(r, [12], epoch="a") == [] and r.stats.stale == 1 and r.stats.epochs == 2


def test_start_latest_or_earliest() -> None:
    latest, earliest = Reorderer(), Reorderer(start="earliest")
    assert latest.head(Head("e", 100, 200), 0.0) == [] and latest.next == 201
    assert earliest.head(Head("e", 100, 200), 0.0) == [] and earliest.next == 100 and earliest.stats.lost == 0


def test_cli_prints_json_lines_in_order(broker: Broker) -> None:
    pytest.importorskip("paho.mqtt.client")
    from edge_runtime.sinks.mqtt import MqttSink

    sink = MqttSink("127.0.0.1", broker.port, "gw/cli")
    try:
        for i in range(12):
            sink.send(window(i))
        r = subprocess.run([sys.executable, "-m", "edge_runtime.consumer", f"mqtt://127.0.0.1:{broker.port}/gw/cli",
                            "--start", "earliest", "--count", "12"], capture_output=True, text=True, timeout=60,
                           cwd=ROOT)  # fmt: skip
    finally:
        sink.close()
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [d["seq"] for d in lines] == list(range(12)) and lines[3]["data"] == window(3).to_dict()["data"]
    assert r.stderr.strip().startswith("delivered=12 duplicates=0 lost=0") and "Traceback" not in r.stderr


@pytest.mark.parametrize("url", ["http://x/t", "mqtt:///t", "mqtt://h/t?bogus=1", "mqtt://h/t?chunk=0"])
def test_cli_bad_url_is_one_line_and_exit_2(url: str) -> None:
    r = subprocess.run([sys.executable, "-m", "edge_runtime.consumer", url], capture_output=True, text=True,
                       timeout=60, cwd=ROOT)  # fmt: skip
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
