"""Per-channel normalization and int8 (de)quantization; fitted by the trainer, applied at the edge.

The statistics travel in the manifest; the int8 scale/zero point always come from the model
file via the interpreter, never from a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Normalization", "quantize", "dequantize"]


@dataclass(frozen=True)
class Normalization:
    """``z = (x - mean) / std`` per channel.

    Args:
        mean: per-channel mean, in the view's units.
        std: per-channel standard deviation, same units, > 0.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or not self.mean:
            raise ValueError("normalization needs one mean and one std per channel")
        if not all(np.isfinite(self.mean)) or not all(s > 0 and np.isfinite(s) for s in self.std):
            raise ValueError("normalization statistics must be finite with std > 0")

    @classmethod
    def fit(cls, windows: np.ndarray) -> Normalization:
        """Statistics over every sample of ``(..., C)`` training windows."""
        x = np.asarray(windows, dtype=np.float64).reshape(-1, np.shape(windows)[-1])
        std = np.maximum(x.std(axis=0), 1e-6)
        return cls(tuple(float(v) for v in x.mean(axis=0)), tuple(float(v) for v in std))

    def apply(self, x: np.ndarray) -> np.ndarray:
        mean, std = np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32)
        return ((np.asarray(x, np.float32) - mean) / std).astype(np.float32)

    def invert(self, z: np.ndarray) -> np.ndarray:
        mean, std = np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32)
        return (np.asarray(z, np.float32) * std + mean).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalization:
        return cls(tuple(float(v) for v in d["mean"]), tuple(float(v) for v in d["std"]))


def quantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float -> int8 with the model's own input quantization (saturating)."""
    q = np.round(np.asarray(x, np.float32) / np.float32(scale)) + np.float32(zero_point)
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """int8 -> float with the model's own output quantization."""
    return ((np.asarray(q, np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(np.float32)
