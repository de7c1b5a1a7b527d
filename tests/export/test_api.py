"""The public surface is pinned, and importing ``export`` stays light (TensorFlow loads on first use)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import export

ROOT = Path(__file__).resolve().parents[2]


def test_exported_members() -> None:
    assert sorted(export.__all__) == [
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
    for name in export.__all__:
        assert getattr(export, name) is not None


def test_import_does_not_load_tensorflow() -> None:
    code = "import sys, export, export.cli; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-1000:]
