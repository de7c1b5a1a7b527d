"""Sustained windows per second of the per-window pipeline, and what that means in 50 Hz streams.

A stream sampled at ``rate_hz`` with window stride ``stride`` produces ``rate_hz / stride`` windows
per second, so one core that does ``R`` windows per CPU-second serves ``R * stride / rate_hz``
concurrent streams. The rate is taken per CPU-second of this process (``time.process_time``) so
that a machine shared with other jobs does not count their time against us; the wall-clock rate is
reported next to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["measure", "streams_per_core"]


def streams_per_core(windows_per_cpu_s: float, stride: int, rate_hz: float) -> float:
    return windows_per_cpu_s * stride / rate_hz


def measure(fn: Callable[[np.ndarray], Any], windows: np.ndarray, *, seconds: float, stride: int,
            rate_hz: float, min_windows: int = 50) -> dict[str, Any]:  # fmt: skip
    """Run ``fn`` back to back over ``windows`` (cycling) for about ``seconds`` of wall time.

    Args:
        fn: the per-window callable (raw view window -> released window).
        windows: ``(N, W, C)`` real windows, used in order.
        seconds: wall-clock budget [s]; at least ``min_windows`` windows are always done.
        stride, rate_hz: the stream's window stride [samples] and sample rate [Hz].
    """
    n, done = len(windows), 0
    fn(windows[0])  # warm
    w0, c0 = time.perf_counter(), time.process_time()
    deadline = w0 + seconds
    while done < min_windows or time.perf_counter() < deadline:
        for _ in range(16):  # check the clock every 16 windows
            fn(windows[done % n])
            done += 1
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    per_cpu_s = done / cpu if cpu > 0 else float("nan")
    return {
        "windows": done,
        "wall_s": wall,
        "cpu_s": cpu,
        "windows_per_s_wall": done / wall,
        "windows_per_cpu_s": per_cpu_s,
        "cpu_us_per_window": 1e6 * cpu / done,
        "streams_per_core_50hz": streams_per_core(per_cpu_s, stride, rate_hz),
        "stride": stride,
        "rate_hz": rate_hz,
    }
