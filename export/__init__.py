"""Export: a trained run -> int8 TFLite (the runtime's model), float TFLite and ONNX, checked by the
release gate and written as one atomic bundle with the ``edge_runtime.manifest`` schema.

    convert.py   model -> bytes (int8/float TFLite, ONNX); quant params read from ai_edge_litert
    gate.py      int8 vs float on held-out windows; parity checks; GateResult
    bundle.py    temp folder + rename; manifest.json + MODEL_CARD.md
    cli.py       aae export

TensorFlow is imported only inside the functions that need it.
"""

from __future__ import annotations

from .bundle import write_bundle
from .convert import (
    Converted,
    ExportError,
    convert_all,
    quant_params,
    to_onnx,
    to_tflite_float,
    to_tflite_int8,
)
from .gate import Check, GateLimits, GateResult, run_gate

__all__ = [
    "Check",
    "Converted",
    "ExportError",
    "GateLimits",
    "GateResult",
    "convert_all",
    "quant_params",
    "run_gate",
    "to_onnx",
    "to_tflite_float",
    "to_tflite_int8",
    "write_bundle",
]
