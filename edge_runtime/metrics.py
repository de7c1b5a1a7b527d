"""Content-free counters and latencies: what a status line and the metrics JSON say.

Only counts, reasons and timings live here; there is no field a sample value could go into.
``Metrics.snapshot()`` is a plain dict; ``write_json`` replaces the file atomically so a reader
(Prometheus textfile collector, a health check) never sees half a file.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Latency", "Metrics", "write_json", "publish"]

log = logging.getLogger("edge_anonymize")


def _quantile(s: np.ndarray, q: float) -> float:
    """``np.percentile``'s linear rule on sorted ``s``; np.percentile itself pulls in numpy.ma (2 MB RSS)."""
    pos = q * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return float(s[lo] + (s[hi] - s[lo]) * (pos - lo))


class Latency:
    """Last ``keep`` durations [s] in a ring; p50/p99 over them in µs."""

    def __init__(self, keep: int = 2048) -> None:
        self._ring = np.zeros(keep, np.float64)
        self._i = 0
        self.count = 0

    def add(self, seconds: float) -> None:
        self._ring[self._i] = seconds
        self._i = (self._i + 1) % len(self._ring)
        self.count += 1

    def summary(self) -> dict[str, float | int | None]:
        n = min(self.count, len(self._ring))
        if n == 0:
            return {"n": 0, "p50_us": None, "p99_us": None}
        p50, p99 = (_quantile(np.sort(self._ring[:n]), q) * 1e6 for q in (0.50, 0.99))
        return {"n": self.count, "p50_us": round(float(p50), 1), "p99_us": round(float(p99), 1)}


class Metrics:
    """Counters of one pipeline run. Stage counters are read through ``sources`` callables.

    Args:
        ungated: the model did not pass its release gate; every status line says so.
        clock: wall-clock time [s] (injectable).
    """

    def __init__(self, *, ungated: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        self.ungated = ungated
        self._clock = clock
        self._lock = threading.Lock()
        self.started = clock()
        self.counters: dict[str, int] = {"chunks": 0, "bytes": 0, "windows": 0, "reconnects": 0, "source_errors": 0,
                                         "queue_overflow": 0}  # fmt: skip
        self.interpreter = Latency()
        self.window = Latency()
        self.state = "starting"
        self.last_error = ""
        self._sections: dict[str, Callable[[], Mapping[str, Any]]] = {}

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + n

    def section(self, name: str, read: Callable[[], Mapping[str, Any]]) -> None:
        """Register a stage's own counters (decoder stats, per-sink stats) to include in snapshots."""
        self._sections[name] = read

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            counters = dict(self.counters)
        snap: dict[str, Any] = {
            "state": self.state,
            "ungated": self.ungated,
            "uptime_s": round(self._clock() - self.started, 3),
            "counters": counters,
            "latency": {"interpreter": self.interpreter.summary(), "window": self.window.summary()},
        }
        for name, read in self._sections.items():
            snap[name] = dict(read())
        if self.last_error:
            snap["last_error"] = self.last_error
        return snap

    def status_line(self) -> str:
        """One line for the journal: counts and timings only."""
        s = self.snapshot()
        c = s["counters"]
        dec = s.get("decoder", {})
        drops = {k: dec.get(k, 0) for k in ("cobs", "crc", "version", "type", "length", "oversize", "no_hello",
                                                "duplicates", "late", "suspect")}  # fmt: skip
        drops["queue"] = c.get("queue_overflow", 0)
        drop_txt = ",".join(f"{k}:{v}" for k, v in drops.items() if v) or "0"
        sinks = " ".join(_sink_text(name, v) for name, v in s.get("sinks", {}).items())
        lat_i, lat_w = s["latency"]["interpreter"], s["latency"]["window"]
        parts = [
            "UNGATED" if s["ungated"] else "",
            f"state={s['state']}",
            f"frames={dec.get('frames', 0)}",
            f"drops={drop_txt}",
            f"gaps={dec.get('gaps', 0)}",
            f"windows={c['windows']}",
            f"reconnects={c['reconnects']}",
            f"sinks(sent/dropped): {sinks or '-'}",
            f"invoke_us p50={_us(lat_i['p50_us'])} p99={_us(lat_i['p99_us'])}",
            f"window_us p50={_us(lat_w['p50_us'])} p99={_us(lat_w['p99_us'])}",
        ]
        return " ".join(p for p in parts if p)


def _us(value: float | None) -> str:
    """A latency for the status line: ``-`` before the first window instead of ``None``."""
    return "-" if value is None else str(value)


def _sink_text(name: str, v: Mapping[str, Any]) -> str:
    """``name=sent/dropped``, then the sink's other counters in brackets: ``errors`` when not 0 and
    any extra count a sink reports (``clients=0`` says a unix socket had no reader)."""
    extra = [f"{k}={n}" for k, n in v.items() if k not in ("sent", "dropped", "last_error")
             and isinstance(n, int) and not isinstance(n, bool) and (n or k == "clients")]  # fmt: skip
    return f"{name}={v.get('sent', 0)}/{v.get('dropped', 0)}" + (f"[{','.join(extra)}]" if extra else "")


def write_json(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    """Write ``data`` as JSON via a temp file in the same folder and ``os.replace``."""
    out = Path(path)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def publish(line: str, *, unverified: bool, notifier: Any, metrics_file: str, snapshot: Callable[[], Mapping[str, Any]]) -> None:
    """One status line to the log and to systemd, and the metrics file (atomically) if configured.

    A bundle whose signature was not verified (``--allow-unsigned``) is named in every line."""
    if unverified:
        line = f"UNSIGNED {line}"
    log.info("%s", line)
    notifier.notify(f"STATUS={line[:200]}")
    if metrics_file:
        try:
            write_json(metrics_file, snapshot())
        except OSError as exc:
            log.warning("cannot write metrics file: %s", exc.strerror)
