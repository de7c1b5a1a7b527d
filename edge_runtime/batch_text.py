"""Numeric text tables (CSV, the HAPT files) -> float32 samples, for ``batch_inputs``.

pyarrow parses on one thread when installed (the ``[batch]`` extra; about 3x ``np.loadtxt``), block
by block straight into the samples: the float64 table of a whole file never exists (a fresh page
costs about 10 µs on a VM, as much as parsing it). Without pyarrow numpy reads the same samples.
Errors are one line each and never quote the file's values (pyarrow's own messages quote rows).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .errors import SourceError

__all__ = ["columns", "column_blocks", "arrow_columns", "arrow_blocks", "numpy_columns"]

# bytes of text pyarrow parses at a time: 1 MiB keeps a block's text and float64 columns in a core's
# share of L3; 16 MiB took 10 % longer, with one job and with two (3 paired runs, 16 files of 6 h)
_TEXT_BLOCK = 1 << 20


def _fill(out: np.ndarray, j: int, off: int, values: np.ndarray, scale: float) -> None:
    """``out[off:, j] = values * scale``: the product in float64, stored as float32."""
    dest = out[off : off + len(values), j]
    if scale == 1.0:
        dest[:] = values
    else:
        np.multiply(values, scale, out=dest, casting="same_kind")


def _arrow_batches(path: Path, cols: list[int], *, skip: int, delimiter: str, what: str) -> Iterator[tuple[int, list[np.ndarray]]]:
    """``(rows, float64 columns)`` per block of pyarrow's one-thread parse (pyarrow must be installed:
    ``_have_arrow``); its errors as one line that quotes no row."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    names = [f"f{i}" for i in cols]
    try:  # opening parses the first block: its errors are translated too
        reader = pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(use_threads=False, block_size=_TEXT_BLOCK, skip_rows=skip, autogenerate_column_names=True),
            parse_options=pcsv.ParseOptions(delimiter=delimiter),
            convert_options=pcsv.ConvertOptions(include_columns=names, column_types={c: pa.float64() for c in names}),
        )
        for batch in reader:
            values = []
            for col in batch.columns:
                if col.null_count:
                    raise SourceError(f"{what}: an empty or NaN value (rows must be all numbers)")
                # float64 without nulls: the values buffer as it is (to_numpy would import pandas, 0.5 s)
                values.append(np.frombuffer(col.buffers()[1], np.float64, len(col), col.offset * 8))
            yield batch.num_rows, values
    except (pa.ArrowException, KeyError) as exc:  # its messages quote whole rows: never pass them on (raw samples)
        msg = str(exc)
        if m := re.search(r"Expected (\d+) columns, got (\d+)", msg):
            raise SourceError(f"{what}: a row has {m[2]} values, the first {m[1]}") from None
        if "Empty CSV" in msg:
            raise SourceError(f"{what}: no rows") from None
        if isinstance(exc, KeyError) or "include_columns" in msg:
            raise SourceError(f"{what}: rows must hold at least {max(cols) + 1} values") from None
        where = re.search(r"column #(\d+): Row #(\d+)", msg)
        raise SourceError(f"not a numeric {what}" + (f" (column {int(where[1]) + 1}, row {where[2]})" if where else "")) from None


def arrow_columns(path: Path, cols: list[int], scale: list[float], *, skip: int, delimiter: str, what: str) -> np.ndarray | None:
    """``(N, len(cols))`` float32 of a numeric text table, parsed by pyarrow on one thread; None without pyarrow."""
    if not _have_arrow():
        return None
    out, n, size = np.empty((0, len(cols)), np.float32), 0, path.stat().st_size
    # block by block: the float64 table never exists whole (its pages cost as much as parsing)
    for rows, values in _arrow_batches(path, cols, skip=skip, delimiter=delimiter, what=what):
        if rows and n + rows > len(out):
            out = _grown(out, n + rows, size, rows)
        for j, v in enumerate(values):
            _fill(out, j, n, v, scale[j])
        n += rows
    return out[:n]


def arrow_blocks(path: Path, cols: list[int], scale: list[float], *, skip: int, delimiter: str, what: str) -> Iterator[np.ndarray]:
    """``arrow_columns``' samples one parsed block at a time (``(rows, len(cols))`` float32 each), for a
    reader that needs no whole file: no file-sized array, so no fresh pages per file."""
    for rows, values in _arrow_batches(path, cols, skip=skip, delimiter=delimiter, what=what):
        out = np.empty((rows, len(cols)), np.float32)
        for j, v in enumerate(values):
            _fill(out, j, 0, v, scale[j])
        yield out


def _have_arrow() -> bool:
    try:
        import pyarrow.csv  # noqa: F401
    except ImportError:
        return False
    return True


def _grown(out: np.ndarray, need: int, file_bytes: int, first_rows: int) -> np.ndarray:
    """Room for the whole file's rows, guessed from the first block's bytes per row (pages never
    written are never touched), or twice what is needed once the guess falls short."""
    guess = int(file_bytes / _TEXT_BLOCK * first_rows * 1.05) + 1 if not len(out) else 0
    grown = np.empty((max(guess, need, 2 * len(out)), out.shape[1]), np.float32)
    grown[: len(out)] = out
    return grown


def numpy_columns(path: Path, cols: list[int], scale: list[float], *, skip: int, delimiter: str | None, what: str) -> np.ndarray:
    try:
        rows = np.loadtxt(path, delimiter=delimiter, dtype=np.float64, ndmin=2, skiprows=skip, encoding="utf-8")
    except ValueError as exc:
        raise SourceError(f"not a numeric {what} ({str(exc).splitlines()[0][:80]})") from None
    if rows.size and rows.shape[1] <= max(cols):
        raise SourceError(f"{what}: rows must hold at least {max(cols) + 1} values")
    out = np.empty((len(rows) if rows.size else 0, len(cols)), np.float32)
    for j, c in enumerate(cols):
        if len(out):
            _fill(out, j, 0, rows[:, c], scale[j])
    return out


def _numpy_fallback(path: Path, cols: list[int], scale: list[float], *, skip: int, delimiter: str, what: str) -> np.ndarray:
    """``numpy_columns`` with pyarrow's delimiter: a space means any run of whitespace to numpy."""
    return numpy_columns(path, cols, scale, skip=skip, delimiter=None if delimiter == " " else delimiter, what=what)


def columns(path: Path, cols: list[int], scale: list[float], *, skip: int, delimiter: str, what: str) -> np.ndarray:
    """``(N, len(cols))`` float32: column ``cols[j]`` of a numeric text table times ``scale[j]`` (in float64).

    Raises:
        SourceError: ``<what>: <why>``, naming no value of the file.
    """
    out = arrow_columns(path, cols, scale, skip=skip, delimiter=delimiter, what=what)
    if out is None:
        out = _numpy_fallback(path, cols, scale, skip=skip, delimiter=delimiter, what=what)
    if not len(out) or not np.isfinite(out).all():
        raise SourceError(f"{what}: no rows, or a value that is not a finite number")
    return out


def column_blocks(path: Path, cols: list[int], scale: list[float], *, skip: int, delimiter: str, what: str) -> Iterator[np.ndarray]:
    """``columns`` as consecutive blocks of rows (pyarrow's parse blocks; without pyarrow one block).

    Raises:
        SourceError: as ``columns``, when the block holding the fault is reached; none is finite-checked
            here (the caller checks each block, so a bad value is found wherever it is).
    """
    if _have_arrow():
        yield from arrow_blocks(path, cols, scale, skip=skip, delimiter=delimiter, what=what)
    else:
        yield _numpy_fallback(path, cols, scale, skip=skip, delimiter=delimiter, what=what)
