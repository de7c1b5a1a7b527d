"""One recording's released windows -> one output file, whole or absent.

JSON lines are the live record itself (``AnonymizedWindow.to_json``, docs/window-record.md), formatted
a block at a time by ``batch_jsonl`` (the same bytes). Parquet holds the same fields as columns, in
the same order, built straight from the arrays (one row group per chunk of windows, bounded memory): ``data`` is ``list<float32>`` of ``length * C`` values,
row-major ``(length, C)``, rounded to 5 decimals as in the JSON record; ``t_device_us`` is null
where the device sends no time. Either file is written to a temporary name beside its destination,
fsynced and renamed, so a crash or a bad input leaves nothing half-written.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .batch_inputs import Chunk, Task, task_windows
from .batch_jsonl import JsonlFormatter
from .errors import ConfigError
from .manifest import Manifest
from .sinks.base import AnonymizedWindow

__all__ = ["anonymize_file", "released", "parquet_schema"]


def released(chunks: Iterator[Chunk], anonymizer: Any, batch: int) -> Iterator[tuple[np.ndarray, Chunk]]:
    """Each chunk's windows through the model ``batch`` at a time -> (released ``(n, length, C)``, the chunk)."""
    for chunk in chunks:
        x = chunk[0]
        parts = [anonymizer.run_batch(x[i : i + batch]) for i in range(0, len(x), batch)]
        yield (parts[0] if len(parts) == 1 else np.concatenate(parts)), chunk


class _Jsonl:
    """``to_json`` lines, a block at a time through ``JsonlFormatter`` (the same bytes, faster)."""

    def __init__(self, f: BinaryIO, stream: str, manifest: Manifest, t_gateway: float) -> None:
        self.f, self.stream, self.m, self.t = f, stream, manifest, t_gateway
        self.fast = JsonlFormatter(stream, manifest, t_gateway)

    def write(self, wid: int, y: np.ndarray, chunk: Chunk) -> None:
        spec, (_, starts, t_us, flags) = self.m.window, chunk
        if y.ndim == 3 and y.size:
            self.f.write(self.fast.lines(wid, y, starts, t_us, flags))
            return
        self.f.write(b"".join(
            AnonymizedWindow(wid + k, self.stream, int(starts[k]), t_us[k], self.t, spec.rate_hz, spec.channels,
                             spec.units, y[k], flags[k], self.m.model_version).to_json() + b"\n"
            for k in range(len(y))
        ))  # fmt: skip

    def close(self) -> None:
        pass


def parquet_schema() -> Any:
    """The Parquet columns: ``AnonymizedWindow.to_dict``'s keys, in its order."""
    import pyarrow as pa

    strings = pa.list_(pa.string())
    return pa.schema([("type", pa.string()), ("stream", pa.string()), ("window_id", pa.int64()),
                      ("start_sample", pa.int64()), ("t_device_us", pa.int64()), ("t_gateway", pa.float64()),
                      ("rate_hz", pa.float64()), ("channels", strings), ("units", strings), ("flags", strings),
                      ("model_version", pa.string()), ("view", pa.string()), ("data", pa.list_(pa.float32()))])  # fmt: skip


class _Parquet:
    """Columns built from numpy buffers (``Array.from_buffers``): ``pa.array`` would import pandas
    where it is installed, 0.5 s a process."""

    def __init__(self, f: BinaryIO, stream: str, manifest: Manifest, t_gateway: float) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ConfigError("--format parquet needs pyarrow: pip install 'edge-anonymize[batch]'") from None
        self.pa, self.stream, self.m, self.t = pa, stream, manifest, round(t_gateway, 6)
        self.schema = parquet_schema()
        self.writer = pq.ParquetWriter(f, self.schema)

    def _prim(self, kind: Any, values: np.ndarray, valid: np.ndarray | None = None) -> Any:
        pa = self.pa
        bitmap = None if valid is None or valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
        nulls = 0 if bitmap is None or valid is None else int(len(valid) - valid.sum())
        return pa.Array.from_buffers(kind, len(values), [bitmap, pa.py_buffer(np.ascontiguousarray(values))], null_count=nulls)

    def _strings(self, items: list[str]) -> Any:
        data = [s.encode() for s in items]
        offsets = np.zeros(len(data) + 1, np.int32)
        np.cumsum([len(d) for d in data], out=offsets[1:])
        return self.pa.Array.from_buffers(self.pa.string(), len(data), [None, self.pa.py_buffer(offsets), self.pa.py_buffer(b"".join(data))])

    def _lists(self, values: Any, lengths: list[int] | int, n: int) -> Any:
        offsets = np.zeros(n + 1, np.int32)
        if isinstance(lengths, int):
            offsets[1:] = np.arange(1, n + 1, dtype=np.int32) * lengths
        else:
            np.cumsum(lengths, out=offsets[1:])
        return self.pa.Array.from_buffers(self.pa.list_(values.type), n, [None, self.pa.py_buffer(offsets)], children=[values])

    def write(self, wid: int, y: np.ndarray, chunk: Chunk) -> None:
        pa, spec, (_, starts, t_us, flags), n = self.pa, self.m.window, chunk, len(y)
        data = np.round(y.reshape(n, -1).astype(np.float64), 5).astype(np.float32)  # to_dict's rounding
        valid = np.array([t is not None for t in t_us], bool)
        device = np.array([t or 0 for t in t_us], np.int64)
        cols = [self._strings(["anonymized_window"] * n), self._strings([self.stream] * n),
                self._prim(pa.int64(), np.arange(wid, wid + n, dtype=np.int64)), self._prim(pa.int64(), np.asarray(starts, np.int64)),
                self._prim(pa.int64(), device, valid), self._prim(pa.float64(), np.full(n, self.t)),
                self._prim(pa.float64(), np.full(n, float(spec.rate_hz))),
                self._lists(self._strings(list(spec.channels) * n), len(spec.channels), n),
                self._lists(self._strings(list(spec.units) * n), len(spec.units), n),
                self._lists(self._strings([f for fl in flags for f in fl]), [len(fl) for fl in flags], n),
                self._strings([self.m.model_version] * n), self._strings(["default"] * n),
                self._lists(self._prim(pa.float32(), data.ravel()), data.shape[1], n)]  # fmt: skip
        self.writer.write_table(pa.Table.from_arrays(cols, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


def anonymize_file(task: Task, dest: Path, anonymizer: Any, manifest: Manifest, opts: Any) -> int:
    """One recording -> ``dest``; returns the windows written.

    ``opts`` holds ``stride`` (0: the manifest's), ``batch``, ``format`` ("jsonl" or "parquet"),
    ``t_gateway`` (None: now) and the CSV ``rate``/``acc_unit``/``gyro_unit``.

    Raises:
        EdgeError, OSError: with one-line messages; ``dest`` is then left as it was.
    """
    chunks = task_windows(task, manifest, opts.stride or manifest.window.stride, opts)
    t_gateway = time.time() if opts.t_gateway is None else float(opts.t_gateway)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    n = 0
    try:
        with os.fdopen(fd, "wb") as f:
            writer = (_Parquet if opts.format == "parquet" else _Jsonl)(f, task.rel, manifest, t_gateway)
            try:
                for y, chunk in released(chunks, anonymizer, opts.batch):
                    writer.write(n, y, chunk)
                    n += len(y)
            finally:  # also on an error: the temporary file is removed below, the writer must not outlive it
                writer.close()
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n
