"""The wired pipeline on replayed and faulted streams: windows, gaps, counters, reconnect, shutdown."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time

import numpy as np
import pytest

from edge_runtime.config import RuntimeConfig, from_dict
from edge_runtime.contract import to_view
from edge_runtime.errors import SourceError, StreamMismatchError
from edge_runtime.pipeline import Backoff, Pipeline
from edge_runtime.sinks import MemorySink, QueuedSink, Sink
from edge_runtime.sources.base import Source
from edge_runtime.sources.replay import ReplaySource
from edge_runtime.watchdog import Notifier, Watchdog
from firmware_bridge.emulator import Emulator, Faults
from firmware_bridge.recording import Recording, synthetic

from .conftest import HELLO, SPEC, Recorder, canonical, sample_frames, walk_counts, wire


def cfg(**sections) -> RuntimeConfig:
    return from_dict({"runtime": {"status_interval_s": 0, "drain_timeout_s": 3}, **sections})


def run_pipeline(source: Source, manifest, anonymizer, *, sinks=None, config=None, **kw):
    sinks = sinks if sinks is not None else [MemorySink()]
    rec = Recorder(anonymizer)
    p = Pipeline(source, manifest, rec, sinks, config or cfg(), **kw)
    p.run()
    return p, rec, sinks


def rec_view(rec: Recording) -> np.ndarray:
    counts = np.frombuffer(rec.counts.tobytes(), "<i2").reshape(-1, 6)
    return to_view(canonical(counts), SPEC.view)


def check_windows(p: Pipeline, rec: Recorder, sink: MemorySink, truth: np.ndarray) -> None:
    """Every window is the true data at its start_sample (or flagged interpolated), ids are dense."""
    got = sink.windows
    assert [w.window_id for w in got] == list(range(len(got))) == list(range(p.metrics.counters["windows"]))
    for w, x in zip(got, rec.inputs, strict=True):
        want = truth[w.start_sample : w.start_sample + SPEC.length]
        assert len(want) == SPEC.length
        if "interpolated" in w.flags:
            close = np.isclose(x, want, rtol=1e-5, atol=1e-5).all(axis=1)
            runs = np.diff(np.flatnonzero(np.diff(np.r_[0, ~close, 0])))[::2]  # lengths of the filled stretches
            assert len(runs) >= 1 and runs.max() <= p.cfg.window.max_interp
        else:
            np.testing.assert_allclose(x, want, rtol=1e-5, atol=1e-5)
        assert w.data.shape == SPEC.shape and w.channels == SPEC.channels


def decoder_adds_up(p: Pipeline) -> None:
    s = p.decoder.stats()
    assert (
        s["frames"]
        == s["hellos"] + s["blocks"] + s["duplicates"] + s["late"] + s["no_hello"] + s["suspect"] + s["pending"]
    )


def test_clean_replay_gives_every_window(manifest, anonymizer):
    r = synthetic(40.0, seed=2)
    p, rec, (sink,) = run_pipeline(ReplaySource(data=Emulator(r).wire_bytes(), speed=0), manifest, anonymizer)
    n = len(r)
    assert [w.start_sample for w in sink.windows] == list(range(0, n - SPEC.length + 1, SPEC.stride))
    check_windows(p, rec, sink, rec_view(r))
    np.testing.assert_array_equal(sink.windows[3].data, anonymizer.run(rec.inputs[3]))
    assert sink.windows[0].flags == () and sink.windows[0].model_version == "tiny-test"
    decoder_adds_up(p)
    assert p.windower.counts["restarts"] == 0


class SlowAnonymizer(Recorder):
    def run(self, w):
        time.sleep(0.002)
        return super().run(w)


def test_unpaced_replay_waits_for_a_slow_processor_instead_of_dropping(manifest, anonymizer):
    r = synthetic(60.0, seed=3)
    sink = MemorySink()
    p = Pipeline(ReplaySource(data=Emulator(r).wire_bytes(), speed=0), manifest, SlowAnonymizer(anonymizer), [sink],
                 cfg(source={"queue_chunks": 1}, window={"stride": 8}))  # fmt: skip
    p.run()
    assert p.metrics.counters.get("queue_overflow", 0) == 0
    assert [w.start_sample for w in sink.windows] == list(range(0, len(r) - SPEC.length + 1, 8))


@pytest.mark.parametrize("faults,spf", [
    (Faults(seed=3, drop=0.01, corrupt=0.01, duplicate=0.03, reorder=0.01), 5),
    (Faults(seed=4, drop=0.005, duplicate=0.01), 1),  # single-sample gaps: interpolated
    (Faults(seed=5, garbage=0.02, corrupt=0.01, drop=0.005, duplicate=0.01), 8),
])  # fmt: skip
def test_faulted_stream_never_mixes_data_across_a_gap(manifest, anonymizer, faults, spf):
    r = synthetic(120.0, seed=6)
    emu = Emulator(r, faults, samples_per_frame=spf)
    data = emu.wire_bytes()
    p, rec, (sink,) = run_pipeline(
        ReplaySource(data=data, speed=0), manifest, anonymizer, config=cfg(window={"stride": 32})
    )
    assert len(sink.windows) > 20
    check_windows(p, rec, sink, rec_view(r))
    decoder_adds_up(p)
    s = p.decoder.stats()
    if not faults.garbage:  # each sent frame is either decoded or dropped for one reason
        assert (
            s["frames"] + sum(s[k] for k in ("cobs", "crc", "version", "type", "length", "oversize")) == emu.stats.sent
        )
    assert s["duplicates"] >= 1 and s["gaps"] >= 1
    if spf == 1:
        assert any("interpolated" in w.flags for w in sink.windows)


def test_counters_add_up_over_samples(manifest, anonymizer):
    r = synthetic(30.0, seed=7)
    data = Emulator(r, Faults(seed=8, drop=0.05), samples_per_frame=4).wire_bytes()
    p, rec, (sink,) = run_pipeline(ReplaySource(data=data, speed=0), manifest, anonymizer)
    s = p.decoder.stats()
    last_end = max(w.start_sample for w in sink.windows) + SPEC.length
    assert s["samples"] + s["missing_samples"] >= last_end
    assert s["samples"] + s["missing_samples"] <= len(r)
    assert p.metrics.counters["windows"] == len(sink.windows) == sink.stats.sent


def test_clock_jump_restarts_windows(manifest, anonymizer):
    r = synthetic(30.0, seed=9)
    data = Emulator(r, Faults(clock_jump_at=150, clock_jump_us=5_000_000)).wire_bytes()
    p, rec, (sink,) = run_pipeline(ReplaySource(data=data, speed=0), manifest, anonymizer)
    assert p.decoder.stats()["clock_jumps"] == 1 and p.windower.counts["restarts"] == 1
    check_windows(p, rec, sink, rec_view(r))
    t = [w.t_device_us for w in sink.windows]
    jump = next(i for i in range(1, len(t)) if t[i] - t[i - 1] > 2_000_000)
    assert sink.windows[jump].start_sample > sink.windows[jump - 1].start_sample + SPEC.stride  # restarted


def test_stream_that_does_not_match_the_manifest_is_refused(manifest, anonymizer):
    data = Emulator(synthetic(5.0), Faults(hello_rate_hz=100.0)).wire_bytes()
    sink = MemorySink()
    with pytest.raises(StreamMismatchError, match="rate_hz"):
        run_pipeline(ReplaySource(data=data, speed=0), manifest, anonymizer, sinks=[sink])
    assert sink.windows == []


def test_a_hello_with_absurd_scales_forwards_nothing(manifest, anonymizer):
    """Before: a HELLO of 1e30 m/s^2 per count was accepted and its windows sent to every sink."""
    bad = dataclasses.replace(HELLO, acc_scale=1e30)
    sink = MemorySink()
    with pytest.raises(StreamMismatchError, match=r"units is 'acc_scale 1e\+30 m/s\^2 per count"):
        run_pipeline(ReplaySource(data=wire(sample_frames(walk_counts(1000), hello=bad)), speed=0), manifest,
                     anonymizer, sinks=[sink])  # fmt: skip
    assert sink.windows == [] and sink.stats.sent == 0


class ScriptedSource(Source):
    """A source that fails to open ``fail_opens`` times, then plays sessions of bytes, losing the link after each."""

    url = "scripted://"

    def __init__(self, fail_opens: int, sessions: list[bytes]) -> None:
        self.fail_opens, self.sessions, self.opens, self.closes = fail_opens, list(sessions), 0, 0
        self._cur: list[bytes] | None = None

    def open(self) -> None:
        self.opens += 1
        if self.fail_opens > 0:
            self.fail_opens -= 1
            raise SourceError("scripted device absent")
        if not self.sessions:
            raise SourceError("scripted device gone for good")
        data = self.sessions.pop(0)
        self._cur = [data[i : i + 100] for i in range(0, len(data), 100)]

    def read(self, timeout: float) -> bytes:
        if self._cur is None:
            raise SourceError("not open")
        if not self._cur:
            if not self.sessions:
                raise EOFError
            raise SourceError("scripted unplug")
        return self._cur.pop(0)

    def close(self) -> None:
        self.closes += 1
        self._cur = None


def test_reconnect_backoff_and_gap_across_reconnect(manifest, anonymizer):
    counts = walk_counts(1000)
    frames = sample_frames(counts)  # seq continues across the unplug: still a gap
    cut = 1 + 100  # after 500 samples
    sessions = [wire(frames[:cut]), wire([frames[0], *frames[cut:]])]
    src = ScriptedSource(3, sessions)
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    config = cfg(source={"wait": True, "reconnect_min_s": 0.5, "reconnect_max_s": 1.5})
    p, rec, (sink,) = run_pipeline(src, manifest, anonymizer, config=config, sleep=sleep, clock=lambda: now[0])
    assert list(p.backoff.recent) == [0.5, 1.0, 1.5, 0.5]  # 3 failed opens (capped), reset after data, 1 unplug
    assert sum(slept) == pytest.approx(3.5) and max(slept) <= 1.0  # slept in slices: stop stays prompt
    assert p.decoder.stats()["reconnects"] == 1 and p.metrics.counters["reconnects"] == 1
    starts = [w.start_sample for w in sink.windows]
    assert not any(s < 500 < s + SPEC.length for s in starts)  # no window spans the reconnect
    assert starts[:6] == list(range(0, 321, 64)) and 500 in starts
    check_windows(p, rec, sink, to_view(canonical(counts), SPEC.view))


def test_backoff_doubles_and_caps():
    b = Backoff(0.5, 30.0)
    assert [b.next_delay() for _ in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    b.reset()
    assert b.next_delay() == 0.5


def test_absent_device_at_start_is_fatal_unless_wait(manifest, anonymizer):
    with pytest.raises(SourceError, match="absent"):
        run_pipeline(ScriptedSource(1, [b""]), manifest, anonymizer)


class SlowSink(QueuedSink):
    url = "slow://"

    def __init__(self, delay: float = 0.05, maxsize: int = 4) -> None:
        super().__init__(maxsize=maxsize)
        self.delay, self.ids = delay, []

    def _write(self, window) -> None:
        time.sleep(self.delay)
        self.ids.append(window.window_id)


class LiveReplay(ReplaySource):
    """A replay that behaves like a live device: it cannot wait for the pipeline."""

    can_wait = False


def test_slow_sink_never_stalls_acquisition_of_a_live_source(manifest, anonymizer):
    data = Emulator(synthetic(120.0)).wire_bytes()
    slow, mem = SlowSink(), MemorySink()
    t0 = time.monotonic()
    p, _, _ = run_pipeline(LiveReplay(data=data, speed=0), manifest, anonymizer, sinks=[slow, mem],
                           config=cfg(window={"stride": 8}, runtime={"drain_timeout_s": 0.5, "status_interval_s": 0}))  # fmt: skip
    n = len(mem.windows)
    assert n > 600 and time.monotonic() - t0 < 0.05 * n / 2  # far faster than the slow sink
    assert slow.stats.dropped > 0 and slow.stats.sent + slow.stats.dropped + slow._q.qsize() >= n - 1
    assert p.metrics.snapshot()["sinks"]["slow://"]["dropped"] == slow.stats.dropped


def test_a_recording_waits_for_a_slow_sink_and_loses_nothing(manifest, anonymizer):
    """Backpressure: an unpaced replay is paced by its slowest sink, every window reaches every sink."""
    data = Emulator(synthetic(60.0, seed=4)).wire_bytes()
    slow, mem = SlowSink(delay=0.002, maxsize=4), MemorySink()
    p, _, _ = run_pipeline(ReplaySource(data=data, speed=0), manifest, anonymizer, sinks=[slow, mem],
                           config=cfg(window={"stride": 8}))  # fmt: skip
    n = p.metrics.counters["windows"]
    assert n == (3000 - 128) // 8 + 1 == len(mem.windows)
    assert slow.ids == list(range(n))  # the queue at close was flushed, not abandoned
    assert (slow.stats.sent, slow.stats.dropped, slow.stats.errors) == (n, 0, 0)


class StuckSink(QueuedSink):
    """A sink whose writer hangs until released: no progress at all."""

    url = "stuck://"

    def __init__(self) -> None:
        self.release = threading.Event()
        super().__init__(maxsize=2)

    def _write(self, window) -> None:
        self.release.wait(30)


def test_stop_ends_backpressure_waits_by_the_drain_deadline(manifest, anonymizer):
    data = Emulator(synthetic(120.0)).wire_bytes()
    stuck = StuckSink()
    p = Pipeline(ReplaySource(data=data, speed=0), manifest, anonymizer, [stuck], cfg(runtime={"drain_timeout_s": 0.5}))
    assert stuck.wait_s is not None  # a recording: the pipeline turned backpressure on
    timer = threading.Timer(1.0, p.stop)
    timer.start()
    t0 = time.monotonic()
    p.run()
    took = time.monotonic() - t0
    stuck.release.set()
    assert took < stuck.wait_s  # SIGTERM does not sit out a full backpressure wait
    assert stuck.stats.dropped >= 1 and stuck.stats.sent <= 1  # and what it could not take is counted


def test_stop_drains_within_the_timeout_and_reports(manifest, anonymizer, tmp_path):
    data = Emulator(synthetic(600.0)).wire_bytes()  # 10 min at real time: only stop() ends it
    metrics = tmp_path / "m.json"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(tmp_path / "notify"))
    listener.settimeout(0.5)
    msgs: list[str] = []
    done = threading.Event()

    def listen() -> None:  # like systemd: always reading
        while not done.is_set():
            try:
                msgs.append(listener.recv(500).decode())
            except TimeoutError:
                pass

    reader = threading.Thread(target=listen)
    reader.start()
    wd = Watchdog(Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify")}), interval_s=0.2)
    config = cfg(runtime={"metrics_file": str(metrics), "status_interval_s": 0.3, "drain_timeout_s": 2})
    p = Pipeline(ReplaySource(data=data, speed=20.0), manifest, anonymizer, [MemorySink()], config, watchdog=wd)
    timer = threading.Timer(2.0, p.stop)
    timer.start()
    t0 = time.monotonic()
    p.run()
    took = time.monotonic() - t0
    time.sleep(0.2)
    done.set()
    reader.join()
    listener.close()
    wd.notifier.close()
    assert 1.5 < took < 2.0 + 2 + 1.5
    assert msgs[0] == "READY=1" and "WATCHDOG=1" in msgs and "STOPPING=1" in msgs
    assert any(m.startswith("STATUS=") and "windows=" in m for m in msgs)
    snap = json.loads(metrics.read_text())
    assert snap["state"] == "stopped" and snap["counters"]["windows"] > 0 and not snap["ungated"]


def test_notify_never_blocks_when_nobody_reads(tmp_path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(tmp_path / "notify"))
    n = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify")})
    t0 = time.monotonic()
    sent = [n.notify("WATCHDOG=1") for _ in range(500)]
    assert time.monotonic() - t0 < 5 and sent[0] and not sent[-1]
    n.close()
    listener.close()


def test_per_window_overhead_against_the_bare_interpreter(manifest, anonymizer, capsys):
    """Prints measured numbers (status-line percentiles); asserts only generous bounds."""
    data = Emulator(synthetic(300.0, seed=1)).wire_bytes()
    t0 = time.perf_counter()
    p, _, (sink,) = run_pipeline(
        ReplaySource(data=data, speed=0), manifest, anonymizer, config=cfg(window={"stride": 8})
    )
    wall = time.perf_counter() - t0
    lat = p.metrics.snapshot()["latency"]
    n = len(sink.windows)
    with capsys.disabled():
        print(
            f"\n[pipeline] {n} windows from 300 s of frames in {wall:.2f} s ({n / wall:.0f} windows/s, "
            f"{15000 / wall:.0f} samples/s); invoke p50 {lat['interpreter']['p50_us']} us, "
            f"whole window p50 {lat['window']['p50_us']} us p99 {lat['window']['p99_us']} us"
        )
    assert n == (15000 - 128) // 8 + 1
    assert lat["window"]["p50_us"] < 20_000 and wall < 60


class CountingSink(Sink):
    url = "count://"

    def _send(self, window) -> None:
        self.stats.sent += 1


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_soak_smoke_no_growth_and_counters_add_up(manifest, anonymizer, capsys):
    """A looped replay of generated motion (every posture and gait) at full speed for a few seconds:
    RSS and fds stay flat, every window counted."""
    import os

    from firmware_bridge.generated import SHIPPED, generated_recording

    data = Emulator(generated_recording(SHIPPED, "walk@hapt:15,sit:10,up:8,down:7,lay:10,stand:10", seed=2)).wire_bytes()
    sink = CountingSink()
    p = Pipeline(ReplaySource(data=data, speed=0, loop=True), manifest, anonymizer, [sink], cfg())
    marks: list[tuple[int, int, int]] = []

    def sample() -> None:
        marks.append((_rss_kb(), len(os.listdir("/proc/self/fd")), p.metrics.counters["windows"]))

    timers = [threading.Timer(t, sample) for t in (1.0, 4.0)] + [threading.Timer(4.1, p.stop)]
    for t in timers:
        t.start()
    p.run()
    (rss0, fd0, w0), (rss1, fd1, w1) = marks
    with capsys.disabled():
        print(f"\n[soak] {w1 - w0} windows in 3 s, RSS {rss0 / 1024:.1f} -> {rss1 / 1024:.1f} MB, fds {fd0} -> {fd1}")
    assert w1 - w0 > 100 and fd1 <= fd0 and rss1 - rss0 < 20 * 1024
    s = p.decoder.stats()
    assert s["resyncs"] >= 1 and sink.stats.sent == p.metrics.counters["windows"]
    assert (
        s["frames"]
        == s["hellos"] + s["blocks"] + s["duplicates"] + s["late"] + s["no_hello"] + s["suspect"] + s["pending"]
    )
