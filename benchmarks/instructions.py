"""Instructions per window: ``perf stat -e instructions`` where the CPU exposes counters, else callgrind.

Both count a worker (``benchmarks.latency --count``) twice, with ``a`` and ``b`` iterations, and
report ``(I_b - I_a) / (b - a)``: start-up, imports and model loading cancel out. Virtual machines
often hide the PMU (perf then says ``<not supported>``); callgrind simulates the CPU, so its count
is exact but its run is ~50x slower, hence the small iteration counts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["perf_available", "count_per_window"]


def _worker(model: Path, work: Path, layout: str, mode: str, n: int) -> list[str]:
    return [sys.executable, "-m", "benchmarks.latency", "--model", str(model), "--work", str(work),
            "--layout", layout, "--count", mode, "--n", str(n)]  # fmt: skip


def perf_available() -> tuple[bool, str]:
    if shutil.which("perf") is None:
        return False, "perf not installed"
    r = subprocess.run(["perf", "stat", "-x,", "-e", "instructions", "true"], capture_output=True, text=True, timeout=30)
    if r.returncode != 0 or "<not supported>" in r.stderr or "<not counted>" in r.stderr:
        return False, "perf: hardware instruction counter not supported here (virtualized PMU?)"
    return True, "perf stat -e instructions"


def _perf(cmd: list[str]) -> int:
    r = subprocess.run(["perf", "stat", "-x,", "-e", "instructions", *cmd], capture_output=True, text=True, timeout=300)
    for line in r.stderr.splitlines():
        parts = line.split(",")
        if len(parts) > 2 and parts[2].startswith("instructions") and parts[0].isdigit():
            return int(parts[0])
    raise RuntimeError("perf printed no instruction count")


def _callgrind(cmd: list[str]) -> int:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "cg.out"
        r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd],
                           capture_output=True, text=True, timeout=600)  # fmt: skip
        m = re.search(r"Collected\s*:\s*(\d+)", r.stderr) or re.search(r"I\s+refs:\s*([\d,]+)", r.stderr)
        if r.returncode != 0 or not m:
            raise RuntimeError(f"callgrind failed (exit {r.returncode}): {r.stderr.strip()[-200:]}")
        return int(m.group(1).replace(",", ""))


def count_per_window(model: Path, work: Path, layout: str, mode: str, *, a: int = 5, b: int = 105) -> dict[str, Any]:
    """Instructions per bare invoke (``mode="invoke"``) or per pipeline window (``"pipeline"``)."""
    ok, how = perf_available()
    if ok:
        counter = _perf
    elif shutil.which("valgrind"):
        counter, how = _callgrind, f"valgrind --tool=callgrind (perf unusable: {how})"
    else:
        return {"value": None, "how": "n/a", "reason": f"{how}; valgrind not installed"}
    try:
        ia, ib = counter(_worker(model, work, layout, mode, a)), counter(_worker(model, work, layout, mode, b))
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
        return {"value": None, "how": how, "reason": str(exc)[:300]}
    return {"value": (ib - ia) / (b - a), "how": how, "iterations": [a, b]}
