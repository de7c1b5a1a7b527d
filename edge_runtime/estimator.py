"""The on-device activity estimate behind runtime policies: one int8 call on the raw view window.

An estimator bundle (manifest ``labels``, trained by ``aae estimator``) is loaded and checked like an
anonymizer (signature, sha256, op versions, tensor quantization) and normalizes the same way; its
output is one probability per label instead of a window. It never releases anything itself: the
label feeds the views of ``views.py`` (label-only release, delete, dynamic model choice).
"""

from __future__ import annotations

import numpy as np

from .errors import ModelError
from .interpreter import Anonymizer
from .manifest import Manifest

__all__ = ["Estimator"]


class Estimator(Anonymizer):
    """``estimate(window) -> (label, probability)`` on a raw ``(length, C)`` view window.

    Raises:
        ModelError: the bundle is not an estimator, or its output does not hold one value per label.
    """

    def __init__(self, manifest: Manifest, *, num_threads: int = 1) -> None:
        if not manifest.is_estimator:
            raise ModelError(f"bundle {manifest.model_version} is not an activity estimator (its manifest has no labels)")
        if tuple(manifest.output.shape) != (len(manifest.labels),):
            raise ModelError(f"estimator output shape {manifest.output.shape} does not hold one value per label "
                             f"({len(manifest.labels)}: {', '.join(manifest.labels)})")  # fmt: skip
        super().__init__(manifest, num_threads=num_threads)
        self.labels = manifest.labels

    def probabilities(self, window: np.ndarray) -> np.ndarray:
        """``(len(labels),)`` float32 class probabilities."""
        self.prepare(window)
        y = self.invoke()[0]
        if self.quant_out:
            out: np.ndarray = np.subtract(y, self._f_out_zp, dtype=np.float32)
            np.multiply(out, self._f_out_scale, out=out)
            return out
        return np.asarray(y, np.float32)

    def estimate(self, window: np.ndarray) -> tuple[str, float]:
        """The most probable label and its probability (argmax on the int8 output: dequantizing is
        monotonic, so only the winner is converted)."""
        self.prepare(window)
        y = self.invoke()[0]
        k = int(y.argmax())  # the method: np.argmax's Python wrapper costs as much as the search
        p = (float(y[k]) - self.out_zp) * self.out_scale if self.quant_out else float(y[k])
        return self.labels[k], p
