"""Energy per window: measured with Linux RAPL where readable, else estimated from CPU time.

Measured: ``/sys/class/powercap/intel-rapl:*/energy_uj`` (package domains) read around a timed
loop of the per-window pipeline; the whole package is counted, so other load on the machine inflates it.

Estimated: ``E = cpu_seconds_per_window x P_core``, with ``P_core`` the *extra* power one busy core
draws on a board, (P_all_cores_busy - P_idle) / cores, from published wall-socket measurements
(``BOARDS``). The CPU time per window is this machine's; an ARM core is slower per window, so
the estimate is a lower bound for that board unless ``cpu_scale`` (board time / host time) is given.
"""

from __future__ import annotations

import glob
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Board", "BOARDS", "rapl_domains", "measure_rapl", "estimate"]


@dataclass(frozen=True)
class Board:
    name: str
    idle_w: float
    load_w: float | None  # all cores busy; None = no cited figure
    cores: int
    source: str

    @property
    def per_core_w(self) -> float | None:
        return None if self.load_w is None else (self.load_w - self.idle_w) / self.cores


BOARDS = (
    Board("Raspberry Pi 4 Model B", 2.7, 6.4, 4,
          "Pi Dramble power benchmarks (Jeff Geerling): idle 540 mA = 2.7 W, `stress --cpu 4` 1280 mA = 6.4 W at 5 V; "
          "https://www.pidramble.com/wiki/benchmarks/power-consumption"),
    Board("Raspberry Pi Zero 2 W", 0.6, None, 4,
          "idle 120 mA = 0.6 W at 5 V (cnx-software, Otii Arc, 2021-12-09: "
          "https://www.cnx-software.com/2021/12/09/raspberry-pi-zero-2-w-power-consumption/); no all-core load "
          "figure was verified for this report, so no estimate is given (add one with its source here)"),
)  # fmt: skip


def rapl_domains() -> list[Path]:
    """Readable package-level RAPL energy counters (empty when absent or not permitted)."""
    out = []
    for d in sorted(glob.glob("/sys/class/powercap/intel-rapl:*")):
        p = Path(d) / "energy_uj"
        if d.count(":") == 1 and p.is_file():
            try:
                int(p.read_text())
                out.append(p)
            except (OSError, ValueError):
                continue
    return out


def measure_rapl(fn: Callable[[np.ndarray], Any], windows: np.ndarray, seconds: float) -> dict[str, Any] | None:
    """µJ per window from RAPL around ``seconds`` of back-to-back windows; None when RAPL is unreadable."""
    domains = rapl_domains()
    if not domains:
        return None
    e0 = [int(p.read_text()) for p in domains]
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn(windows[done % len(windows)])
        done += 1
    e1 = [int(p.read_text()) for p in domains]
    uj = sum((b - a) % (1 << 32) if b < a else b - a for a, b in zip(e0, e1, strict=True))
    return {"method": "measured: Linux powercap RAPL (whole package, includes other load)",
            "uj_per_window": uj / done, "windows": done}  # fmt: skip


def estimate(cpu_us_per_window: float, *, cpu_scale: float = 1.0) -> dict[str, Any]:
    """Board energy per window [µJ] from host CPU time per window (see the module docstring)."""
    boards = [
        {**asdict(b), "per_core_w": b.per_core_w,
         "uj_per_window": None if b.per_core_w is None else cpu_us_per_window * cpu_scale * b.per_core_w}
        for b in BOARDS
    ]
    return {
        "method": "estimated: host CPU time per window x board per-core active power (RAPL not readable here)",
        "cpu_us_per_window": cpu_us_per_window,
        "cpu_scale": cpu_scale,
        "boards": boards,
    }
