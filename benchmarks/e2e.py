"""End to end over a real pty: emulator frames -> runtime process -> UDP sink, timed per window.

The emulator's frames (``firmware_bridge.emulator``) are written to the master end of a
``PtyLink`` by this process, which notes when each SAMPLES frame went out; the runtime, a separate
process, reads the slave end and sends each ``AnonymizedWindow`` as one JSON datagram to a UDP
socket here. Latency of a window = its arrival - the write of the frame holding its last sample.

Phase 1 replays at real 50 Hz (5 samples per frame, as the reference firmware sends). Phase 2 ramps
the replay speed (32 samples per frame) until windows go missing, the runtime saturates a core, or
the writer cannot reach the target rate; the fastest loss-free stage is the maximum sustained speed.
"""

from __future__ import annotations

import bisect
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from firmware_bridge import recording
from firmware_bridge.emulator import Emulator, PtyLink, write_all
from firmware_bridge.protocol import Samples

from .latency import percentiles

__all__ = ["UdpReceiver", "Writer", "runtime_command", "run_e2e"]

RAMP = (20.0, 100.0, 400.0, 1600.0, 6400.0, 0.0)  # x real time; 0 = as fast as the writer can


class UdpReceiver:
    """Collects ``(t_arrival, start_sample)`` of every window datagram on a loopback port."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.arrivals: list[tuple[float, int]] = []
        self.bad = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-udp", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(1 << 16)
            except TimeoutError:
                continue
            t = time.monotonic()
            try:
                self.arrivals.append((t, int(json.loads(data)["start_sample"])))
            except (ValueError, KeyError, TypeError):
                self.bad += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self.sock.close()


class Writer:
    """Writes emulator frames onto the pty at a chosen speed; remembers when each sample left."""

    def __init__(self, link: PtyLink, rec: recording.Recording) -> None:
        self.link, self.rec = link, rec
        self.next_seq = 0
        self.seqs: list[int] = []  # first sample index of each SAMPLES frame, ascending
        self.times: list[float] = []  # monotonic time its write finished

    def stage(self, n_samples: int, *, speed: float, samples_per_frame: int) -> dict[str, float]:
        """Write ``n_samples`` samples at ``speed`` x real time (0 = unpaced); returns the achieved rate."""
        emu = Emulator(self.rec, samples_per_frame=samples_per_frame, start_seq=self.next_seq,
                       start_us=round(self.next_seq * 1e6 / self.rec.rate_hz), loop=True)  # fmt: skip
        first, end = self.next_seq, self.next_seq + n_samples
        chunks = []  # encode before the clock starts: the writer must not be the bottleneck
        for chunk in emu.chunks():
            if isinstance(chunk.frame, Samples) and chunk.frame.seq >= end:
                break
            chunks.append(chunk)
        t0 = time.monotonic()
        for chunk in chunks:
            frame = chunk.frame
            if speed > 0:
                delay = t0 + chunk.at_s / speed - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            write_all(self.link.master, chunk.data)
            if isinstance(frame, Samples):
                self.seqs.append(frame.seq)
                self.times.append(time.monotonic())
                self.next_seq = frame.seq + frame.n
        wall = time.monotonic() - t0
        return {"first": first, "last": self.next_seq - 1, "wall_s": wall,
                "achieved_speed": (self.next_seq - first) / self.rec.rate_hz / wall if wall > 0 else 0.0}  # fmt: skip

    def written_at(self, sample: int) -> float | None:
        i = bisect.bisect_right(self.seqs, sample) - 1
        return self.times[i] if i >= 0 else None


def runtime_command(pty_path: str, udp_port: int, work: Path, bundle: Path | None, model: Path) -> tuple[list[str], str]:
    """The gateway CLI when it exists and a bundle is there, else this module's stand-in runtime."""
    sink = f"udp://127.0.0.1:{udp_port}"
    if bundle is not None and (bundle / "manifest.json").is_file() and _has_cli():
        cmd = [sys.executable, "-m", "edge_runtime.cli", "--port", pty_path, "--bundle", str(bundle), "--sink", sink]
        return cmd, "edge_runtime.cli"
    cmd = [sys.executable, "-m", "benchmarks.minirt", "--port", pty_path, "--work", str(work), "--model", str(model),
           "--sink", sink]  # fmt: skip
    return cmd, "benchmarks.minirt (stand-in: edge_runtime.cli or the bundle is missing)"


def _has_cli() -> bool:
    root = Path(__file__).resolve().parent.parent / "edge_runtime"
    return (root / "cli.py").is_file() and (root / "pipeline.py").is_file()


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _wait_windows(rx: UdpReceiver, want_last: int, length: int, timeout: float) -> None:
    """Until a window ending at or after ``want_last`` arrived, or nothing new for 1 s, or ``timeout``."""
    deadline, seen, quiet = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline:
        n = len(rx.arrivals)
        if n and rx.arrivals[-1][1] + length - 1 >= want_last:
            return
        if n != seen:
            seen, quiet = n, time.monotonic()
        elif time.monotonic() - quiet > 1.0:
            return
        time.sleep(0.02)


def _expected(first: int, last: int, length: int, stride: int, offset: int = 0) -> int:
    """Windows (starts at ``offset + k * stride``) whose last sample lies in ``[first, last]``."""
    lo = max(0, -(-(first - length + 1 - offset) // stride))
    hi = (last - length + 1 - offset) // stride
    return max(0, hi - lo + 1)


GENERATED_SCHEDULE = "walk@hapt:40,sit:20,up:15,down:15,stand:10,walk@hapt:20"  # 2 min of one device (docs/generator.md)


def _fallback_recording() -> tuple[recording.Recording, str]:
    """Without HAPT: 2 minutes from the shipped motion generator (numpy only), else the simple synthetic walk."""
    from firmware_bridge.generated import SHIPPED, GeneratedError, generated_recording

    try:
        return generated_recording(SHIPPED, GENERATED_SCHEDULE, seed=0), f"generated ({GENERATED_SCHEDULE})"
    except GeneratedError:
        return recording.synthetic(120.0), "firmware_bridge.recording.synthetic"


def run_e2e(work: Path, model: Path, *, bundle: Path | None, data_root: Path | None, length: int, stride: int,
            realtime_s: float, stage_s: float) -> dict[str, Any]:  # fmt: skip
    """Phase 1 (real 50 Hz latency) and phase 2 (speed ramp); every number measured here."""
    try:
        rec, rec_name = recording.load_hapt(data_root, 1), "UCI HAPT experiment 1"  # type: ignore[arg-type]
    except (OSError, TypeError, ValueError):
        rec, rec_name = _fallback_recording()
    out: dict[str, Any] = {"recording": rec_name}
    with PtyLink() as link:
        rx = UdpReceiver()
        cmd, runtime = runtime_command(link.path, rx.port, work, bundle, model)
        out["runtime"] = runtime
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        w = Writer(link, rec)
        try:
            t_start = time.monotonic()  # warm-up: until the first window arrives (runtime started, model loaded)
            while not rx.arrivals and time.monotonic() - t_start < 60 and proc.poll() is None:
                w.stage(stride, speed=20.0, samples_per_frame=5)
                time.sleep(0.05)
            if not rx.arrivals:
                err = proc.stderr.read().decode(errors="replace")[-300:] if proc.poll() is not None and proc.stderr else ""
                return {**out, "error": f"no window arrived within 60 s from {runtime}: {err.strip()}"}
            out["first_window_after_s"] = rx.arrivals[0][0] - t_start
            _wait_windows(rx, w.next_seq - 1, length, 3.0)
            # phase 1: real time
            n0 = len(rx.arrivals)
            st = w.stage(round(realtime_s * rec.rate_hz), speed=1.0, samples_per_frame=5)
            _wait_windows(rx, st["last"], length, 10.0)
            lat = []
            for t, start in rx.arrivals[n0:]:
                tw = w.written_at(start + length - 1)
                if tw is not None and start + length - 1 >= st["first"]:
                    lat.append(int((t - tw) * 1e9))
            out["realtime"] = {**(percentiles(lat) if lat else {"n": 0}), "seconds": realtime_s,
                               "windows_expected": _expected(st["first"], st["last"], length, stride, rx.arrivals[0][1] % stride),
                               "windows_received": len(lat), "achieved_speed": st["achieved_speed"]}  # fmt: skip
            out["ramp"] = _ramp(w, rx, proc.pid, rec.rate_hz, length, stride, stage_s)
            out["runtime_peak_rss_mb"] = _peak_rss_mb(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            if proc.stderr is not None:
                proc.stderr.close()
            rx.close()
        out["runtime_exit_code"] = proc.returncode
        out["bad_datagrams"] = rx.bad
    stages = out["ramp"]["stages"]
    ok = [s for s in stages if s["lost"] == 0 and not s["saturated"]]
    out["max_sustained_speed"] = max((s["achieved_speed"] for s in ok), default=None)
    last = stages[-1] if stages else {}
    out["ramp_stopped_by"] = ("windows lost" if last.get("lost") else "runtime saturated a core" if last.get("saturated")
                              else "pty back-pressure (runtime or writer at its limit)" if last.get("writer_limited")
                              else "end of ramp (unpaced writer)")  # fmt: skip
    return out


def _ramp(w: Writer, rx: UdpReceiver, pid: int, rate_hz: float, length: int, stride: int, stage_s: float) -> dict[str, Any]:
    stages: list[dict[str, Any]] = []
    speeds = list(RAMP)
    while speeds:
        speed = speeds.pop(0)
        target = speed if speed > 0 else 5000.0
        n = max(int(target * rate_hz * stage_s), 20 * stride)
        n0, c0 = len(rx.arrivals), _cpu_s(pid)
        st = w.stage(n, speed=speed, samples_per_frame=32)
        _wait_windows(rx, st["last"], length, 10.0)
        cpu = (_cpu_s(pid) - c0) / max(st["wall_s"], 1e-9)
        got = sum(1 for _, s in rx.arrivals[n0:] if st["first"] <= s + length - 1 <= st["last"])
        exp = _expected(st["first"], st["last"], length, stride, rx.arrivals[0][1] % stride)
        stage = {"target_speed": speed or "max", "achieved_speed": st["achieved_speed"], "samples": n,
                 "windows_expected": exp, "windows_received": got, "lost": max(exp - got, 0),
                 "runtime_cpu_cores": cpu, "saturated": cpu >= 0.9,
                 "writer_limited": speed > 0 and st["achieved_speed"] < 0.9 * speed}  # fmt: skip
        stages.append(stage)
        if stage["lost"] or stage["saturated"]:
            break
        if stage["writer_limited"]:  # the pty/reader pushes back: only the unpaced stage can say more
            speeds = [0.0] if speeds else []
    return {"stages": stages, "samples_per_frame": 32}
