"""SisFall trial text -> raw counts by pyarrow's CSV reader, for files of the plain layout only.

Why: a day-long 200 Hz trial is 640 MB of text; numpy's parse (``np.fromstring`` plus the per-line
comma count) spent about 40 s and several GB on it. pyarrow parses it on one thread in a few seconds,
straight from the bytes (no copy). It answers only where it is sure to give the numpy parser's exact
array: rows of nine integers ``a,b,...,i;`` (``;`` optional) ending in LF or CRLF, blank lines
anywhere, spaces around values (the archive pads them) but never between two. Anything else (a stray character, a short row, a lone CR,
a count outside 16 bits, no pyarrow) returns None, and ``sisfall.parse_counts`` decides with its
numpy parser: the same array or its one-line error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["arrow_counts"]

_ALLOWED = b"0123456789-,; \t\r\n"
_MIN_BYTES = 1 << 20  # below, numpy is as fast (pyarrow's reader costs about 3 ms a call)
_CLASSES = bytes.maketrans(b"0123456789-\t;\r\n", b"ddddddddddd ,,,")  # value, space, else ","
_NAMES = [f"f{i}" for i in range(9)]
_BLOCK = 1 << 24  # bytes of text a block


def _value_count(data: bytes) -> int:
    """How many values numpy would read: runs of digits and ``-`` (each ends at a space or a separator)."""
    t = data.translate(_CLASSES)
    return t.count(b"d ") + t.count(b"d,") + t.endswith(b"d")


def _reader(pa: Any, pcsv: Any, buf: Any) -> Any:
    """Blocks of nine columns, the first eight int32, the last ``<int>;`` as dictionary strings (few
    distinct values). Block by block: a whole-file table (620 MB for a day) would cost as much in
    fresh pages as the parse itself."""
    types = {c: pa.int32() for c in _NAMES[:8]} | {_NAMES[8]: pa.dictionary(pa.int32(), pa.string())}
    return pcsv.open_csv(
        pa.BufferReader(buf),
        read_options=pcsv.ReadOptions(use_threads=False, block_size=_BLOCK, autogenerate_column_names=True),
        parse_options=pcsv.ParseOptions(delimiter=",", quote_char=False),
        convert_options=pcsv.ConvertOptions(column_types=types),
    )


def _int32(pa: Any, pc: Any, chunk: Any, last: bool) -> np.ndarray:
    if last:  # "1020;" -> 1020 on the (small) dictionary, then spread by its indices
        chunk = pc.take(pc.cast(pc.utf8_rtrim(chunk.dictionary, characters=";"), pa.int32()), chunk.indices)
    return np.frombuffer(chunk.buffers()[1], np.int32, len(chunk), chunk.offset)


def arrow_counts(data: bytes) -> np.ndarray | None:
    """``(N, 9)`` int32 counts of a plain-layout trial file, or None (then the numpy parser decides)."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pcsv
    except ImportError:
        return None
    if data.translate(None, _ALLOWED):
        return None
    if len(data) < _MIN_BYTES:
        return None
    expected = None
    if b" " in data or b"\t" in data:  # the archive pads values ("   3,-257, -14"): pyarrow takes no spaces
        expected = _value_count(data)  # then "1 2" (two values to numpy, one without the space) is caught below
        data = data.translate(None, b" \t")
    cr = data.count(b"\r")
    if cr and cr != data.count(b"\r\n"):  # pyarrow ends a line at a lone CR; the numpy parser does not
        return None
    try:  # only digits, "-,;" and line ends are left: blank lines around the rows are skipped, as by numpy
        out = np.empty((data.count(b"\n") + 1, 9), np.int32)  # at most a row a line; pages never written stay untouched
        n = 0
        for batch in _reader(pa, pcsv, pa.py_buffer(data)):
            if batch.num_columns != 9 or any(c.null_count for c in batch.columns) or n + batch.num_rows > len(out):
                return None
            for j, column in enumerate(batch.columns):
                out[n : n + batch.num_rows, j] = _int32(pa, pc, column, j == 8)
            n += batch.num_rows
        out = out[:n]
    except (pa.ArrowException, ValueError):  # not the plain layout (its messages quote rows: never shown)
        return None
    if not len(out) or out.min() < -32768 or out.max() > 32768 or expected not in (None, out.size):
        return None
    return out
