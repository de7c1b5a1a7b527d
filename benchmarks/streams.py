"""Many 50 Hz streams into one gateway on one core: windows lost, window latency, CPU per wall second.

    python -m benchmarks.streams --streams 1000 --seconds 600 [--out DIR] [--smoke]

A load-generator *process* (``--loadgen``) opens N real TCP connections to the gateway's
``tcp-listen://`` listener and plays N devices: a HELLO each, then one SAMPLES frame (5 samples,
the firmware's framing) per stream every 100 ms, each frame encoded by
``firmware_bridge.protocol.encode_frame`` one period before it is due. Device start times are
spread over one window stride (1.28 s), as real ones are, so windows do not all complete in the
same 100 ms. A frame's device time is its scheduled send time: a window's latency (``latency_ms``)
= the time its record reached the sink minus the scheduled send time of the frame that completed
it (gateway + kernel, no framing wait, but any lateness of the load generator);
``latency_from_send_ms`` takes the time that frame really went out instead. The gateway runs in
this process, pinned to one core, with one interpreter thread, and hands every record to an
in-process probe sink. Expected windows per stream follow from the samples it was sent;
``loadavg_*`` show how busy the machine was (the cores are not reserved for the benchmark).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main", "loadgen", "run"]

ROOT = Path(__file__).resolve().parent.parent
PERIOD_US, PER_FRAME, DEV0 = 100_000, 5, 0xBE_0000_0000
SPREAD_US = 64 * 20_000  # device start times spread over one window stride, as real devices start at random
SECRET = b"bench-streams"


def _pin(cores: set[int]) -> None:
    """Pin every thread of this process (numpy's and the interpreter's included) to ``cores``."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cores)
        except OSError:
            pass


# -- load generator (its own process) -----------------------------------------------------------


def loadgen(port: int, n: int, seconds: float, t_start: float, out: Path) -> None:
    from firmware_bridge.protocol import Hello, Samples, encode_frame
    from firmware_bridge.recording import ACC_SCALE_16G, GYRO_SCALE_2000DPS, synthetic

    rec = synthetic(60.0, seed=5)
    blob = rec.counts.tobytes()
    size = PER_FRAME * 12
    payloads = [blob[k : k + size] for k in range(0, len(blob) - size + 1, size)]
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(encode_frame(Hello(0, 0, 50.0, ACC_SCALE_16G, GYRO_SCALE_2000DPS, DEV0 + i, 6)))
        s.setblocking(False)
        socks.append(s)
    offs = [round(i * SPREAD_US / n) for i in range(n)]  # starts spread over one window stride
    rounds = int(seconds * 1e6 // PERIOD_US)
    order = sorted(range(n), key=lambda i: offs[i] % PERIOD_US)  # send order within each period

    def frame(i: int, k: int) -> bytes:
        return encode_frame(Samples(k * PER_FRAME, offs[i] + k * PERIOD_US, payloads[(k + 7 * i) % len(payloads)]))

    nxt = [frame(i, 0) for i in range(n)]
    backlog = [b""] * n
    windows = max((rounds * PER_FRAME - 128) // 64 + 1, 0)
    done_by = {(127 + 64 * j) // PER_FRAME: j for j in range(windows)}  # frame -> the window it completes
    sent_at = np.zeros((n, max(windows, 1)))  # when that frame really went out
    lags: list[float] = []
    blocked = 0
    for r in range(rounds + SPREAD_US // PERIOD_US + 1):
        for i in order:
            k = r - offs[i] // PERIOD_US
            if not 0 <= k < rounds:
                continue
            due = t_start + (offs[i] + k * PERIOD_US) / 1e6
            now = time.time()
            if due > now + 0.0002:
                time.sleep(due - now)
            else:
                lags.append(now - due)
            data = backlog[i] + nxt[i]
            try:
                sent = socks[i].send(data)
            except BlockingIOError:
                sent = 0
            if sent < len(data):
                blocked += 1
            j = done_by.get(k)
            if j is not None:
                sent_at[i, j] = time.time()
            backlog[i] = data[sent:]
            nxt[i] = frame(i, k + 1)
    for i, s in enumerate(socks):
        s.setblocking(True)
        if backlog[i]:
            s.sendall(backlog[i])
        s.close()
    lag = np.sort(np.array(lags or [0.0]))
    late = len(lags)
    np.save(out.with_suffix(".npy"), sent_at)
    out.write_text(json.dumps({"streams": n, "rounds": rounds, "samples_per_stream": rounds * PER_FRAME,
                               "sends_late": late, "lag_p99_ms": float(lag[int(0.99 * (len(lag) - 1))] * 1e3),
                               "lag_max_ms": float(lag[-1] * 1e3), "sends_blocked": blocked}))  # fmt: skip


# -- gateway side ------------------------------------------------------------------------------


def run(n: int, seconds: float, *, bundle: Path | None = None, core: int = 0) -> dict[str, Any]:
    """One run: the gateway here, the devices in a child process; returns the result dict."""
    _pin({core})
    from edge_runtime.bundleset import ModelSet
    from edge_runtime.config import from_dict
    from edge_runtime.gateway import Gateway
    from edge_runtime.gateway_streams import listener_stream_name
    from edge_runtime.interpreter import Anonymizer
    from edge_runtime.manifest import load
    from edge_runtime.sinks.base import AnonymizedWindow, Sink

    class Probe(Sink):
        """Notes (stream, window id, start, device time, arrival) of every record; keeps no data."""

        url = "probe://"

        def __init__(self) -> None:
            super().__init__()
            self.rows: list[tuple[str, int, int, int, float]] = []

        def _send(self, w: AnonymizedWindow) -> None:
            self.rows.append((w.stream, w.window_id, w.start_sample, w.t_device_us or 0, time.time()))
            self.stats.sent += 1

    manifest = load(bundle or ROOT / "edge_runtime" / "bundled" / "hapt-magnitude")
    models = ModelSet.single(manifest, Anonymizer(manifest, num_threads=1))
    cfg = from_dict({"runtime": {"status_interval_s": 0, "drain_timeout_s": 10, "watchdog": False},
                     "gateway": {"max_streams": n + 8, "stall_timeout_s": 60.0, "hello_timeout_s": 60.0},
                     "streams": [{"name": "bench", "url": f"tcp-listen://127.0.0.1:0?max={n + 8}&backlog=4096"}]})  # fmt: skip
    probe = Probe()
    gw = Gateway(cfg, models, [probe], secret=SECRET)
    box: dict[str, Any] = {}
    threading.Thread(target=_drive, args=(gw, n, seconds, core, box), daemon=True).start()
    _pin({core})
    if os.environ.get("BENCH_STREAMS_PROFILE"):  # where the gateway's core goes (cProfile stats file)
        import cProfile

        cProfile.runctx("gw.run()", globals(), {"gw": gw}, os.environ["BENCH_STREAMS_PROFILE"])
    else:
        gw.run()
    res = box["loadgen"]
    streams = gw.metrics.snapshot()["streams"]
    names = {listener_stream_name("bench", SECRET, DEV0 + i): i for i in range(n)}
    per_expected = max((res["samples_per_stream"] - 128) // 64 + 1, 0)
    got: dict[str, int] = {}
    lat: list[float] = []
    lat_sent: list[float] = []  # from the real send of the completing frame: the gateway's own share
    sent_at = box["sent_at"]
    ids_dense = True
    last_id: dict[str, int] = {}
    for stream, wid, start, t_dev, t_recv in probe.rows:
        got[stream] = got.get(stream, 0) + 1
        ids_dense &= wid == last_id.get(stream, -1) + 1
        last_id[stream] = wid
        off = t_dev - (start // PER_FRAME) * PERIOD_US - (start % PER_FRAME) * 20_000
        sched = box["t_start"] + (off + ((start + 127) // PER_FRAME) * PERIOD_US) / 1e6
        lat.append(t_recv - sched)
        i = names.get(stream)
        if i is not None and start // 64 < sent_at.shape[1] and sent_at[i, start // 64] > 0:
            lat_sent.append(t_recv - sent_at[i, start // 64])
    if os.environ.get("BENCH_STREAMS_DUMP"):
        np.save(
            os.environ["BENCH_STREAMS_DUMP"],
            np.array([(r[4] - box["t_start"], x) for r, x in zip(probe.rows, lat, strict=True)]),
        )
    la = np.sort(np.array(lat or [0.0])) * 1e3
    ls = np.sort(np.array(lat_sent or [0.0])) * 1e3
    lost = sum(max(per_expected - got.get(name, 0), 0) for name in names)
    snap = gw.metrics.snapshot()
    return {
        "streams": n, "seconds": seconds, "windows": len(probe.rows), "windows_expected": per_expected * n,
        "windows_lost": lost, "streams_with_windows": len(got), "window_ids_dense": bool(ids_dense),
        "latency_ms": {"p50": round(float(np.percentile(la, 50)), 3), "p99": round(float(np.percentile(la, 99)), 3),
                       "max": round(float(la[-1]), 3)},
        "latency_from_send_ms": {"p50": round(float(np.percentile(ls, 50)), 3),
                                 "p99": round(float(np.percentile(ls, 99)), 3), "max": round(float(ls[-1]), 3),
                                 "n": len(lat_sent)},
        "gateway_cpu_s_per_s": round(box["cpu_s"] / box["wall_s"], 3), "wall_s": round(box["wall_s"], 2),
        "counters_add_up": sum(s["windows"] for s in streams.values()) == snap["counters"]["windows"] == len(probe.rows)
                           and all(s["frames"] == res["rounds"] + 1 for s in streams.values()),
        "batch_sizes": snap["gateway"]["batch_sizes"], "gateway": {k: v for k, v in snap["gateway"].items()
                                                                    if k != "batch_sizes"},
        "loadgen": res, "core": core, "loadavg_start": box["loadavg_start"], "loadavg_end": os.getloadavg(),
    }  # fmt: skip


def _drive(gw: Any, n: int, seconds: float, core: int, box: dict[str, Any]) -> None:
    """Start the devices once the listener is up, measure CPU over the run, stop the gateway at the end."""
    gw.ready.wait(30)
    port = gw.listeners[0][1].port
    t_start = time.time() + 2.0 + n / 400
    box["t_start"], box["loadavg_start"] = t_start, os.getloadavg()  # other work on the machine shows here
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-streams-{os.getpid()}.json"
    others = sorted(set(range(os.cpu_count() or 1)) - {core}) or [core]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.streams", "--loadgen", "--port", str(port),
                             "--streams", str(n), "--seconds", str(seconds), "--t-start", repr(t_start),
                             "--result", str(out), "--cores", ",".join(map(str, others))], cwd=ROOT, env=env)  # fmt: skip
    while time.time() < t_start:
        time.sleep(0.01)
    cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    proc.wait()
    cpu1, wall1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    box["cpu_s"] = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    box["wall_s"] = wall1 - wall0
    end = time.monotonic() + 10
    while time.monotonic() < end and gw.counts["unplugged"] < n:
        time.sleep(0.05)
    box["loadgen"] = json.loads(out.read_text()) if out.exists() else {"samples_per_stream": 0, "rounds": 0}
    npy = out.with_suffix(".npy")
    box["sent_at"] = np.load(npy) if npy.exists() else np.zeros((n, 1))
    npy.unlink(missing_ok=True)
    out.unlink(missing_ok=True)
    gw.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.streams", description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=600.0, help="load duration (default 600 s = the 10 min target)")
    p.add_argument("--smoke", action="store_true", help="50 streams for 4 s (bench-smoke)")
    p.add_argument("--out", type=Path, help="folder for streams.json")
    p.add_argument("--bundle", type=Path)
    p.add_argument("--core", type=int, default=0, help="the one core the gateway runs on")
    p.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--t-start", type=float, help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--cores", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.loadgen:
        _pin({int(c) for c in a.cores.split(",")})
        loadgen(a.port, a.streams, a.seconds, a.t_start, a.result)
        return 0
    n, seconds = (50, 4.0) if a.smoke else (a.streams, a.seconds)
    res = run(n, seconds, bundle=a.bundle, core=a.core)
    res["mode"] = "smoke" if a.smoke else "full"
    text = json.dumps(res, indent=1)
    print(text)
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "streams.json").write_text(text + "\n")
    return 0 if res["windows_lost"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
