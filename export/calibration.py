"""int8 calibration and parity windows: which real windows set the int8 ranges and pin float to int8.

Calibration is where a quantized anonymizer generalizes or not: ranges set on one dataset saturate on
another, so the calibration set is widened on purpose (``HEADROOM``, ``OFFSETS``) and the gate
measures what that costs.
"""

from __future__ import annotations

import numpy as np

from edge_runtime.normalizer import Normalization

__all__ = ["representative_windows", "parity_windows", "HEADROOM", "OFFSETS"]


def _pick(idx: np.ndarray, n: int, seed: int) -> np.ndarray:
    if len(idx) <= n:
        return np.asarray(idx)
    return np.sort(np.random.default_rng(seed).choice(idx, n, replace=False))


HEADROOM = 1.0  # >1: calibration windows also carry this many times the real windows' excursions (measured: see docs/results.md)
OFFSETS = 1.0  # >0: and copies with each channel's window mean moved by up to this many normalization stds


def representative_windows(
    x: np.ndarray, train_idx: np.ndarray, norm: Normalization, *, n: int = 300, seed: int = 0,
    headroom: float = HEADROOM, offsets: float = OFFSETS,
) -> np.ndarray:
    """``n`` seeded, normalized real training windows (``splits.ae_train``) for int8 calibration, plus
    (``headroom`` > 1) the same windows with their excursions about the window mean scaled by ``headroom``.

    Why: int8 ranges calibrated on one dataset saturate on another (a jogger's |acc| peaks far above a
    walker's); on other people's data the first shipped int8 model read 10 F1 points below its float twin
    although the gate on its own dataset saw 0.1. The wider range costs resolution, which the gate measures.
    ``offsets`` > 0 adds the windows again with each channel's level moved by a seeded uniform shift of up to
    that many stds: another device's calibration offset (SisFall's |acc| offsets spread 5-10x HAPT's) must not
    saturate the tensors that carry a window's level, e.g. the release filter's offset and motion gate.
    """
    real = x[_pick(train_idx, n, seed)]
    out = [norm.apply(real)]
    if headroom > 1.0:
        mean = real.mean(axis=1, keepdims=True)
        out.append(norm.apply((mean + headroom * (real - mean)).astype(np.float32)))
    if offsets > 0:
        shift = np.random.default_rng(seed + 7).uniform(-offsets, offsets, (len(real), 1, real.shape[2]))
        out.append(norm.apply(real) + shift.astype(np.float32))  # in normalized units: stds of each channel
    return np.concatenate(out)


def parity_windows(
    x: np.ndarray, test_idx: np.ndarray, norm: Normalization, *, n: int = 256, seed: int = 1
) -> np.ndarray:
    """``n`` seeded, normalized held-out windows (unseen people) for output parity."""
    return norm.apply(x[_pick(test_idx, n, seed)])
