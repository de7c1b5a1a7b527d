"""JSON lines of many windows at once: byte for byte what ``AnonymizedWindow.to_json`` writes, faster.

Why: ``to_json`` hands every value to ``json.dumps`` (``float.__repr__``, one Python call a value),
about 10 s for a day-long 50 Hz stream. Here a block's values are rounded as ``to_dict`` rounds
them (``np.round(float64, 5)``), formatted by pyarrow's cast (C++ shortest round-trip, the same
digits as ``repr``) and joined into each window's ``[[a,b],[c,d],...]`` text in C++. Where the cast's
text is not ``repr``'s, it is patched: integral values get repr's ``.0`` (``3`` -> ``3.0``, ``-0`` ->
``-0.0``), and the rare values repr writes in exponent notation (nonzero ``|x| < 1e-4``: ``1e-05``)
or the cast does (``|x|`` above about 1e10), and NaN/inf (``NaN``, ``Infinity``), are written by
``json.dumps`` itself. The other fields are the same for every window of a file but four, so each
line is a template plus those. Tests compare every byte with ``to_json``.

Columns are built from numpy buffers (``Array.from_buffers``), never ``pa.array``/``to_numpy``,
which import pandas where it is installed (0.5 s a process).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .manifest import Manifest

__all__ = ["JsonlFormatter", "float_texts", "data_texts", "pyarrow_available"]

_VALUES_PER_CALL = 1 << 21  # keeps each joined text far below the 2 GiB of a pyarrow string array
_SEPARATORS = (",", ":")


def _pa() -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pa, pc


def pyarrow_available() -> bool:
    """Whether the ``[batch]`` extra's pyarrow is installed (without it, ``to_json`` a window)."""
    try:
        _pa()
    except ImportError:
        return False
    return True


def _numpy_array(pa: Any, kind: Any, values: np.ndarray) -> Any:
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(np.ascontiguousarray(values))])


def _bools(pa: Any, mask: np.ndarray) -> Any:
    bits = pa.py_buffer(np.packbits(mask, bitorder="little"))
    return pa.Array.from_buffers(pa.bool_(), len(mask), [None, bits])


def _strings(pa: Any, items: list[str]) -> Any:
    data = [s.encode() for s in items]
    offsets = np.zeros(len(data) + 1, np.int32)
    np.cumsum([len(d) for d in data], out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), len(data), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))])


def _dumps(value: Any) -> str:
    """``json.dumps`` as ``to_json`` calls it."""
    return json.dumps(value, separators=_SEPARATORS)


def _lists(pa: Any, values: Any, step: int) -> Any:
    """``values`` cut into lists of ``step`` (their count divides ``len(values)``)."""
    n = len(values) // step
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(step)
    return pa.Array.from_buffers(pa.list_(values.type), n, [None, pa.py_buffer(offsets)], children=[values])


def float_texts(x: np.ndarray) -> Any:
    """1-D float64 -> pyarrow strings, each ``json.dumps(float(v))`` of its value."""
    pa, pc = _pa()
    texts = pc.cast(_numpy_array(pa, pa.float64(), x), pa.string())
    with np.errstate(invalid="ignore"):
        a = np.abs(x)
        by_json = ~np.isfinite(x) | ((a < 1e-4) & (x != 0))  # repr's exponent notation, NaN/inf
        integral = ~by_json & (x == np.trunc(x))
    if integral.any():
        texts = pc.if_else(_bools(pa, integral), pc.binary_join_element_wise(texts, ".0", ""), texts)
    by_json |= _exponent(pa, pc, texts)
    if by_json.any():
        idx = np.flatnonzero(by_json)
        fixed = _strings(pa, [json.dumps(float(v)) for v in x[idx]])
        texts = pc.replace_with_mask(texts, _bools(pa, by_json), fixed)
    return texts


def _exponent(pa: Any, pc: Any, texts: Any) -> np.ndarray:
    """Where the cast wrote an exponent (``1.2e+10``: repr writes those in full up to 1e16)."""
    hits = pc.indices_nonzero(pc.match_substring(texts, "e"))
    out = np.zeros(len(texts), bool)
    if len(hits):
        out[np.frombuffer(hits.buffers()[1], np.uint64, len(hits), hits.offset)] = True
    return out


def data_texts(y: np.ndarray) -> list[bytes]:
    """``(n, length, C)`` released windows -> each window's ``data`` JSON, as ``to_dict`` rounds it."""
    pa, pc = _pa()
    n, length, c = y.shape
    rounded = np.round(y.astype(np.float64), 5).ravel()
    rows = pc.binary_join(_lists(pa, float_texts(rounded), c), ",")
    rows = pc.binary_join_element_wise("[", rows, "]", "")
    wins = pc.binary_join_element_wise("[", pc.binary_join(_lists(pa, rows, length), ","), "]", "")
    offsets = np.frombuffer(wins.buffers()[1], np.int32, n + 1, wins.offset)
    buf = wins.buffers()[2].to_pybytes()
    return [buf[offsets[k] : offsets[k + 1]] for k in range(n)]


class JsonlFormatter:
    """One recording's JSON lines: ``to_json()`` of each window's ``AnonymizedWindow`` plus ``\\n``.

    The record's keys in ``to_dict``'s order; what is the same for every window is formatted once.
    """

    def __init__(self, stream: str, manifest: Manifest, t_gateway: float) -> None:
        spec = manifest.window
        self.head = f'{{"type":"anonymized_window","stream":{_dumps(stream)},"window_id":'
        self.mid = (f',"t_gateway":{_dumps(round(t_gateway, 6))},"rate_hz":{_dumps(spec.rate_hz)},'
                    f'"channels":{_dumps(list(spec.channels))},"units":{_dumps(list(spec.units))},"flags":')  # fmt: skip
        self.tail = f',"model_version":{_dumps(manifest.model_version)},"view":"default","data":'.encode()
        self._flags: dict[tuple[str, ...], str] = {}

    def _flag_text(self, flags: tuple[str, ...]) -> str:
        text = self._flags.get(flags)
        if text is None:
            text = self._flags[flags] = _dumps(list(flags))
        return text

    def lines(
        self, wid: int, y: np.ndarray, starts: Any, t_us: list[int | None], flags: list[tuple[str, ...]]
    ) -> bytes:
        """Windows ``wid, wid + 1, ...`` (``y``: ``(n, length, C)``) -> their JSON lines."""
        per = max(1, int(np.prod(y.shape[1:])))
        step = max(1, _VALUES_PER_CALL // per)
        out: list[bytes] = []
        for i in range(0, len(y), step):
            for k, data in enumerate(data_texts(y[i : i + step]), i):
                head = (f"{self.head}{wid + k},\"start_sample\":{int(starts[k])},\"t_device_us\":{json.dumps(t_us[k])}"
                        f"{self.mid}{self._flag_text(tuple(flags[k]))}")  # fmt: skip
                out += (head.encode(), self.tail, data, b"}\n")
        return b"".join(out)
