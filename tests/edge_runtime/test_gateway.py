"""The multi-stream gateway over real TCP sockets and a real pty: per-stream windows and ids, no
mixing between streams, batching, and faults that stay in their own stream."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from edge_runtime.bundleset import ModelSet
from edge_runtime.config import from_dict
from edge_runtime.contract import to_view
from edge_runtime.gateway import Gateway
from edge_runtime.gateway_streams import listener_stream_name
from edge_runtime.sinks import MemorySink
from edge_runtime.sinks.base import AnonymizedWindow
from firmware_bridge.protocol import Hello

from .conftest import CANARY, HELLO, SPEC, PtyWriter, canonical, sample_frames, walk_counts, wire

SECRET = b"test-secret"
DEV0 = 0xED6E_0000_1000


class BatchCounter:
    """The real anonymizer, noting each ``run_batch`` call's size and inputs."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.sizes, self.inputs = inner, [], []

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)

    def run_batch(self, x):  # type: ignore[no-untyped-def]
        self.sizes.append(len(x))
        self.inputs.append(np.array(x))
        return self.inner.run_batch(x)


class GateSink(MemorySink):
    """A memory sink whose first ``send`` waits for ``release`` (holds the loop so data piles up)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.release = threading.Event(), threading.Event()

    def _send(self, window: AnonymizedWindow) -> None:
        self.entered.set()
        self.release.wait(5)
        super()._send(window)


def gw_config(streams: list[dict], **gateway):  # type: ignore[no-untyped-def]
    return from_dict({"runtime": {"status_interval_s": 0, "drain_timeout_s": 3}, "streams": streams,
                      "gateway": {"stall_timeout_s": 2.0, "hello_timeout_s": 1.0, **gateway}})  # fmt: skip


@pytest.fixture()
def serve(manifest, anonymizer) -> Iterator:  # type: ignore[no-untyped-def]
    """Start a gateway in a thread; ``serve(cfg, sinks) -> (gateway, port, counter)``; stopped at the end."""
    running: list[tuple[Gateway, threading.Thread]] = []

    def start(cfg, sinks):  # type: ignore[no-untyped-def]
        counter = BatchCounter(anonymizer)
        gw = Gateway(cfg, ModelSet.single(manifest, counter), sinks, secret=SECRET)
        t = threading.Thread(target=gw.run, daemon=True)
        t.start()
        assert gw.ready.wait(5)
        running.append((gw, t))
        port = gw.listeners[0][1].port if gw.listeners else None
        return gw, port, counter

    yield start
    while _OPEN:
        _OPEN.pop().close()
    for gw, t in running:
        gw.stop()
        t.join(10)
        assert not t.is_alive()


def device(i: int, n: int = 128 * 4, canary: int = 0) -> tuple[bytes, np.ndarray, Hello]:
    """Wire bytes of device ``i``: its own HELLO id and its own signal (offset per device)."""
    counts = walk_counts(n, seed=i, canary_every=canary)
    counts[:, 2] = np.clip(counts[:, 2].astype(int) + 400 * i, -32768, 32767)
    hello = dataclasses.replace(HELLO, device_id=DEV0 + i)
    return wire(sample_frames(counts, hello=hello)), counts, hello


_OPEN: list[socket.socket] = []


def connect(port: int) -> socket.socket:
    """A device's TCP connection (closed at the end of the test if the test did not)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    _OPEN.append(s)
    return s


def wait_for(cond, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def expected(n: int) -> list[int]:
    return list(range(0, n - SPEC.length + 1, SPEC.stride))


def by_stream(sink: MemorySink) -> dict[str, list[AnonymizedWindow]]:
    out: dict[str, list[AnonymizedWindow]] = {}
    for w in sink.windows:
        out.setdefault(w.stream, []).append(w)
    return out


def listen(**kw):  # type: ignore[no-untyped-def]
    return gw_config([{"name": "ward", "url": "tcp-listen://127.0.0.1:0?max=50"}], **kw)


def test_many_devices_own_windows_ids_and_no_mixing(serve, anonymizer):
    sink = MemorySink()
    gw, port, counter = serve(listen(), [sink])
    devices = [device(i, n=128 * 3 + 64 * i) for i in range(12)]
    socks = [connect(port) for _ in devices]
    for s, (data, _, _) in zip(socks, devices, strict=True):
        s.sendall(data)
    total = sum(len(expected(len(c))) for _, c, _ in devices)
    assert wait_for(lambda: len(sink.windows) == total)
    got = by_stream(sink)
    assert len(got) == len(devices)
    for i, (_, counts, _) in enumerate(devices):
        name = listener_stream_name("ward", SECRET, DEV0 + i)
        assert name.startswith("ward-") and f"{DEV0 + i:x}" not in name
        ws = got[name]
        assert [w.window_id for w in ws] == list(range(len(ws)))
        assert [w.start_sample for w in ws] == expected(len(counts))
        truth = to_view(canonical(counts), SPEC.view)
        for w in ws:  # the record is the model's output on *this* stream's samples, nobody else's
            want = anonymizer.run(truth[w.start_sample : w.start_sample + SPEC.length])
            np.testing.assert_array_equal(w.data, want)
    assert sum(counter.sizes) == total
    streams = gw.metrics.snapshot()["streams"]
    assert sum(s["windows"] for s in streams.values()) == total == gw.metrics.counters["windows"]
    for s in socks:
        s.close()


def test_windows_ready_together_are_one_batch(serve):
    gate = GateSink()
    gw, port, counter = serve(listen(), [gate])
    devices = [device(i, n=128) for i in range(8)]  # one window each
    socks = [connect(port) for _ in devices]
    first, *rest = zip(socks, devices, strict=True)
    first[0].sendall(first[1][0])
    assert gate.entered.wait(5)  # the loop is busy delivering stream 0's window ...
    for s, (data, _, _) in rest:  # ... while the other seven complete theirs
        s.sendall(data)
    time.sleep(0.2)
    gate.release.set()
    assert wait_for(lambda: len(gate.windows) == 8)
    assert counter.sizes == [1, 7]  # stream 0 alone, then the seven that were ready together
    assert len({w.stream for w in gate.windows}) == 8
    assert gw.metrics.snapshot()["gateway"]["batch_sizes"] == {"1": 1, "7": 1}


def test_faulty_streams_do_not_touch_the_others(serve, caplog):
    sink = MemorySink()
    gw, port, _ = serve(listen(stall_timeout_s=0.5, hello_timeout_s=0.5), [sink])
    good = [device(i, n=128 * 6) for i in range(4)]
    garbage, stalled, unplugged = connect(port), connect(port), connect(port)
    rng = np.random.default_rng(0)
    garbage.sendall(rng.integers(0, 256, 20000, dtype=np.uint8).tobytes())  # never a HELLO
    data, _, _ = device(20, n=128 * 2)
    stalled.sendall(data[: len(data) // 2])  # a HELLO and some frames, then silence
    udata, _, _ = device(21, n=128 * 4)
    unplugged.sendall(udata[: len(udata) // 3])
    unplugged.close()  # pulled out mid-frame
    socks = [connect(port) for _ in good]
    for s, (d, _, _) in zip(socks, good, strict=True):
        for k in range(0, len(d), 997):  # slow, in odd pieces, across the faults
            s.sendall(d[k : k + 997])
            time.sleep(0.002)
    per = len(expected(128 * 6))
    stalled_name = listener_stream_name("ward", SECRET, DEV0 + 20)
    with caplog.at_level(logging.INFO, logger="edge_anonymize"):
        assert wait_for(lambda: gw.streams[stalled_name].state == "closed" and gw.counts["no_hello"] == 1, 5)
    got = by_stream(sink)
    for i in range(4):
        assert len(got[listener_stream_name("ward", SECRET, DEV0 + i)]) == per
        assert [w.window_id for w in got[listener_stream_name("ward", SECRET, DEV0 + i)]] == list(range(per))
    assert gw.counts["unplugged"] == 1 and gw.streams[stalled_name].reason == "stalled"
    closed = [r.getMessage() for r in caplog.records if "closed (" in r.getMessage()]
    assert sum(f"{stalled_name} closed (stalled)" in m for m in closed) == 1
    assert sum("(no_hello)" in m for m in closed) == 1  # the garbage spewer: one line
    for s in (garbage, stalled, *socks):
        s.close()


def test_hello_mismatch_is_refused_with_one_line(serve, caplog):
    sink = MemorySink()
    gw, port, _ = serve(listen(), [sink])
    counts = walk_counts(128 * 2)
    bad = wire(sample_frames(counts, hello=dataclasses.replace(HELLO, device_id=DEV0 + 99, rate_hz=100.0)))
    ok, _, _ = device(1, n=128 * 2)
    with caplog.at_level(logging.INFO, logger="edge_anonymize"):
        s_bad, s_ok = connect(port), connect(port)
        s_bad.sendall(bad)
        s_ok.sendall(ok)
        assert wait_for(lambda: len(sink.windows) == 3 and gw.counts["mismatch"] == 1)
        assert s_bad.recv(10) == b""  # the gateway closed it
    lines = [r.getMessage() for r in caplog.records if "mismatch" in r.getMessage()]
    assert len(lines) == 1 and "rate_hz" in lines[0] and f"{DEV0 + 99:x}" not in lines[0]
    assert {w.stream for w in sink.windows} == {listener_stream_name("ward", SECRET, DEV0 + 1)}
    s_ok.close()


def test_reconnect_keeps_name_and_ids_and_max_refuses(serve):
    sink = MemorySink()
    cfg = gw_config([{"name": "ward", "url": "tcp-listen://127.0.0.1:0?max=2"}])
    gw, port, _ = serve(cfg, [sink])
    data, _, _ = device(3, n=128 * 2)
    s = connect(port)
    s.sendall(data)
    assert wait_for(lambda: len(sink.windows) == 3)
    s.close()
    s = connect(port)  # the same device again: same stream, window ids go on
    s.sendall(data)
    assert wait_for(lambda: len(sink.windows) == 6)
    assert {w.stream for w in sink.windows} == {listener_stream_name("ward", SECRET, DEV0 + 3)}
    assert [w.window_id for w in sink.windows] == list(range(6))
    extra = [connect(port) for _ in range(2)]  # 1 + 2 > max=2: the last is refused
    assert wait_for(lambda: gw.counts["refused"] == 1)
    assert extra[-1].recv(10) == b""
    for x in (s, *extra):
        x.close()


def test_stream_template_sinks_and_canary(serve, tmp_path):
    url = f"file://{tmp_path}/{{stream}}.jsonl"
    shared = f"file://{tmp_path}/all.jsonl"
    gw, port, _ = serve(listen(), [url, shared])
    devices = [device(i, n=128 * 2, canary=7) for i in range(3)]
    socks = [connect(port) for _ in devices]
    for s, (d, _, _) in zip(socks, devices, strict=True):
        s.sendall(d)
    assert wait_for(lambda: gw.metrics.counters["windows"] == 9)
    for s in socks:
        s.close()
    gw.stop()
    assert wait_for(lambda: gw.metrics.state == "stopped")
    names = {listener_stream_name("ward", SECRET, DEV0 + i) for i in range(3)}
    assert {p.stem for p in tmp_path.glob("ward-*.jsonl")} == names
    for name in names:
        recs = [json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
        assert len(recs) == 3 and {r["stream"] for r in recs} == {name}
    everything = (tmp_path / "all.jsonl").read_bytes()
    assert everything.count(b"\n") == 9
    raw = canonical(np.array([CANARY]))[0]
    for blob in [everything, *(p.read_bytes() for p in tmp_path.glob("ward-*.jsonl"))]:
        for v in (*CANARY, *(round(float(x), 5) for x in raw)):
            assert str(v).encode() not in blob


def test_config_streams_over_a_real_pty_with_unplug(serve, manifest):
    a, b = PtyWriter(), PtyWriter()
    sink = MemorySink()
    cfg = gw_config([{"name": "bed1", "url": f"serial://{a.path}"}, {"name": "bed2", "url": f"serial://{b.path}"}],
                    stall_timeout_s=5.0)  # fmt: skip
    gw, _, _ = serve(cfg, [sink])
    da, ca, _ = device(1, n=128 * 4)
    db, cb, _ = device(2, n=128 * 4)
    assert wait_for(lambda: all(t.reader.metrics.state == "connected" for t in gw._threaded))
    a.write(da[: len(da) // 2])
    a.unplug()  # bed1 is pulled out; bed2 goes on
    b.write(db)
    assert wait_for(lambda: len(by_stream(sink).get("bed2", [])) == len(expected(len(cb))))
    assert [w.window_id for w in by_stream(sink)["bed2"]] == list(range(len(expected(len(cb)))))
    assert len(by_stream(sink).get("bed1", [])) <= 2
    b.close()
    a.close()


def test_secret_is_made_once_kept_private_and_names_are_stable(tmp_path):
    from edge_runtime.config import GatewayConfig
    from edge_runtime.gateway_streams import stream_secret

    state = tmp_path / "state" / "gateway.secret"
    first = stream_secret(GatewayConfig(state_file=str(state)))
    assert len(first) == 32 and state.stat().st_mode & 0o777 == 0o600
    assert stream_secret(GatewayConfig(state_file=str(state))) == first  # kept across restarts
    assert stream_secret(GatewayConfig(secret="abc", state_file=str(state))) == b"abc"
    a, b = (listener_stream_name("ward", first, DEV0), listener_stream_name("ward", b"other", DEV0))
    assert a == listener_stream_name("ward", first, DEV0) and a != b and len(a) == len("ward-") + 8


def test_views_in_the_gateway_label_delete_and_rate_per_stream(manifest, anonymizer):
    """Option views (views.py) on a batch of many streams: the same records as the one-stream pipeline."""
    from edge_runtime.cli import ESTIMATOR_BUNDLE
    from edge_runtime.estimator import Estimator
    from edge_runtime.manifest import load
    from edge_runtime.signing import trusted_keys

    est = load(ESTIMATOR_BUNDLE, keys=trusted_keys(system_dir=None))
    models = ModelSet({"default": (manifest, anonymizer)}, "default", (est, Estimator(est)))
    sinks = [MemorySink(), MemorySink(), MemorySink()]
    for s, spec in zip(sinks, ["label", "default;delete=transition", "default;rate=12.5"], strict=True):
        s.view = spec
    gw = Gateway(listen(), models, sinks, secret=SECRET)
    t = threading.Thread(target=gw.run, daemon=True)
    t.start()
    try:
        assert gw.ready.wait(5)
        port = gw.listeners[0][1].port
        devices = [device(i, n=128 * 4) for i in range(5)]
        for data, _, _ in devices:
            connect(port).sendall(data)
        total = sum(len(expected(len(c))) for _, c, _ in devices)
        assert wait_for(lambda: len(sinks[0].windows) == total and len(sinks[2].windows) == total)
        labels = {(w.stream, w.window_id): w.activity for w in sinks[0].windows}
        assert all(w.data.size == 0 and w.activity for w in sinks[0].windows)
        kept = {(w.stream, w.window_id) for w in sinks[1].windows}
        assert kept == {k for k, lab in labels.items() if lab != "transition"}
        assert gw.batcher.views.deleted["default;delete=transition"] == total - len(kept)
        for w in sinks[2].windows:
            assert w.view == "default@12.5Hz" and w.data.shape == (SPEC.length // 4, 2)
        one = next(w for w in sinks[0].windows)  # the estimate is the one-window estimator's, per stream
        _, counts, _ = devices[[listener_stream_name("ward", SECRET, DEV0 + i) for i in range(5)].index(one.stream)]
        truth = to_view(canonical(counts), SPEC.view)[one.start_sample : one.start_sample + SPEC.length]
        assert Estimator(est).estimate(truth)[0] == one.activity
    finally:
        while _OPEN:
            _OPEN.pop().close()
        gw.stop()
        t.join(10)
