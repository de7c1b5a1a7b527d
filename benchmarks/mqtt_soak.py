"""MQTT soak: SIGKILL a real mosquitto (default settings) N times under a stream of windows and count
what reached a subscriber, with the project's consumer (replays from the gateway's spool) and with
plain QoS 1 (a persistent session and a dedupe, nothing else), fast and slow.

    python -m benchmarks.mqtt_soak --kills 20            # about 4 x 70 s, 50 windows/s
    python -m benchmarks.mqtt_soak --kills 20 --recording # a replayed recording: as fast as the sink takes
    python -m benchmarks.mqtt_soak --kills 5 --only consumer-fast

Each run has its own broker, sink and subscriber (a consumer's replays would also fill a plain
subscriber's gaps). Prints one line per run and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.sinks.base import AnonymizedWindow

RUNS = ("consumer-fast", "consumer-slow", "plain-fast", "plain-slow")


def window(i: int) -> AnonymizedWindow:
    data = np.full((128, 2), 0.25 * (i % 7), np.float32)
    return AnonymizedWindow(i, "imu", 64 * i, None, time.time(), 50.0, ("acc_mag", "gyro_mag"), ("m/s^2", "rad/s"),
                            data, (), "soak")  # fmt: skip


class Broker:
    """mosquitto at its defaults (no persistence, 1000 queued messages per client) on a free port."""

    def __init__(self, folder: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(f"allow_anonymous true\nlistener {self.port} 127.0.0.1\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("mosquitto did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


class ConsumerReader:
    def __init__(self, port: int, topic: str, per_window_s: float) -> None:
        from edge_runtime.consumer import Consumer

        self.consumer = Consumer("127.0.0.1", port, topic, client_id="soak-consumer")
        self.seqs: list[int] = []
        self.per_window_s, self._stop = per_window_s, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for record in self.consumer.poll(0.02):
                self.seqs.append(record["seq"])
                if self.per_window_s:
                    time.sleep(self.per_window_s)

    def result(self, n: int) -> dict[str, Any]:
        got = set(self.seqs)
        s = self.consumer.stats
        return {"received": len(got), "missing": n - len(got & set(range(n))), "duplicates": len(self.seqs) - len(got),
                "in_order": self.seqs == sorted(self.seqs), "lost_counted": s.lost, "replay_requests": s.replay_requests,
                "duplicates_dropped": s.duplicates}  # fmt: skip

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.consumer.close()


class PlainReader:
    """QoS 1, persistent session, dedupe by (epoch, seq): what an ordinary subscriber does."""

    def __init__(self, port: int, topic: str, per_window_s: float) -> None:
        import paho.mqtt.client as mqtt

        self.seqs: set[int] = set()
        self.raw = 0
        self.per_window_s = per_window_s
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="soak-plain", clean_session=False)
        self.c.reconnect_delay_set(min_delay=1, max_delay=2)
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.c.on_message = self._on_message
        self.c.connect_async("127.0.0.1", port)
        self.c.loop_start()

    def _on_message(self, c: Any, u: Any, msg: Any) -> None:
        self.raw += 1
        self.seqs.add(json.loads(msg.payload)["seq"])
        if self.per_window_s:
            time.sleep(self.per_window_s)

    def result(self, n: int) -> dict[str, Any]:
        return {"received": len(self.seqs), "missing": n - len(self.seqs & set(range(n))),
                "duplicates_received": self.raw - len(self.seqs)}  # fmt: skip

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def run(name: str, *, kills: int, interval_s: float, down_s: float, rate: float, slow_s: float, recording: bool,
        sink_rate: float) -> dict[str, Any]:  # fmt: skip
    from edge_runtime.sinks.mqtt import MqttSink

    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(Path(tmp))
        broker.start()
        topic = f"soak/{name}"
        per_window = slow_s if name.endswith("slow") else 0.0
        kind = ConsumerReader if name.startswith("consumer") else PlainReader
        reader: ConsumerReader | PlainReader = kind(broker.port, topic, per_window)
        sink = MqttSink.from_url(f"mqtt://127.0.0.1:{broker.port}/{topic}?reconnect_min=0.2&reconnect_max=1"
                                 f"&rate={sink_rate:g}")  # fmt: skip
        if recording:  # what the pipeline does for --replay FILE: send waits for the broker, as fast as it takes
            sink.apply_backpressure()
        time.sleep(1.0)
        t0, n, done = time.monotonic(), 0, 0
        next_kill = t0 + interval_s
        period = 0.0 if recording else 1.0 / rate
        try:
            while done < kills or time.monotonic() < next_kill:  # a tail of one interval after the last restart
                sink.send(window(n))
                n += 1
                if period:
                    time.sleep(period)
                if done < kills and time.monotonic() >= next_kill:
                    broker.kill()
                    time.sleep(down_s)
                    broker.start()
                    done += 1
                    next_kill = time.monotonic() + interval_s
            if recording:
                sink.flush()  # the pipeline's end of a recording
            stream_s = time.monotonic() - t0
            deadline, last, still_since = time.monotonic() + 90, -1, time.monotonic()
            while time.monotonic() < deadline and reader.result(n)["missing"]:
                got = reader.result(n)["received"]
                if got != last:
                    last, still_since = got, time.monotonic()
                elif time.monotonic() - still_since > 10:  # nothing new for 10 s: it will not come
                    break
                time.sleep(0.2)
            time.sleep(2.0)  # late duplicates
            out = {"run": name, "source": "recording" if recording else f"{rate:g}/s", "kills": done, "sent": n,
                   **reader.result(n), "sink_acked": sink.stats.sent, "sink_dropped": sink.stats.dropped,
                   "republished": sink.republished, "spool_bound": sink.spool.max_records, "sink_rate": sink_rate,
                   "stream_s": round(stream_s, 1), "catch_up_s": round(time.monotonic() - t0 - stream_s - 2.0, 1)}  # fmt: skip
        finally:
            sink.close(timeout=2)
            reader.close()
            broker.kill()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--interval", type=float, default=3.0, help="seconds between kills")
    p.add_argument("--down", type=float, default=0.5, help="seconds the broker stays dead")
    p.add_argument("--rate", type=float, default=50.0, help="windows per second into the sink")
    p.add_argument("--recording", action="store_true",
                   help="a recording replay instead: windows as fast as the sink's backpressure lets them in")  # fmt: skip
    p.add_argument("--sink-rate", type=float, default=200.0, help="the sink's rate= option (its pace) [messages/s]")
    p.add_argument("--slow", type=float, default=0.01, help="a slow subscriber's seconds per window")
    p.add_argument("--only", choices=RUNS, action="append")
    args = p.parse_args(argv)
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        print("mosquitto not installed (apt-get install mosquitto)", file=sys.stderr)
        return 2
    results = []
    for name in args.only or RUNS:
        r = run(name, kills=args.kills, interval_s=args.interval, down_s=args.down, rate=args.rate, slow_s=args.slow,
                recording=args.recording, sink_rate=args.sink_rate)  # fmt: skip
        results.append(r)
        print(" ".join(f"{k}={v}" for k, v in r.items()), flush=True)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
