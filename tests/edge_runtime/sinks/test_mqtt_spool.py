"""The MQTT sink's spool: bounds and eviction counted, an on-disk spool that survives a restart
(and a truncated or corrupted file, without a traceback), and a real sink restarted on it."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from edge_runtime.errors import SinkError
from edge_runtime.sinks.spool import DiskSpool, Spool

from .conftest import Broker, window


def payload(i: int, epoch: str = "e") -> bytes:
    """What the sink spools: a record carrying its epoch and seq (all the same length here)."""
    return json.dumps({"epoch": epoch, "seq": i, "pad": "x" * (12 - len(str(i)))}).encode()


def fill(spool: Spool, n: int) -> None:
    for _ in range(n):
        assert spool.append(payload(spool.next_seq, spool.epoch)) == spool.next_seq - 1


@pytest.mark.parametrize("kind", ["memory", "disk"])
def test_bounded_in_records_and_bytes_and_eviction_counted(kind: str, tmp_path: Path) -> None:
    def make(records: int, nbytes: int) -> Spool:
        return Spool(records, nbytes) if kind == "memory" else DiskSpool(tmp_path / f"s{records}", records, nbytes,
                                                                          segment_records=4)  # fmt: skip

    sp = make(10, 1 << 20)
    fill(sp, 25)
    assert (sp.first, sp.last, len(sp), sp.evicted) == (15, 24, 10, 15)
    assert sp.get(14) is None and sp.get(25) is None
    assert [sp.get(i) for i in range(15, 25)] == [payload(i, sp.epoch) for i in range(15, 25)]
    sp.close(25)
    one = len(payload(0, "0" * 12))  # the spool's epoch is 12 hex digits
    sp = make(1000, 5 * one)  # the byte bound bites first
    fill(sp, 12)
    assert (len(sp), sp.nbytes, sp.evicted) == (5, 5 * one, 7)
    sp.close(12)


def test_disk_spool_files_stay_bounded(tmp_path: Path) -> None:
    sp = DiskSpool(tmp_path / "s", 20, 1 << 20, segment_records=8)
    fill(sp, 500)
    segs = sorted((tmp_path / "s").glob("*.seg"))
    assert 3 <= len(segs) <= 4  # 20 live records + at most one segment being evicted
    assert sum(p.stat().st_size for p in segs) < 40 * len(payload(0))
    sp.close(500)


def test_disk_spool_survives_a_restart(tmp_path: Path) -> None:
    sp = DiskSpool(tmp_path / "s", 100, 1 << 20, segment_records=16)
    fill(sp, 40)
    epoch = sp.epoch
    sp.close(acked_below=30)  # 30..39 never acknowledged
    sp = DiskSpool(tmp_path / "s", 100, 1 << 20, segment_records=16)
    assert (sp.epoch, sp.first, sp.next_seq, sp.acked_below, sp.torn) == (epoch, 0, 40, 30, 0)
    assert sp.get(39) == payload(39, epoch)
    fill(sp, 5)  # seqs go on, never reused
    assert sp.last == 44
    sp.close(45)


def test_second_sink_on_the_same_spool_and_missing_parent_are_refused(tmp_path: Path) -> None:
    sp = DiskSpool(tmp_path / "s", 10, 1 << 20)
    with pytest.raises(SinkError, match="in use by another sink"):
        DiskSpool(tmp_path / "s", 10, 1 << 20)
    sp.close(0)
    with pytest.raises(SinkError, match="does not exist"):
        DiskSpool(tmp_path / "missing" / "s", 10, 1 << 20)


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_torn_spool_file_is_cut_back_without_a_traceback(
    damage: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:  # fmt: skip
    sp = DiskSpool(tmp_path / "s", 100, 1 << 20, segment_records=64)
    fill(sp, 10)
    sp.close(10)
    seg = next((tmp_path / "s").glob("*.seg"))
    data = bytearray(seg.read_bytes())
    if damage == "truncate":  # power loss in the middle of the last record
        seg.write_bytes(data[:-7])
    elif damage == "flip":  # a bit flipped in record 8's payload: 8 and 9 are cut
        data[len(data) - len(payload(9, sp.epoch)) - 30] ^= 0x40
        seg.write_bytes(data)
    else:
        seg.write_bytes(data + b"\x00garbage after the last record")
    caplog.set_level(logging.WARNING, logger="edge_anonymize")
    sp = DiskSpool(tmp_path / "s", 100, 1 << 20, segment_records=64)
    kept = {"truncate": 9, "flip": 8, "garbage": 10}[damage]
    # seqs below ``next`` were published: the cut ones stay a hole (never reused), unreadable
    assert (sp.next_seq, sp.torn, len(sp)) == (10, 1, 10) and sp.get(kept - 1) == payload(kept - 1, sp.epoch)
    assert [sp.get(i) for i in range(kept, 10)] == [None] * (10 - kept)
    lines = [r.getMessage() for r in caplog.records if r.name == "edge_anonymize"]
    assert len(lines) == 1 and "torn record" in lines[0] and f"{kept} whole record(s) kept" in lines[0]
    assert caplog.records[0].exc_info is None
    fill(sp, 3)  # appends go on after the cut, and the file reads back whole
    sp.close(sp.next_seq)
    sp = DiskSpool(tmp_path / "s", 100, 1 << 20, segment_records=64)
    assert (sp.next_seq, sp.torn, sp.get(12)) == (13, 0, payload(12, sp.epoch))
    sp.close(sp.next_seq)


def test_unreadable_state_file_resends_rather_than_loses(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sp = DiskSpool(tmp_path / "s", 100, 1 << 20)
    fill(sp, 6)
    epoch = sp.epoch
    sp.close(6)
    (tmp_path / "s" / "state.json").write_bytes(b"{not json")
    caplog.set_level(logging.WARNING, logger="edge_anonymize")
    sp = DiskSpool(tmp_path / "s", 100, 1 << 20)
    assert (sp.epoch, sp.acked_below, sp.next_seq) == (epoch, 0, 6)  # the epoch is read back from the records
    assert "state.json unreadable" in caplog.text
    sp.close(6)


def test_sink_restart_on_a_disk_spool_delivers_what_the_first_run_could_not(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:  # fmt: skip
    pytest.importorskip("paho.mqtt.client")
    from edge_runtime.consumer import Consumer
    from edge_runtime.sinks import open_sink

    from .test_mqtt import wait_for

    broker.kill()
    caplog.set_level(logging.WARNING, logger="edge_anonymize")
    (tmp_path / "spool").mkdir()
    url = f"mqtt://127.0.0.1:{broker.port}/gw/d?spool_dir={tmp_path / 'spool'}&reconnect_min=0.2&reconnect_max=0.5"
    first = open_sink(url)
    for i in range(30):  # the broker is down for the whole first run
        first.send(window(i))
    first.close(timeout=0.5)
    assert first.stats.dropped == 0 and "30 window(s) not yet acknowledged" in caplog.text and "kept in" in caplog.text
    assert os.listdir(tmp_path / "spool") == ["gw%2Fd"]  # one folder per topic
    broker.start()
    consumer = Consumer("127.0.0.1", broker.port, "gw/d", client_id="disk", start="earliest")
    got: list[dict] = []
    try:
        assert wait_for(lambda: consumer.connected, 10, lambda: got.extend(consumer.poll(0.01)))
        second = open_sink(url)  # restarted gateway: same spool, same epoch, seqs go on
        try:
            for i in range(10):
                second.send(window(i))  # the pipeline's window_id starts again at 0
            assert wait_for(lambda: len(got) >= 40, 30, lambda: got.extend(consumer.poll(0.01))), len(got)
        finally:
            second.close()
    finally:
        consumer.close()
    assert [r["seq"] for r in got] == list(range(40)) and len({r["epoch"] for r in got}) == 1
    assert [r["window_id"] for r in got] == [*range(30), *range(10)]
    assert consumer.stats.lost == 0 and second.stats.sent == 40 and second.stats.dropped == 0
