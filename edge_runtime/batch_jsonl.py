"""JSON lines of many windows at once: byte for byte what ``AnonymizedWindow.to_json`` writes, faster.

Why: ``to_json`` hands every value to ``json.dumps`` (``float.__repr__``, one Python call a value),
about 10 s for a day-long 50 Hz stream. ``to_dict`` rounds each value to 5 decimals
(``np.round(float64, 5)`` = ``rint(v * 1e5) / 1e5``), so for every value with ``|k| = |rint(v *
1e5)|`` in ``[10, 1e15)``, or zero, ``repr`` is exactly ``k``'s decimal digits with the point 5 places
from the right and trailing zeros cut (``repr`` gives the shortest text that reads back to the same
double, and a decimal of at most 15 significant digits is the only one that does). Each value gets a
16-byte slot whose digits come from two tables (``_digit_tables``) and whose ``[``, ``,`` and ``]``
from its place in the window; every unused byte is 0 and is cut by ``bytes.translate``. A window with any
other value (NaN, inf, ``0 < |v| < 1e-4`` which ``repr`` writes as ``1e-05``, ``|v| >= 1e5``) is written
by ``json.dumps`` itself, as ``to_json`` would. Every other field of a record is the same for each
window of a file but four, so each line is a template plus those. Tests compare every byte with
``to_json``. No pyarrow needed.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .manifest import Manifest

__all__ = ["JsonlFormatter", "data_texts"]

_VALUES_PER_CALL = 1 << 20  # bounds the slots (16 bytes a value) of one call
_SEPARATORS = (",", ":")
_INT_DIGITS = 5  # the digit path: |v| < 1e5 (a release in m/s^2 or rad/s); larger values go to json.dumps
_FRAC = 5


def _dumps(value: Any) -> str:
    """``json.dumps`` as ``to_json`` calls it."""
    return json.dumps(value, separators=_SEPARATORS)


def _frame(length: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    """Per value of one window, the fixed bytes of its two slot words: ``pre pre`` (bytes 0, 1 of
    the first) and ``. .. post post`` (bytes 0, 6, 7 of the second); 0 where a value has none."""
    pre = np.zeros((length, c, 2), np.uint64)
    post = np.zeros((length, c, 2), np.uint64)
    pre[:, 0, 1] = ord("[")  # each row opens
    pre[0, 0, 0] = ord("[")  # and the window
    post[:, :-1, 0] = ord(",")
    post[:, -1, 0] = ord("]")
    post[:-1, -1, 1] = ord(",")
    post[-1, -1, 1] = ord("]")
    w0 = pre[..., 0] | (pre[..., 1] << np.uint64(8))
    w1 = np.uint64(ord(".")) | (post[..., 0] << np.uint64(48)) | (post[..., 1] << np.uint64(56))
    return w0.reshape(-1), w1.reshape(-1)


def data_texts(y: np.ndarray) -> list[bytes]:
    """``(n, length, C)`` released windows -> each window's ``data`` JSON, as ``to_dict`` rounds it."""
    n, length, c = y.shape
    per = length * c
    k = np.rint(y.astype(np.float64).reshape(n, per) * 1e5)  # np.round(v, 5)'s own steps
    a = np.abs(k)
    with np.errstate(invalid="ignore"):
        odd = ~(a < 1e10) | ((a < 10) & (a != 0))  # NaN/inf, |v| >= 1e5, and what repr writes as 1e-05
    slow = odd.any(axis=1)
    w0, w1 = _frame(length, c)
    out: list[bytes] = [b""] * n
    for i in np.flatnonzero(slow):
        out[i] = _dumps((k[i] / 1e5).reshape(length, c).tolist()).encode()
    fast = np.flatnonzero(~slow)
    step = max(1, _VALUES_PER_CALL // per)
    for j in range(0, len(fast), step):
        idx = fast[j : j + step]
        _digit_texts(a[idx].reshape(-1), np.signbit(k[idx]).reshape(-1), w0, w1, per, idx, out)
    return out


def _digit_tables() -> tuple[np.ndarray, np.ndarray]:
    """Every 5-digit group's text as the low bytes of a uint64, unused places 0 (cut out afterwards).

    ``ints[neg * 10**5 + ip]``: the sign at byte 0 (``-`` for -0.0 too: repr writes "-0.0") and ``ip``
    right-aligned in bytes 1..5, no leading zeros but a lone "0". ``fracs[fp]``: ``fp``'s 5 decimals
    in bytes 0..4, trailing zeros cut but the first kept ("3.0")."""
    v = np.arange(10**_FRAC, dtype=np.int64)
    place = 10 ** np.arange(_INT_DIGITS - 1, -1, -1, dtype=np.int64)  # most significant first
    digits = (v[:, None] // place) % 10 + 48
    shown = v[:, None] >= place
    shown[:, -1] = True
    ints = (np.where(shown, digits, 0) << (8 * np.arange(1, _INT_DIGITS + 1))).sum(axis=1).astype(np.uint64)
    ints = np.concatenate([ints, ints | np.uint64(ord("-"))])
    tail = v[:, None] % (10 * place) != 0  # a later decimal is nonzero
    tail[:, 0] = True
    fracs = (np.where(tail, digits, 0) << (8 * np.arange(_FRAC))).sum(axis=1).astype(np.uint64)
    return ints, fracs


_INTS, _FRACS = _digit_tables()  # 1.6 MB: two gathers a value instead of ten divmods


_WORDS: dict[tuple[int, int], np.ndarray] = {}


def _words(m: int, per: int) -> np.ndarray:
    """The slots of ``m`` windows, reused while the block size repeats (fresh pages cost as much as
    the digits do)."""
    key = (m, per)
    if key not in _WORDS:
        if len(_WORDS) >= 2:  # a file's full blocks and its last one
            _WORDS.pop(next(iter(_WORDS)))
        _WORDS[key] = np.empty((m, per, 2), "<u8")
    return _WORDS[key]


def _digit_texts(a: np.ndarray, neg: np.ndarray, w0: np.ndarray, w1: np.ndarray, per: int, idx: np.ndarray,
                 out: list[bytes]) -> None:  # fmt: skip
    """The texts of windows ``idx`` (``a``: their ``|rint(v * 1e5)|``, all in [10, 1e10) or 0) into ``out``.

    Each value gets 16 bytes, two little-endian words: ``pre pre - d d d d d`` and ``. d d d d d
    post post``; each place it does not use holds 0, so one ``bytes.translate`` per window leaves
    its text. A window is its values' slots in order, so the zero bytes are all there is to cut."""
    m = len(idx)
    ipf = np.floor(a / 1e5)  # exact: a is an integer below 1e10
    ip, fp = ipf.astype(np.int64), (a - ipf * 1e5).astype(np.int64)
    words = _words(m, per)
    ip += neg * 10**5
    np.left_shift(_INTS[ip].reshape(m, per), np.uint64(16), out=words[:, :, 0])
    words[:, :, 0] |= w0
    np.left_shift(_FRACS[fp].reshape(m, per), np.uint64(8), out=words[:, :, 1])
    words[:, :, 1] |= w1
    raw, size = words.data.cast("B"), 16 * per
    for r in range(m):
        out[idx[r]] = bytes(raw[r * size : (r + 1) * size]).translate(None, b"\0")


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
                t = t_us[k]  # json.dumps of an int is its str: 67,000 encoder calls a day saved
                head = (f"{self.head}{wid + k},\"start_sample\":{int(starts[k])},\"t_device_us\":{'null' if t is None else int(t)}"
                        f"{self.mid}{self._flag_text(tuple(flags[k]))}")  # fmt: skip
                out += (head.encode(), self.tail, data, b"}\n")
        return b"".join(out)
