"""End to end over a real pseudo-terminal: the firmware_bridge emulator writes the master, the runtime
opens the slave through the serial source (``exclusive=True``), windows arrive in a MemorySink.
Unplug = closing the master (pyserial sees what it sees on a USB unplug); replug = a new pty behind
the same udev-style symlink (``/dev/imu0`` -> ``/dev/pts/N``)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import pytest

from edge_runtime.config import from_dict
from edge_runtime.pipeline import Pipeline
from edge_runtime.sinks import MemorySink
from edge_runtime.sources.serial import SerialSource
from firmware_bridge.emulator import Emulator, Faults, PtyLink
from firmware_bridge.recording import synthetic

from .conftest import SPEC


def wait_for(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.02)


class Running:
    """A pipeline on its own thread; ``finish()`` stops it and re-raises what it raised."""

    def __init__(self, p: Pipeline) -> None:
        self.p, self.error = p, None
        self.t = threading.Thread(target=self._run)
        self.t.start()

    def _run(self) -> None:
        try:
            self.p.run()
        except BaseException as exc:
            self.error = exc

    def finish(self) -> None:
        self.p.stop()
        self.t.join(15)
        assert not self.t.is_alive()
        if self.error:
            raise self.error


def config(**source):
    return from_dict({"source": {"wait": True, "reconnect_min_s": 0.1, "reconnect_max_s": 0.4, **source},
                      "runtime": {"status_interval_s": 0}})  # fmt: skip


def test_windows_arrive_over_a_real_pty(manifest, anonymizer):
    rec = synthetic(20.0, seed=11)
    with PtyLink() as link:
        sink = MemorySink()
        run = Running(Pipeline(SerialSource(link.path), manifest, anonymizer, [sink], config()))
        try:
            wait_for(lambda: run.p.metrics.state == "connected")
            Emulator(rec, Faults(seed=1, corrupt=0.01, duplicate=0.01)).run_pty(link, speed=0)
            n_expected = (len(rec) - SPEC.length) // SPEC.stride + 1
            wait_for(lambda: len(sink.windows) >= n_expected - 4)  # a corrupted frame may cost a few
        finally:
            run.finish()
    starts = [w.start_sample for w in sink.windows]
    assert starts == sorted(starts) and 0 <= starts[0] < 300 and starts[-1] + SPEC.length <= 1000
    s = run.p.decoder.stats()
    assert s["duplicates"] >= 1 and s["reconnects"] == 0


def test_unplug_and_replug_reconnects_without_restart(manifest, anonymizer, tmp_path):
    """The first device session ends with an unplug after 120 frames; the same symlink then points at
    a new pty (udev after a replug). The runtime reconnects with backoff and marks a gap."""
    imu0 = tmp_path / "imu0"
    first, second = PtyLink(), PtyLink()
    os.symlink(first.path, imu0)
    sink = MemorySink()
    run = Running(Pipeline(SerialSource(str(imu0)), manifest, anonymizer, [sink], config()))
    try:
        wait_for(lambda: run.p.metrics.state == "connected")
        emu = Emulator(synthetic(20.0, seed=12), Faults(disconnect_after=120), samples_per_frame=5)
        emu.run_pty(first, speed=0)  # writes 120 frames (HELLO + ~595 samples), then closes the master
        assert emu.stats.disconnected
        wait_for(lambda: run.p.metrics.counters["reconnects"] >= 1)
        n_before = len(sink.windows)
        tmp = tmp_path / "imu0.new"
        os.symlink(second.path, tmp)
        os.replace(tmp, imu0)  # udev re-points the stable name
        wait_for(lambda: run.p.metrics.state == "connected")
        start = 2000  # the replugged device kept counting samples
        Emulator(synthetic(10.0, seed=13), start_seq=start, start_us=start * 20000).run_pty(second, speed=0)
        wait_for(lambda: len(sink.windows) >= n_before + 5)
    finally:
        run.finish()
        first.close()
        second.close()
    starts = [w.start_sample for w in sink.windows]
    assert n_before >= 3 and starts[n_before] == start  # windowing restarted after the gap
    assert all(s + SPEC.length <= 600 for s in starts[:n_before])
    assert run.p.decoder.stats()["reconnects"] == 1
    assert run.p.metrics.counters["source_errors"] >= 1
