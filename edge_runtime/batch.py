"""``edge-anonymize batch IN... --out DIR``: recordings on disk -> released windows, no live device.

    edge-anonymize batch captures/ --out released/                      # every recording below captures/
    edge-anonymize batch walk.csv --rate 50 --acc-unit g --gyro-unit deg/s --out released/ --format parquet
    edge-anonymize batch uci-hapt/ SisFall_dataset.zip --out released/ --format parquet --jobs 2
    edge-anonymize batch study/ --out /shared/released/ --scheduler tcp://scheduler:8786   # a Dask cluster

Inputs (found by name, folders walked; docs/batch.md): ``.imu`` wire captures (the gateway's decoder
and windower: gaps, HELLO units and clock jumps handled exactly as live), ``.csv`` with a header
naming ``acc_x … gyro_z`` (or ``ax … gz``) at ``--rate`` Hz in ``--acc-unit``/``--gyro-unit``, the UCI
HAPT ``RawData/`` layout (one recording per experiment) and SisFall trials (the zip as downloaded, or
extracted; 200 Hz resampled to the model's rate). Each recording gives one output,
``<out>/<its path below its argument>.<jsonl|parquet>``, written to a temporary name and renamed, so an
output is whole or absent; an existing output is skipped (``--force`` redoes it), which makes an
interrupted job resumable. Records are the live ones (docs/window-record.md), ``stream`` being the
recording's relative path. Windows go through the model ``--batch`` at a time; ``--jobs N`` runs N
local processes, ``--scheduler`` a Dask cluster's workers; each worker verifies the bundle.

Exit codes: 0 all inputs done; 1 some inputs failed (one line each; the others are written);
2 usage (or the scheduler unreachable); 3 bundle refused.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TextIO

from .batch_dist import Options, Result, output_path, preload, run_tasks
from .batch_inputs import ACC_UNITS, GYRO_UNITS, Task, csv_windows, find_tasks, imu_windows
from .batch_output import anonymize_file
from .errors import ConfigError, EdgeError

__all__ = ["main", "imu_windows", "csv_windows", "anonymize_file"]


class Progress:
    """Files done / total, windows and windows/s: a bar redrawn in place on a terminal, else one
    plain line per file. Errors are always a line of their own."""

    def __init__(self, total: int, stream: TextIO, *, tty: bool | None = None) -> None:
        self.total, self.stream = total, stream
        self.tty = stream.isatty() if tty is None else tty
        self.files = self.windows = self.failed = 0
        self.t0 = self._last = time.perf_counter()

    def line(self, text: str) -> None:
        self.stream.write(("\r\x1b[K" if self.tty else "") + text + "\n")
        self._draw(force=True)

    def done(self, r: Result) -> None:
        self.files += 1
        if r.error is not None:
            self.failed += 1
            self.line(f"batch: {r.rel}: error: {r.error}")
            return
        self.windows += r.windows
        if self.tty:
            self._draw()
        else:
            rate = r.windows / max(r.seconds, 1e-9)
            self.line(f"batch: {r.rel}: {r.windows} windows in {r.seconds:.2f} s ({rate:,.0f} windows/s) -> {r.dest}")

    def _draw(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not self.tty or (not force and now - self._last < 0.1 and self.files < self.total):
            return
        self._last = now
        width = 24
        fill = width * self.files // max(self.total, 1)
        rate = self.windows / max(now - self.t0, 1e-9)
        self.stream.write(f"\r\x1b[Kbatch [{'#' * fill}{'.' * (width - fill)}] {self.files}/{self.total} files, "
                          f"{self.windows:,} windows, {rate:,.0f} windows/s" + (f", {self.failed} failed" if self.failed else ""))  # fmt: skip
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self._draw(force=True)
            self.stream.write("\n")
        self.stream.flush()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge-anonymize batch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("inputs", nargs="+", metavar="IN", help="recordings (.imu, .csv, HAPT, SisFall), or folders of them")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (mirrors the inputs' names)")
    p.add_argument("--format", choices=("jsonl", "parquet"), default="jsonl")
    p.add_argument("--bundle", metavar="DIR", help="model bundle (default: the bundled one)")
    p.add_argument("--trusted-key", action="append", metavar="FILE", help="also trust this .pub")
    p.add_argument("--stride", type=int, default=0, help="samples between windows (default: the manifest's)")
    p.add_argument("--batch", type=int, default=256, help="windows per interpreter call")
    p.add_argument("--rate", type=float, default=50.0, help="CSV sample rate [Hz]")
    p.add_argument("--acc-unit", choices=tuple(ACC_UNITS), default="m/s^2", help="CSV acceleration unit")
    p.add_argument("--gyro-unit", choices=tuple(GYRO_UNITS), default="rad/s", help="CSV angular-rate unit")
    p.add_argument("--force", action="store_true", help="redo inputs whose output exists")
    p.add_argument("--t-gateway", type=float, metavar="S", help="t_gateway of every record [s since epoch] "
                   "(default: when its file is started); fixed, the same inputs give the same bytes")  # fmt: skip
    run = p.add_mutually_exclusive_group()
    run.add_argument("--jobs", type=int, default=1, metavar="N", help="local worker processes (default 1: this one)")
    run.add_argument("--scheduler", metavar="ADDR", help="run on a Dask cluster, e.g. tcp://host:8786")
    return p


def _error(msg: str, code: int) -> int:
    print(f"edge-anonymize batch: error: {msg}", file=sys.stderr)
    return code


def main(argv: list[str]) -> int:
    from .cli import DEFAULT_BUNDLE
    from .interpreter import Anonymizer
    from .manifest import load
    from .native_log import native_info_filtered
    from .signing import trusted_keys

    a = build_parser().parse_args(argv)
    if a.batch < 1 or a.stride < 0 or a.jobs < 1:
        return _error("--batch and --jobs must be >= 1 and --stride >= 0", 2)
    bundle = Path(a.bundle) if a.bundle else DEFAULT_BUNDLE
    opts = Options(str(bundle.resolve()), tuple(str(Path(k).resolve()) for k in a.trusted_key or []), str(Path(a.out).resolve()),
                   a.format, a.stride, a.batch, a.rate, a.acc_unit, a.gyro_unit, a.t_gateway)  # fmt: skip
    try:  # verified here first, so that a refused bundle stops the job before any task (each worker checks again)
        manifest = load(bundle, keys=trusted_keys(a.trusted_key or []))
        with native_info_filtered(True):
            anonymizer = Anonymizer(manifest)
    except EdgeError as exc:
        return _error(str(exc), 3)
    preload(opts, manifest, anonymizer)
    tasks: list[Task] = []
    failed = skipped = 0
    for t in find_tasks(a.inputs):
        if not isinstance(t, Task):
            failed += 1
            print(f"batch: {t[0]}: error: {t[1]}", file=sys.stderr)
        elif output_path(t, opts).exists() and not a.force:
            skipped += 1
            print(f"batch: {t.rel}: {output_path(t, opts)} exists, skipped (--force redoes it)", file=sys.stderr)
        else:
            tasks.append(t)
    progress, t0 = Progress(len(tasks), sys.stderr), time.perf_counter()
    try:
        for r in run_tasks(tasks, opts, jobs=a.jobs, scheduler=a.scheduler):
            progress.done(r)
    except ConfigError as exc:
        progress.close()
        return _error(str(exc), 2)
    progress.close()
    failed += progress.failed
    print(json.dumps({"done": progress.files - progress.failed, "failed": failed, "skipped": skipped,
                      "windows": progress.windows, "seconds": round(time.perf_counter() - t0, 3),
                      "model_version": manifest.model_version}), file=sys.stderr)  # fmt: skip
    return 1 if failed else 0
