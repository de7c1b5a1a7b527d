"""BleSource against a bumble-emulated wearable: real GATT, real notifications, no BlueZ/radio."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from edge_runtime.errors import SourceError
from edge_runtime.sources import Source, open_source
from edge_runtime.sources.ble import BleSource
from edge_runtime.sources.ble_bumble import BumbleBleSource, BumbleWearable
from firmware_bridge.protocol import FrameDecoder, Hello, Samples, encode_frame

WRONG = "F0:66:77:88:99:AA"


def _frames(n: int = 30) -> list[Hello | Samples]:
    hello = Hello(
        seq=0, t_us=1000, rate_hz=50.0, acc_scale=1 / 256, gyro_scale=1 / 1024, device_id=0xC0FFEE, channels=6
    )
    samples = [Samples(seq=5 * i, t_us=100_000 * i, payload=bytes((i + k) % 251 for k in range(60))) for i in range(n)]
    return [hello, *samples]


def _read_until(src: Source, size: int, deadline_s: float = 20.0) -> bytes:
    got, end = b"", time.monotonic() + deadline_s
    while len(got) < size and time.monotonic() < end:
        got += src.read(0.5)
    return got


def _source(w: BumbleWearable, address: str | None = None, **query: object) -> BleSource:
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    return open_source(f"ble://{address or w.address}?transport={w.hci}&timeout=10{extra}")  # type: ignore[return-value]


def test_frames_arrive_in_order_and_decode(wearable: BumbleWearable) -> None:
    frames = _frames()
    wire = b"".join(encode_frame(f) for f in frames)
    src = _source(wearable)
    with src:
        assert isinstance(src, BumbleBleSource)
        assert src.read(0.2) == b""  # nothing sent yet: a timeout, not an error
        wearable.send(wire)
        got = _read_until(src, len(wire))
    assert wearable.notifications >= len(wire) // (wearable.mtu - 3)  # really cut into MTU-3 chunks
    assert wearable.notifications > 1
    dec = FrameDecoder()
    assert dec.feed(got) == frames
    assert dec.stats["frames"] == len(frames)
    assert src.drops == 0


def test_peripheral_disconnect_raises_source_error(wearable: BumbleWearable) -> None:
    wire = encode_frame(_frames(1)[1])
    with _source(wearable) as src:
        wearable.send(wire)
        assert _read_until(src, len(wire)) == wire
        wearable.disconnect()
        with pytest.raises(SourceError, match="disconnected"):
            for _ in range(40):  # generous: the disconnection event crosses two threads
                src.read(0.5)


def test_unexpected_address_is_refused(wearable: BumbleWearable) -> None:
    src = open_source(f"ble://{WRONG}?transport={wearable.hci}&timeout=1.5")
    with pytest.raises(SourceError, match=WRONG) as info:
        src.open()
    assert "\n" not in str(info.value)
    assert not wearable.connected  # the wearable at another address never got a connection
    with pytest.raises(SourceError, match="not connected"):
        src.read(0.1)


def test_full_queue_counts_drops(wearable: BumbleWearable) -> None:
    src = _source(wearable, queue=4)
    with src:
        step = wearable.mtu - 3
        wire = bytes((i % 255) + 1 for i in range(40 * step))  # 40 notifications, nobody reading
        wearable.send(wire)
        sent = wearable.notifications
        assert sent == 40
        end = time.monotonic() + 20
        while src.notifications + src.drops < sent and time.monotonic() < end:
            time.sleep(0.05)
        assert (src.notifications, src.drops) == (4, 36)
        assert _read_until(src, 4 * step, deadline_s=5.0) == wire[: 4 * step]  # the oldest kept, in order
        assert src.read(0.2) == b""


def test_url_parsing() -> None:
    src = open_source("ble://aa:bb:cc:dd:ee:ff?timeout=3&queue=8")
    assert type(src) is BleSource
    assert (src.address, src.timeout, src.queue_size) == ("AA:BB:CC:DD:EE:FF", 3.0, 8)
    bumble_src = open_source("ble://AA:BB:CC:DD:EE:FF?transport=tcp-client:127.0.0.1:1")
    assert isinstance(bumble_src, BumbleBleSource) and bumble_src.transport == "tcp-client:127.0.0.1:1"
    for bad, why in [
        ("ble://", "no device"),
        ("ble://AA:BB:CC", "not of the form"),
        ("ble://AA:BB:CC:DD:EE:FF?queue=x", "integer"),
        ("ble://AA:BB:CC:DD:EE:FF?queue=0", "queue"),
        ("ble://AA:BB:CC:DD:EE:FF?pin=1234", "unknown option"),
    ]:
        with pytest.raises(SourceError, match=why):
            open_source(bad)


def test_bleak_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bleak", None)  # what an install without the extra looks like
    with pytest.raises(SourceError, match=r"pip install 'edge-anonymize\[ble\]'"):
        BleSource("AA:BB:CC:DD:EE:FF", timeout=1).open()


def test_bleak_unreachable_device_is_one_line() -> None:
    """Real bleak on this host: no adapter, no BlueZ, or no such device -> one line naming it."""
    with pytest.raises(SourceError, match="AA:BB:CC:DD:EE:01") as info:
        BleSource("AA:BB:CC:DD:EE:01", timeout=1).open()
    assert "\n" not in str(info.value)


def test_bleak_over_vhci(request: pytest.FixtureRequest) -> None:
    """Opt-in: bleak (BlueZ) connects to the emulated wearable through a kernel VHCI adapter."""
    if not request.config.getoption("--ble-vhci", default=False):
        pytest.skip("opt-in: run with --ble-vhci (needs root, /dev/vhci and a running bluetoothd)")
    if not Path("/dev/vhci").exists() or not os.access("/dev/vhci", os.R_OK | os.W_OK):
        pytest.skip("/dev/vhci missing or not writable (modprobe hci_vhci, run as root)")
    w = BumbleWearable("F0:11:22:33:44:56")
    try:
        w.start(central_hci="vhci")
        frames = _frames(5)
        wire = b"".join(encode_frame(f) for f in frames)
        with BleSource(w.address, timeout=20) as src:
            w.send(wire)
            assert FrameDecoder().feed(_read_until(src, len(wire))) == frames
    finally:
        w.stop()
