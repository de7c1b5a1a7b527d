"""Stand-ins for the gate's model and normalization, so a gate check can be judged on a known release."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class KnownModel:
    """A stand-in for the Keras model (``predict``) whose release is ``fn``."""

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray]) -> None:
        self.fn = fn

    def predict(self, z: np.ndarray, batch_size: int = 512, verbose: int = 0) -> np.ndarray:
        return self.fn(z)


class IdentityNorm:
    """Normalization that leaves windows as they are (the releases are written in view units)."""

    def apply(self, x: np.ndarray) -> np.ndarray:
        return x

    def invert(self, z: np.ndarray) -> np.ndarray:
        return z
