"""``edge-anonymize batch IN... --out DIR``: recordings on disk -> released windows, no live device.

    edge-anonymize batch captures/ --out released/                      # every .imu and .csv below captures/
    edge-anonymize batch walk.csv --rate 50 --acc-unit g --gyro-unit deg/s --out released/ --format parquet

Inputs: ``.imu`` captures (the wire format a gateway records or ``imu-emulator --out`` writes; gaps,
HELLO units and clock jumps handled exactly as live, through the same decoder and windower) and
``.csv`` files with a header naming ``acc_x acc_y acc_z gyro_x gyro_y gyro_z`` (or ``ax … gz``), one
row per sample at ``--rate`` Hz, in ``--acc-unit`` / ``--gyro-unit``. Each input gives one output
file, ``<out>/<input path below its argument>.<jsonl|parquet>``, written to a temporary name and
renamed, so an output is whole or absent; an existing output is skipped (``--force`` redoes it),
which makes an interrupted job resumable. Records are the live ones (docs/window-record.md),
``stream`` being the input's relative path. Windows go through the model in batches (``--batch``).

Exit codes: 0 all inputs done; 1 some inputs failed (one line each; the others are written);
2 usage; 3 bundle refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .config import StreamConfig
from .contract import CANONICAL_CHANNELS, G, sliding_windows, to_view
from .decoder import StreamDecoder, check_stream
from .errors import ConfigError, EdgeError, SourceError
from .manifest import Manifest
from .sinks.base import AnonymizedWindow
from .windower import Windower, stream_windows

__all__ = ["main", "imu_windows", "csv_windows", "anonymize_file"]

ALIASES = {"ax": "acc_x", "ay": "acc_y", "az": "acc_z", "gx": "gyro_x", "gy": "gyro_y", "gz": "gyro_z"}
ACC_UNITS = {"m/s^2": 1.0, "g": G}
GYRO_UNITS = {"rad/s": 1.0, "deg/s": np.pi / 180}
Chunk = tuple[np.ndarray, np.ndarray, list[int | None], list[tuple[str, ...]]]  # windows, starts, t_us, flags


def imu_windows(data: bytes, manifest: Manifest, stride: int, *, chunk: int = 1024) -> Iterator[Chunk]:
    """A wire capture -> chunks of (windows, start samples, device times, flags), as the live gateway cuts them."""
    spec, stream = manifest.window, StreamConfig()
    decoder = StreamDecoder(stream)
    windower = Windower(spec.length, stride, len(spec.channels), period_us=1e6 / spec.rate_hz)
    buf: list[Any] = []
    for i in range(0, len(data), 65536):
        for w in stream_windows(decoder.feed(data[i : i + 65536]), windower, spec.view,
                                lambda info: check_stream(info, manifest, stream)):  # fmt: skip
            buf.append((w.data.copy(), w.start, w.t_us, w.flag_names))
            if len(buf) >= chunk:
                yield _stack(buf)
                buf = []
    if buf:
        yield _stack(buf)


def _stack(buf: list[Any]) -> Chunk:
    return np.stack([b[0] for b in buf]), np.array([b[1] for b in buf], np.int64), [b[2] for b in buf], [b[3] for b in buf]


def csv_windows(path: Path, manifest: Manifest, stride: int, rate: float, acc_unit: str, gyro_unit: str) -> Iterator[Chunk]:
    """A CSV of canonical samples -> the same chunks (one contiguous run: every row is the next sample)."""
    spec = manifest.window
    if abs(rate - spec.rate_hz) > 1e-6 * spec.rate_hz:
        raise SourceError(f"--rate {rate:g} Hz, the model needs {spec.rate_hz:g} Hz (resample it first)")
    with path.open(encoding="utf-8", errors="replace") as f:
        header = [ALIASES.get(h.strip().lower(), h.strip().lower()) for h in f.readline().split(",")]
        missing = [c for c in CANONICAL_CHANNELS if c not in header]
        if missing:
            raise SourceError(f"header lacks column(s) {', '.join(missing)} (have {', '.join(header)})")
        try:
            rows = np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)
        except ValueError as exc:
            raise SourceError(f"not a numeric CSV ({str(exc).splitlines()[0][:80]})") from None
    if rows.size == 0 or rows.shape[1] != len(header) or not np.isfinite(rows).all():
        raise SourceError(f"rows must have {len(header)} finite numbers each")
    canon = rows[:, [header.index(c) for c in CANONICAL_CHANNELS]]
    canon[:, :3] *= ACC_UNITS[acc_unit]
    canon[:, 3:] *= GYRO_UNITS[gyro_unit]
    windows = sliding_windows(to_view(canon, spec.view), spec.with_stride(stride))
    starts = np.arange(len(windows), dtype=np.int64) * stride
    for i in range(0, len(windows), 4096):
        n = len(windows[i : i + 4096])
        yield windows[i : i + 4096], starts[i : i + n], [None] * n, [()] * n


def _records(chunks: Iterator[Chunk], anonymizer: Any, manifest: Manifest, stream: str, batch: int) -> Iterator[AnonymizedWindow]:
    spec, wid, now = manifest.window, 0, time.time()
    for x, starts, t_us, flags in chunks:
        for i in range(0, len(x), batch):
            out = anonymizer.run_batch(x[i : i + batch])
            for j, data in enumerate(out):
                k = i + j
                yield AnonymizedWindow(wid, stream, int(starts[k]), t_us[k], now, spec.rate_hz, spec.channels, spec.units,
                                       data, flags[k], manifest.model_version)  # fmt: skip
                wid += 1


def _write(records: Iterator[AnonymizedWindow], dest: Path, fmt: str) -> int:
    """Write to a temporary file beside ``dest`` and rename: the output is whole or absent."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    n = 0
    try:
        with os.fdopen(fd, "wb") as f:
            if fmt == "jsonl":
                for r in records:
                    f.write(r.to_json() + b"\n")
                    n += 1
            else:
                n = _parquet(records, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n


def _parquet(records: Iterator[AnonymizedWindow], f: Any) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError("--format parquet needs pyarrow: pip install 'edge-anonymize[batch]'") from None
    rows = [r.to_dict() for r in records]
    cols = {k: [r[k] for r in rows] for k in (rows[0] if rows else {"window_id": 0})}
    if rows:
        cols["data"] = [np.asarray(r["data"], np.float32).ravel().tolist() for r in rows]  # row-major (length, C)
    pq.write_table(pa.table(cols), f)
    return len(rows)


def anonymize_file(path: Path, stream: str, dest: Path, anonymizer: Any, manifest: Manifest, a: Any) -> int:
    """One input -> one output; returns the windows written. Raises EdgeError/OSError with one-line messages."""
    stride = a.stride or manifest.window.stride
    if path.suffix == ".imu":
        chunks = imu_windows(path.read_bytes(), manifest, stride)
    else:
        chunks = csv_windows(path, manifest, stride, a.rate, a.acc_unit, a.gyro_unit)
    return _write(_records(chunks, anonymizer, manifest, stream, a.batch), dest, a.format)


def _inputs(args: list[str]) -> Iterator[tuple[Path, str]]:
    for arg in args:
        p = Path(arg)
        if p.is_dir():
            for f in sorted(q for q in p.rglob("*") if q.suffix in (".imu", ".csv") and q.is_file()):
                yield f, f.relative_to(p).as_posix()
        else:
            yield p, p.name


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge-anonymize batch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("inputs", nargs="+", metavar="IN", help=".imu or .csv files, or folders of them")
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
    return p


def main(argv: list[str]) -> int:
    from .cli import DEFAULT_BUNDLE
    from .interpreter import Anonymizer
    from .manifest import load
    from .native_log import native_info_filtered
    from .signing import trusted_keys

    a = build_parser().parse_args(argv)
    if a.batch < 1 or a.stride < 0:
        print("edge-anonymize batch: error: --batch must be >= 1 and --stride >= 0", file=sys.stderr)
        return 2
    try:
        manifest = load(Path(a.bundle) if a.bundle else DEFAULT_BUNDLE, keys=trusted_keys(a.trusted_key or []))
        with native_info_filtered(True):
            anonymizer = Anonymizer(manifest)
    except EdgeError as exc:
        print(f"edge-anonymize batch: error: {exc}", file=sys.stderr)
        return 3
    failed = done = 0
    for path, rel in _inputs(a.inputs):
        dest = Path(a.out) / f"{rel}.{a.format}"
        if dest.exists() and not a.force:
            print(f"batch: {rel}: {dest} exists, skipped (--force redoes it)", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        try:
            n = anonymize_file(path, rel, dest, anonymizer, manifest, a)
        except (EdgeError, OSError) as exc:
            failed += 1
            msg = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            print(f"batch: {rel}: error: {msg}", file=sys.stderr)
            continue
        done += 1
        dt = time.perf_counter() - t0
        print(f"batch: {rel}: {n} windows in {dt:.2f} s ({n / max(dt, 1e-9):,.0f} windows/s) -> {dest}", file=sys.stderr)
    print(json.dumps({"done": done, "failed": failed, "model_version": manifest.model_version}), file=sys.stderr)
    return 1 if failed else 0
