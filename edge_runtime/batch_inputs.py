"""What ``edge-anonymize batch`` reads: the recordings below its arguments (one ``Task`` each) and,
per format, their windows as the model takes them (``contract.to_view`` + ``sliding_windows``).

| format    | found as                                   | units, rate                                    |
|-----------|--------------------------------------------|------------------------------------------------|
| ``imu``     | ``*.imu`` wire capture                         | HELLO's; the live decoder + windower (gaps, clock jumps) |
| ``csv``     | ``*.csv`` with a header naming ``acc_x … gyro_z`` (or ``ax … gz``) | ``--acc-unit``/``--gyro-unit``, ``--rate`` |
| ``hapt``    | UCI HAPT ``acc_expEE_userUU.txt`` + ``gyro_…`` beside it | g, rad/s, 50 Hz; stream ``<folder>/expEE_userUU`` |
| ``sisfall`` | SisFall ``SAxx/Dxx_SAxx_Rxx.txt`` (in ``*.zip`` as downloaded, or extracted) | raw counts at 200 Hz |

SisFall counts become m/s² and rad/s and 200 Hz becomes the model's rate exactly as the trainer does
it (``trainer.data.sisfall.parse_counts``/``to_canonical`` and ``trainer.data.resample.decimate``,
imported: those modules pull numpy only, never TensorFlow). Numeric text (CSV, HAPT) is parsed by
``batch_text`` (pyarrow block by block when installed, else numpy).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .batch_text import column_blocks
from .batch_text import columns as _columns
from .config import StreamConfig
from .contract import CANONICAL_CHANNELS, G, WindowSpec, sliding_windows, to_view, window_starts
from .decoder import StreamDecoder, check_stream
from .decoder_bulk import decode_recording
from .errors import SourceError
from .manifest import Manifest
from .windower import Windower, stream_windows

__all__ = ["Task", "Chunk", "find_tasks", "task_windows", "imu_windows", "csv_windows", "hapt_windows",
           "sisfall_windows", "ACC_UNITS", "GYRO_UNITS", "FORMATS"]  # fmt: skip

FORMATS = ("imu", "csv", "hapt", "sisfall")
ALIASES = {"ax": "acc_x", "ay": "acc_y", "az": "acc_z", "gx": "gyro_x", "gy": "gyro_y", "gz": "gyro_z"}
ACC_UNITS = {"m/s^2": 1.0, "g": G}
GYRO_UNITS = {"rad/s": 1.0, "deg/s": np.pi / 180}
HAPT_RATE_HZ = 50.0
_HAPT = re.compile(r"^acc_(exp\d+_user\d+)\.txt$")
_HAPT_SIDE = re.compile(r"^(gyro_exp\d+_user\d+|labels|activity_labels)\.txt$")  # read with their acc file, or not at all
_SISFALL = re.compile(r"(?:^|/)S[AE]\d\d/[DF]\d\d_S[AE]\d\d_R\d\d\.txt$")  # the trainer's member pattern, falls too
_BLOCK = 4096  # windows per chunk: bounded memory on a day-long recording
# windows, start samples, device times [µs], flags
Chunk = tuple[np.ndarray, np.ndarray, list[int | None], list[tuple[str, ...]]]


@dataclass(frozen=True)
class Task:
    """One recording -> one output ``<out>/<rel>.<format>``; ``rel`` is also the records' ``stream``.

    Args:
        fmt: one of ``FORMATS``.
        path: the file (hapt: the ``acc_`` file; sisfall: the trial file or the zip holding it).
        rel: the recording's path below the argument it was found under.
        member: sisfall in a zip: the trial's name inside it.
    """

    fmt: str
    path: Path
    rel: str
    member: str = ""


def _classify(f: Path, rel: str, explicit: bool) -> list[Task]:
    name = f.name
    if f.suffix == ".imu":
        return [Task("imu", f, rel)]
    if f.suffix == ".csv":
        return [Task("csv", f, rel)]
    if m := _HAPT.match(name):
        return [Task("hapt", f, rel[: len(rel) - len(name)] + m[1])]
    if _SISFALL.search(f"{f.parent.name}/{name}"):
        return [Task("sisfall", f, rel)]
    if f.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(f) as z:
                members = sorted(n for n in z.namelist() if _SISFALL.search(n))
        except (OSError, zipfile.BadZipFile) as exc:
            if explicit:
                raise SourceError(f"{f.name} is not a readable zip ({exc})") from None
            return []
        if not members and explicit:
            raise SourceError(f"{f.name} holds no SisFall trial (SAxx/Dxx_SAxx_Rxx.txt)")
        base = rel[: len(rel) - len(name)]
        return [Task("sisfall", f, base + m, m) for m in members]
    if _HAPT_SIDE.match(name) or not explicit:
        return []
    return [Task("csv", f, rel)]  # named on the command line: read as CSV (its header check says what is wrong)


def find_tasks(args: list[str]) -> Iterator[Task | tuple[str, SourceError]]:
    """Every recording below ``args`` (files or folders) in name order; an unusable argument
    (an unreadable zip) gives ``(name, error)`` instead, and the walk goes on."""
    for arg in args:
        p = Path(arg)
        files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
        for f in files:
            rel = f.relative_to(p).as_posix() if p.is_dir() else f.name
            try:
                yield from _classify(f, rel, explicit=not p.is_dir())
            except SourceError as exc:
                yield rel, exc


# -- windows of one contiguous run (csv, hapt, sisfall) -----------------------------------------


def run_windows(canon: np.ndarray, spec: WindowSpec) -> Iterator[Chunk]:
    """``(N, 6)`` contiguous canonical samples -> chunks of at most ``_BLOCK`` windows, every ``spec.stride``."""
    view = to_view(canon, spec.view)
    starts = np.asarray(window_starts(len(view), spec), np.int64)
    for i in range(0, len(starts), _BLOCK):
        s = starts[i : i + _BLOCK]
        w = sliding_windows(view[s[0] : s[-1] + spec.length], spec)
        yield w, s, [None] * len(s), [()] * len(s)


def block_run_windows(blocks: Iterable[np.ndarray], spec: WindowSpec, what: str) -> Iterator[Chunk]:
    """``run_windows`` of the blocks' concatenation, chunk for chunk and bit for bit, holding about one
    chunk's samples: no file-sized array (fresh memory costs ~10 µs a page on a VM, and two worker
    processes faulting at once slowed ``--jobs 2``). Each block is finite-checked as it comes.

    Raises:
        SourceError: ``<what>: no rows, or a value that is not a finite number``.
    """
    length, stride = spec.length, spec.stride
    span = (_BLOCK - 1) * stride + length  # the samples one full chunk needs
    buf = np.empty((0, len(spec.channels)), np.float32)  # view samples from ``base`` (a chunk start) on, not yet used up
    base = total = 0
    for block in blocks:
        if len(block) and not np.isfinite(block).all():
            raise SourceError(f"{what}: no rows, or a value that is not a finite number")
        total += len(block)
        view = to_view(block, spec.view)
        buf = np.concatenate([buf, view]) if len(buf) else view
        while len(buf) >= span:
            yield sliding_windows(buf[:span], spec), base + stride * np.arange(_BLOCK, dtype=np.int64), [None] * _BLOCK, [()] * _BLOCK
            buf, base = buf[_BLOCK * stride :], base + _BLOCK * stride
    if not total:
        raise SourceError(f"{what}: no rows, or a value that is not a finite number")
    n = len(window_starts(len(buf), spec))
    if n:
        yield sliding_windows(buf, spec), base + stride * np.arange(n, dtype=np.int64), [None] * n, [()] * n


def _check_rate(rate: float, spec: WindowSpec, what: str) -> None:
    if abs(rate - spec.rate_hz) > 1e-6 * spec.rate_hz:
        raise SourceError(f"{what} {rate:g} Hz, the model needs {spec.rate_hz:g} Hz (resample it first)")


def csv_windows(path: Path, manifest: Manifest, stride: int, rate: float, acc_unit: str, gyro_unit: str) -> Iterator[Chunk]:
    """A CSV of canonical samples -> chunks (one contiguous run: every row is the next sample)."""
    spec = manifest.window.with_stride(stride)
    _check_rate(rate, spec, "--rate")
    with path.open(encoding="utf-8", errors="replace") as f:
        header = [ALIASES.get(k, k) for k in (h.strip().strip('"').lower() for h in f.readline().split(","))]
    missing = [c for c in CANONICAL_CHANNELS if c not in header]
    if missing:
        raise SourceError(f"header lacks column(s) {', '.join(missing)} (have {', '.join(header)})")
    scale = [ACC_UNITS[acc_unit]] * 3 + [GYRO_UNITS[gyro_unit]] * 3
    cols = [header.index(c) for c in CANONICAL_CHANNELS]
    yield from block_run_windows(column_blocks(path, cols, scale, skip=1, delimiter=",", what="CSV"), spec, "CSV")


def hapt_windows(acc_path: Path, manifest: Manifest, stride: int) -> Iterator[Chunk]:
    """One HAPT experiment (``acc_expEE_userUU.txt`` in g + its ``gyro_…`` in rad/s, 50 Hz) -> chunks.

    Canonical samples as ``trainer.data.load_hapt`` makes them: float32 values, acceleration
    times float32 G."""
    spec = manifest.window.with_stride(stride)
    _check_rate(HAPT_RATE_HZ, spec, "HAPT is")
    gyro_path = acc_path.with_name("gyro_" + acc_path.name[4:])
    if not gyro_path.is_file():
        raise SourceError(f"HAPT: {gyro_path.name} is missing beside {acc_path.name}")
    acc, gyro = (_columns(p, [0, 1, 2], [1.0] * 3, skip=0, delimiter=" ", what=f"HAPT {p.name}") for p in (acc_path, gyro_path))
    if len(acc) != len(gyro):
        raise SourceError(f"HAPT: {acc_path.name} has {len(acc)} rows, {gyro_path.name} {len(gyro)}")
    acc *= np.float32(G)
    yield from run_windows(np.concatenate([acc, gyro], axis=1), spec)


def sisfall_windows(path: Path, member: str, manifest: Manifest, stride: int) -> Iterator[Chunk]:
    """One SisFall trial (a file, or ``member`` of the zip at ``path``) -> chunks at the model's rate."""
    from trainer.data.resample import decimate
    from trainer.data.sisfall import SOURCE_RATE_HZ, parse_counts, to_canonical
    from trainer.errors import DatasetError

    spec = manifest.window.with_stride(stride)
    factor = SOURCE_RATE_HZ / spec.rate_hz
    if factor < 1 or factor != int(factor):
        raise SourceError(f"SisFall is {SOURCE_RATE_HZ:g} Hz; the model's {spec.rate_hz:g} Hz does not divide it")
    try:
        if member:
            with zipfile.ZipFile(path) as z:
                data = z.read(member)
        else:
            data = path.read_bytes()
        counts = parse_counts(data, member or path.name)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise SourceError(f"SisFall: cannot read {member or path.name} ({exc})") from None
    except DatasetError as exc:
        raise SourceError(str(exc)) from None
    yield from run_windows(decimate(to_canonical(counts), int(factor)).astype(np.float32), spec)


def imu_windows(data: bytes, manifest: Manifest, stride: int, *, chunk: int = 1024) -> Iterator[Chunk]:
    """A wire capture -> chunks of (windows, start samples, device times, flags), as the live gateway cuts them."""
    spec, stream = manifest.window, StreamConfig()
    decoder = StreamDecoder(stream)
    windower = Windower(spec.length, stride, len(spec.channels), period_us=1e6 / spec.rate_hz)
    buf: list[Any] = []
    for part in _frame_chunks(data):
        for w in stream_windows(decode_recording(decoder, part), windower, spec.view,
                                lambda info: check_stream(info, manifest, stream)):  # fmt: skip
            buf.append((w.data.copy(), w.start, w.t_us, w.flag_names))
            if len(buf) >= chunk:
                yield _stack(buf)
                buf = []
    if buf:
        yield _stack(buf)


def _frame_chunks(data: bytes, size: int = 1 << 22) -> Iterator[bytes]:
    """``data`` in pieces of about ``size`` bytes, each cut just after a frame delimiter."""
    i = 0
    while i < len(data):
        cut = data.rfind(b"\x00", i, i + size) + 1 if i + size < len(data) else len(data)
        cut = cut if cut > i else min(len(data), data.find(b"\x00", i + size) + 1 or len(data))
        yield data[i:cut]
        i = cut


def _stack(buf: list[Any]) -> Chunk:
    return np.stack([b[0] for b in buf]), np.array([b[1] for b in buf], np.int64), [b[2] for b in buf], [b[3] for b in buf]


def task_windows(task: Task, manifest: Manifest, stride: int, opts: Any) -> Iterator[Chunk]:
    """The chunks of one task; ``opts`` carries the CSV ``rate``, ``acc_unit``, ``gyro_unit``."""
    if task.fmt == "imu":
        return imu_windows(task.path.read_bytes(), manifest, stride)
    if task.fmt == "hapt":
        return hapt_windows(task.path, manifest, stride)
    if task.fmt == "sisfall":
        return sisfall_windows(task.path, task.member, manifest, stride)
    return csv_windows(task.path, manifest, stride, opts.rate, opts.acc_unit, opts.gyro_unit)
