"""The MQTT window protocol without a broker: records, control messages (valid and hostile),
the pacer and the reconnect backoff."""

from __future__ import annotations

import json

import pytest

from edge_runtime.sinks.mqtt_wire import (
    Backoff,
    Deduper,
    Gone,
    Head,
    Pacer,
    ReplayRequest,
    WireError,
    decode_window,
    encode_record,
    encode_window,
    parse_spool_message,
    place,
)

from .conftest import window


def test_window_record_is_the_window_plus_its_spool_position() -> None:
    d = decode_window(encode_window(window(7), 41, "abc"))
    assert (d.pop("seq"), d.pop("epoch")) == (41, "abc") and d == window(7).to_dict()
    # the sink encodes in the caller's thread and appends the position later: the same bytes as one dump
    whole = {**window(7).to_dict(), "seq": 41, "epoch": "abc"}
    assert place(encode_record(window(7)), 41, "abc") == json.dumps(whole, separators=(",", ":")).encode()


def test_control_messages_round_trip() -> None:
    h = Head("e1", 5, 9, dropped=2, evicted=5)
    assert parse_spool_message(h.to_json()) == h and Head.parse(h.to_json()) == h
    assert parse_spool_message(Gone("e1", 3, 4).to_json()) == Gone("e1", 3, 4)
    assert ReplayRequest.parse(ReplayRequest(3, 8, "e1").to_json()) == ReplayRequest(3, 8, "e1")
    assert ReplayRequest.parse(b'{"from": 1, "to": 1}') == ReplayRequest(1, 1, None)  # type and epoch optional
    assert Head.parse(Head("e", 0, -1).to_json()).last == -1  # an empty spool


@pytest.mark.parametrize("payload", [
    b"", b"\xff\xfe", b"[1, 2]", b"null", b'{"from": 5, "to": 4}', b'{"from": -1, "to": 4}',
    b'{"from": "0", "to": 4}', b'{"from": true, "to": 4}', b'{"from": 0, "to": 1e300}',
    b'{"from": 0, "to": 99999999999999999999999}', b'{"type": "spool", "from": 0, "to": 1}',
    b'{"from": 0, "to": 1, "epoch": 7}', b'{"from": 0, "to": 1, "epoch": "' + b"x" * 100 + b'"}',
    b'{"from": 0, "to": 1, "pad": "' + b"x" * 2000 + b'"}',
])  # fmt: skip
def test_hostile_replay_requests_are_one_line_errors(payload: bytes) -> None:
    with pytest.raises(WireError) as exc:
        ReplayRequest.parse(payload)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("payload", [
    b"{}", b'{"type": "spool", "epoch": "e", "first": 5, "last": 3, "dropped": 0, "evicted": 0}',
    b'{"type": "gone", "epoch": "e", "from": 2, "to": 1}', b'{"type": "spool", "epoch": "", "first": 0}',
])  # fmt: skip
def test_bad_spool_messages_are_refused(payload: bytes) -> None:
    with pytest.raises(WireError):
        parse_spool_message(payload)


@pytest.mark.parametrize("payload", [b"{}", b'{"type": "anonymized_window", "epoch": "e"}',
                                     b'{"type": "anonymized_window", "epoch": "e", "seq": -1}'])  # fmt: skip
def test_records_without_a_spool_position_are_refused(payload: bytes) -> None:
    with pytest.raises(WireError):
        decode_window(payload)


def test_pacer_keeps_the_rate_with_an_injected_clock() -> None:
    p = Pacer(rate=100, burst=5)
    assert sum(p.take(0.0) for _ in range(20)) == 5  # the burst, then nothing until time passes
    assert sum(p.take(0.5) for _ in range(100)) == 5  # refill capped at the burst
    sent = sum(p.take(1.0 + i / 1000) for i in range(1000))  # 1 s of asking every ms
    assert 95 <= sent <= 106
    assert all(Pacer(0, 1).take(0.0) for _ in range(1000))  # rate 0: unpaced


def test_backoff_doubles_to_its_cap_and_resets() -> None:
    b = Backoff(1, 5)
    assert [b.next_delay() for _ in range(6)] == [1, 2, 4, 5, 5, 5]
    b.reset()
    assert b.next_delay() == 1
    with pytest.raises(ValueError):
        Backoff(5, 1)


def test_deduper_keys_on_epoch_and_seq_so_a_gateway_restart_is_not_a_duplicate() -> None:
    d = Deduper()
    first_run, second_run = encode_window(window(0), 0, "e1"), encode_window(window(0), 0, "e2")  # window_id 0 twice
    assert [d.seen(first_run), d.seen(second_run), d.seen(first_run)] == [False, False, True]
    assert d.seen(json.loads(encode_window(window(3), 3, "e2"))) is False
