"""Fleet pieces without a broker: the stable partition, topic filters, which stream a message belongs
to, the cursors on disk, resuming a cursor, and a wildcard consumer's routing."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from edge_runtime.consumer import Consumer, Reorderer
from edge_runtime.consumer.fleet import Checkpoint, Partition, check_filter, matches, partition_of, stream_of
from edge_runtime.errors import SinkError
from edge_runtime.sinks.mqtt_wire import Head, ReplayRequest, encode_window

from ..sinks.conftest import window


@pytest.mark.parametrize("topic, crc, parts", [
    ("site/g0/s0/windows", 2833766441, [1, 2, 1]),
    ("site/g0/s1/windows", 3214724202, [0, 0, 2]),
    ("imu/windows", 2163096084, [0, 0, 0]),
])  # fmt: skip
def test_partition_is_crc32_of_the_topic(topic: str, crc: int, parts: list[int]) -> None:
    """Pinned numbers: a consumer in another language (or a new release) must split streams alike."""
    assert [partition_of(topic, n) for n in (2, 3, 4)] == parts and crc % 3 == parts[1]


def test_partition_spec() -> None:
    assert (Partition("2/3").k, Partition("2/3").n) == (2, 3) and Partition(None).owns("anything")
    assert Partition("2/3").owns("site/g0/s0/windows") and not Partition("0/3").owns("site/g0/s0/windows")
    for bad in ("3/3", "x", "1-3", "-1/3", "1/0", "1/"):
        with pytest.raises(ValueError, match="K/N"):
            Partition(bad)


@pytest.mark.parametrize("filt", ["imu/windows", "site/+/+/windows", "site/#", "#", "+/windows"])
def test_filters_that_work(filt: str) -> None:
    check_filter(filt)


@pytest.mark.parametrize("filt, needle", [
    ("", "empty"),
    ("$share/g/site/+/windows", "partition=K/N"),
    ("site/a+/windows", "whole levels"),
    ("site/#/windows", "whole levels"),
    ("site#", "whole levels"),
    ("site/a/windows/spool", "control topic"),
])  # fmt: skip
def test_filters_that_are_refused(filt: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        check_filter(filt)


@pytest.mark.parametrize("filt, topic, hit", [
    ("site/+/windows", "site/a/windows", True),
    ("site/+/windows", "site/a/b/windows", False),
    ("site/+/windows", "site/a/windows/spool", False),
    ("site/#", "site", True),
    ("site/#", "site/a/b/c", True),
    ("imu/windows", "imu/windows", True),
    ("imu/windows", "imu/window", False),
])  # fmt: skip
def test_matches(filt: str, topic: str, hit: bool) -> None:
    assert matches(filt, topic) is hit


@pytest.mark.parametrize("topic, filt, want", [
    ("site/a/windows", "site/+/windows", ("site/a/windows", "window")),
    ("site/a/windows/spool", "site/+/windows", ("site/a/windows", "spool")),
    ("site/a/spool", "site/+/+", ("site/a/spool", "window")),  # a stream named spool, under a + filter
    ("site/a/windows/replay", "site/+/windows", ("site/a/windows/replay", "")),
    ("site/a/windows", "site/#", ("site/a/windows", "window")),
    ("site/a/windows/spool", "site/#", ("site/a/windows", "spool")),
    ("site/a/windows/replay", "site/#", ("site/a/windows", "replay")),
])  # fmt: skip
def test_stream_of(topic: str, filt: str, want: tuple[str, str]) -> None:
    assert stream_of(topic, filt) == want


def test_checkpoint_round_trip_newest_file_wins_and_a_bad_file_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = Checkpoint(str(tmp_path), "c/0"), Checkpoint(str(tmp_path), "c1")
    assert a.path.name == "c%2F0.json"
    a.save({"t/1": ("e", 5), "t/2": ("e", 7)})
    b.save({"t/2": ("e", 9)})  # t/2 moved to c1 later (N changed): its cursor is the newer one
    (tmp_path / "torn.json").write_bytes(b'{"saved": 1, "cur')
    with caplog.at_level(logging.WARNING, "edge_anonymize"):
        got = Checkpoint(str(tmp_path), "c2").load(lambda t: t != "t/3")
    assert got == {"t/1": ("e", 5), "t/2": ("e", 9)}
    assert len(caplog.records) == 1 and "torn.json unreadable" in caplog.records[0].getMessage()
    assert json.loads(b.path.read_text())["cursors"] == {"t/2": {"epoch": "e", "next": 9}}
    mtime = b.path.stat().st_mtime_ns
    os.utime(b.path, ns=(mtime - 10**9, mtime - 10**9))
    b.save({"t/2": ("e", 9)})  # unchanged: not written again
    assert b.path.stat().st_mtime_ns == mtime - 10**9 and not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(ValueError, match="does not exist"):
        Checkpoint(str(tmp_path / "nope"), "c")


def test_a_resumed_cursor_asks_for_what_came_since() -> None:
    r = Reorderer(grace_s=0.5)
    r.resume("e", 10)
    assert r.cursor == ("e", 10) and r.head(Head("e", 0, 14), 1.0) == []
    assert r.tick(1.6) == ([], ReplayRequest(10, 14, "e"))
    assert [x for s in range(9, 15) for x in r.window("e", s, s, 2.0)] == [10, 11, 12, 13, 14]
    assert (r.stats.delivered, r.stats.duplicates, r.stats.lost, r.cursor) == (5, 1, 0, ("e", 15))
    away = Reorderer()
    away.resume("e", 10)
    assert away.head(Head("e", 12, 14), 0.0) == [] and away.stats.lost == 2  # away longer than the spool covers
    restarted = Reorderer()
    restarted.resume("old", 10)  # the gateway restarted with a memory spool: its new epoch from its start
    assert restarted.head(Head("new", 0, 3), 0.0) == [] and restarted.next == 0 and restarted.stats.lost == 0


@pytest.mark.parametrize("url, needle", [
    ("mqtt://h/site/#", "%23"),
    ("mqtt://h/$share/g/site/%2B/windows", "partition=K/N"),
    ("mqtt://h/site/%2B/windows?partition=3/3", "K/N"),
    ("mqtt://h/site/%2B/windows?max_streams=0", "max_streams"),
    ("mqtt://h/site/%2B/windows?state=/nonexistent/dir", "does not exist"),
])  # fmt: skip
def test_bad_fleet_urls_are_one_line_errors(url: str, needle: str) -> None:
    pytest.importorskip("paho.mqtt.client")
    with pytest.raises(SinkError, match=needle) as exc:
        Consumer.from_url(url)
    assert "\n" not in str(exc.value)


def msg(topic: str, payload: bytes) -> SimpleNamespace:
    return SimpleNamespace(topic=topic, payload=payload)


def test_a_wildcard_consumer_keeps_one_cursor_per_stream_and_only_its_partition(tmp_path: Path) -> None:
    pytest.importorskip("paho.mqtt.client")
    mine, other = "site/g0/s0/windows", "site/g0/s1/windows"  # partition_of(., 3): 2 and 0
    c = Consumer("127.0.0.1", 9, "site/+/+/windows", partition="2/3", state_dir=str(tmp_path), max_streams=1,
                 start="earliest")  # fmt: skip
    assert c.client_id.endswith("-p2of3")
    try:
        for seq in (1, 0, 2, 1):  # out of order, one copy
            c._on_message(None, None, msg(mine, encode_window(window(seq), seq, "e")))
        c._on_message(None, None, msg(other, encode_window(window(0), 0, "f")))
        c._on_message(None, None, msg("site/g9/s9/windows", encode_window(window(0), 0, "g")))  # beyond max_streams
        c._on_message(None, None, msg(f"{mine}/spool", b"not json"))
        got = c.poll(0.0)
        stats = c.stats
    finally:
        c.close()
    assert [(r["topic"], r["seq"]) for r in got] == [(mine, 0), (mine, 1), (mine, 2)]
    assert (stats.delivered, stats.duplicates, stats.foreign, stats.refused, stats.invalid, stats.streams) == \
        (3, 1, 1, 1, 1, 1)  # fmt: skip
    assert Checkpoint(str(tmp_path), "x").load(lambda t: True) == {mine: ("e", 3)}  # saved at close


def test_a_window_is_placed_without_parsing_it_and_other_layouts_take_the_full_check() -> None:
    from edge_runtime.consumer.client import _position
    from edge_runtime.sinks.mqtt_wire import WireError

    assert _position(encode_window(window(3), 12345, "a1b2c3d4e5f6")) == ("a1b2c3d4e5f6", 12345)
    other = json.dumps({"seq": 7, "epoch": "e", **window(0).to_dict()}).encode()  # not place()'s layout
    assert _position(other) == ("e", 7)
    for bad in (b"[]", b'{"type":"anonymized_window","seq":-1,"epoch":"e"}', b"\xff"):
        with pytest.raises(WireError):
            _position(bad)


def test_a_record_framed_like_a_window_but_broken_inside_is_counted_invalid() -> None:
    pytest.importorskip("paho.mqtt.client")
    c = Consumer("127.0.0.1", 9, "gw/t", start="earliest")
    try:
        c._on_message(None, None, msg("gw/t", b'{"type":"anonymized_window",oops,"seq":0,"epoch":"e"}'))
        c._on_message(None, None, msg("gw/t", encode_window(window(1), 1, "e")))
        got = c.poll(0.0)
    finally:
        c.close()
    assert [r["seq"] for r in got] == [1] and c.stats.invalid == 1
