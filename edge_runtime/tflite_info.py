"""What a ``.tflite`` file says it needs: builtin op versions and ``min_runtime_version``, read from the
flatbuffer itself with ``struct`` (no TensorFlow, no flatbuffers package), and the checks that the
bundle's manifest tells the truth about them and that this runtime provides them.

Only the few tables needed are walked (TFLite schema v3): ``Model.operator_codes`` (builtin code,
version), ``Model.metadata`` and ``Model.buffers`` (the ``min_runtime_version`` string). Every
offset is bounds-checked: a malformed file is a ``ModelError``, never an exception from ``struct``.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError

__all__ = ["ModelInfo", "read_model_info", "parse_version", "check_versions", "op_name"]


@dataclass(frozen=True)
class ModelInfo:
    """``ops``: ``{builtin code: highest version used}``; ``min_runtime_version``: "" if not recorded."""

    ops: dict[int, int]
    min_runtime_version: str


class _Buf:
    def __init__(self, data: bytes) -> None:
        self.b = data

    def u(self, fmt: str, pos: int) -> int:
        if pos < 0 or pos + struct.calcsize(fmt) > len(self.b):
            raise ValueError("offset out of range")
        return int(struct.unpack_from("<" + fmt, self.b, pos)[0])

    def field(self, table: int, i: int) -> int:
        """Absolute position of field ``i`` of the table at ``table``; 0 when absent."""
        vt = table - self.u("i", table)
        vt_size = self.u("H", vt)
        off = 4 + 2 * i
        rel = self.u("H", vt + off) if off < vt_size else 0
        return table + rel if rel else 0

    def deref(self, pos: int) -> int:
        return pos + self.u("I", pos)

    def vector(self, pos: int) -> tuple[int, int]:
        """(first element position, length) of the vector a field at ``pos`` points to."""
        v = self.deref(pos)
        n = self.u("I", v)
        if n > len(self.b):
            raise ValueError("vector length out of range")
        return v + 4, n

    def tables(self, table: int, i: int) -> list[int]:
        pos = self.field(table, i)
        if not pos:
            return []
        start, n = self.vector(pos)
        return [self.deref(start + 4 * k) for k in range(n)]

    def bytes_at(self, table: int, i: int) -> bytes:
        pos = self.field(table, i)
        if not pos:
            return b""
        start, n = self.vector(pos)
        if start + n > len(self.b):
            raise ValueError("string out of range")
        return self.b[start : start + n]


def read_model_info(data: bytes) -> ModelInfo:
    """Op versions and ``min_runtime_version`` of a TFLite flatbuffer.

    Raises:
        ModelError: not a TFLite model (file identifier) or a malformed flatbuffer.
    """
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError("model file is not a TFLite flatbuffer (no TFL3 identifier)")
    b = _Buf(data)
    try:
        model = b.deref(0)
        if not b.field(model, 2):  # every model has subgraphs
            raise ValueError("no subgraphs")
        ops: dict[int, int] = {}
        for oc in b.tables(model, 1):  # operator_codes
            dep = b.field(oc, 0)
            ver = b.field(oc, 2)
            code = b.field(oc, 3)
            builtin = max(b.u("b", dep) if dep else 0, b.u("i", code) if code else 0)
            version = b.u("i", ver) if ver else 1
            ops[builtin] = max(ops.get(builtin, 0), version)
        buffers = b.tables(model, 4)
        min_rt = ""
        for md in b.tables(model, 6):  # metadata: name -> buffer index
            if b.bytes_at(md, 0) == b"min_runtime_version":
                idx_pos = b.field(md, 1)
                idx = b.u("I", idx_pos) if idx_pos else 0
                if idx < len(buffers):
                    min_rt = b.bytes_at(buffers[idx], 0).rstrip(b"\0").decode("ascii", "replace")
    except (ValueError, struct.error):
        raise ModelError("model file is a malformed TFLite flatbuffer") from None
    return ModelInfo(ops, min_rt)


@functools.cache
def _names() -> dict[int, str]:
    """Builtin op code -> name, read from the installed runtime's own schema (so new ops have their names).

    The schema module is parsed as text, not imported: importing it costs 4 MB of RSS for good,
    a tenth of the gateway's budget, for a table of about 200 names. Cached: every bundle-set member and
    every reload checks its ops against the same runtime.
    """
    import importlib.util
    import re

    try:
        spec = importlib.util.find_spec("ai_edge_litert.schema_py_generated")
        text = Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else ""
    except (ImportError, ValueError, OSError):  # legacy backend without the schema module: codes shown as numbers
        return {}
    start = text.find("class BuiltinOperator(")
    if start < 0:
        return {}
    end = text.find("\nclass ", start + 1)
    block = text[start:end if end > 0 else len(text)]
    return {int(code): name for name, code in re.findall(r"^    ([A-Z][A-Z0-9_]*) = (\d+)$", block, re.M)}


def op_name(code: int, names: dict[int, str] | None = None) -> str:
    return (names if names is not None else _names()).get(code, f"BUILTIN_{code}")


def parse_version(text: str) -> tuple[int, ...]:
    """``"2.22.0-dev0"`` -> ``(2, 22, 0)``; ValueError if it does not start with a number."""
    head = text.strip().split("-")[0].split("+")[0]
    parts = tuple(int(p) for p in head.split(".") if p.isdigit())
    if not parts:
        raise ValueError(f"not a version: {text!r}")
    return parts


def check_versions(info: ModelInfo, recorded: dict[str, str], runtime: str, runtime_tflite: str | None) -> None:
    """The manifest's ``tflite_ops``/``tflite_min_runtime_version`` must be the model file's own, and
    the model's ``min_runtime_version`` must not be newer than what this runtime implements.

    Args:
        info: read from the model file. recorded: the manifest's ``versions``.
        runtime: e.g. "ai_edge_litert 2.3.0". runtime_tflite: the TFLite version it implements, if known.
    Raises:
        ModelError: one line naming both versions.
    """
    names = _names()
    if "tflite_ops" in recorded:
        claimed: dict[str, int] = {}
        for item in filter(None, (s.strip() for s in recorded["tflite_ops"].split(","))):
            name, _, v = item.partition(":v")
            try:
                claimed[name] = max(claimed.get(name, 0), int(v))
            except ValueError:
                raise ModelError(f"manifest tflite_ops entry {item!r} is not NAME:vN") from None
        actual = {op_name(c, names): v for c, v in info.ops.items()}
        for name in [*sorted(claimed), *sorted(set(actual) - set(claimed))]:  # what the manifest says first
            want, have = claimed.get(name), actual.get(name)
            if names and want != have:
                raise ModelError(f"manifest records op {name} {'v' + str(want) if want else 'absent'} but the model "
                                 f"file has {'v' + str(have) if have else 'no ' + name}: bundle and model disagree")  # fmt: skip
    min_rt = recorded.get("tflite_min_runtime_version")
    if min_rt is not None and info.min_runtime_version and min_rt != info.min_runtime_version:
        raise ModelError(f"manifest records tflite_min_runtime_version {min_rt} but the model file says "
                         f"{info.min_runtime_version}: bundle and model disagree")  # fmt: skip
    need = info.min_runtime_version or min_rt or ""
    if need and runtime_tflite:
        try:
            too_new = parse_version(need) > parse_version(runtime_tflite)
        except ValueError:
            raise ModelError(f"model min_runtime_version {need!r} is not a version") from None
        if too_new:
            raise ModelError(f"model needs TFLite runtime {need} or newer; this gateway's {runtime} implements "
                             f"TFLite {runtime_tflite}: upgrade the runtime (pip install -U ai-edge-litert)")  # fmt: skip
