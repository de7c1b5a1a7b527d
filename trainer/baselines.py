"""Non-learned release baselines, as ``transform`` callables for ``trainer.evaluate.evaluate``.

The obvious cheap alternative to an anonymizer is to release less: a lower sample rate. Each
resampling baseline low-passes the window (zero-phase, in the frequency domain, on a mirrored
copy so the window edges do not ring), keeps every k-th sample, and linearly interpolates back
to the original grid, so the same evaluators apply unchanged.

``label_only`` is the other end: a release that carries nothing but the true activity label. No
signal release can be more private at equal activity F1; its identity accuracy is what the label
distribution alone gives away. It needs to know which window it releases, so it is a
``StreamTransform`` (``release(x, *, stream, start)``, see ``trainer.evaluate.release_windows``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["identity", "lowpass", "release_filter", "resample_baseline", "gaussian_noise", "label_only", "LabelOnly", "BASELINE_RATES"]

BASELINE_RATES = (10.0, 5.0)
GATE_SOFTNESS = 5.0  # the motion gate's sigmoid width is tau / GATE_SOFTNESS (shared with trainer.train's graph)  # Hz, the released rates evaluated next to the anonymizer


def identity(x: np.ndarray) -> np.ndarray:
    """Release the raw windows (the no-protection reference)."""
    return np.asarray(x, dtype=np.float32)


def lowpass(x: np.ndarray, rate_hz: float, cutoff_hz: float, *, taper: float = 0.8) -> np.ndarray:
    """Zero-phase low-pass of ``(N, W, C)`` windows along time.

    Gain is 1 up to ``taper * cutoff_hz``, falls as a raised cosine, and is 0 from ``cutoff_hz`` on.
    """
    x = np.asarray(x, dtype=np.float32)
    w = x.shape[1]
    pad = w - 1
    xp = np.pad(x.astype(np.float64), ((0, 0), (pad, pad), (0, 0)), mode="reflect")  # (N, 3W-2, C)
    f = np.fft.rfftfreq(xp.shape[1], d=1.0 / rate_hz)
    lo = taper * cutoff_hz
    gain = np.clip((cutoff_hz - f) / max(cutoff_hz - lo, 1e-9), 0.0, 1.0)
    gain = 0.5 - 0.5 * np.cos(np.pi * gain)  # raised cosine between lo and cutoff
    y = np.fft.irfft(np.fft.rfft(xp, axis=1) * gain[None, :, None], n=xp.shape[1], axis=1)
    return y[:, pad : pad + w].astype(np.float32)


def release_filter(x: np.ndarray, rate_hz: float, cutoff_hz: float, *, center: int | None = 0,
                   keep_static_mad: float = 0.0, value: float = 9.80665) -> np.ndarray:
    """The shipped release filter in numpy (``trainer.model.build_release_filter`` is its int8 graph):
    a zero-phase low-pass of every channel, then on channel ``center`` (|acc|) the window mean moved to
    ``value``, in proportion ``sigmoid((MAD - tau) / (tau / 5))`` of the window's |acc| mean absolute
    deviation when ``keep_static_mad = tau > 0`` (a still window keeps its offset, a moving one loses it)."""
    x = np.asarray(x, dtype=np.float32)
    y = (lowpass(x, rate_hz, cutoff_hz) if cutoff_hz > 0 else x).astype(np.float64)
    if center is not None:
        a = y[:, :, center]
        shift = a.mean(axis=1, keepdims=True) - value
        if keep_static_mad > 0:
            raw = x[:, :, center].astype(np.float64)
            mad = np.abs(raw - raw.mean(axis=1, keepdims=True)).mean(axis=1, keepdims=True)
            shift = shift / (1.0 + np.exp(-(mad - keep_static_mad) / (keep_static_mad / GATE_SOFTNESS)))
        y[:, :, center] = a - shift
    return y.astype(np.float32)


def resample_baseline(rate_hz: float, target_hz: float) -> Callable[[np.ndarray], np.ndarray]:
    """A transform that releases the signal at ``target_hz`` (anti-alias, decimate, interpolate back).

    Raises:
        ValueError: ``rate_hz / target_hz`` is not an integer > 1.
    """
    factor = rate_hz / target_hz
    k = int(round(factor))
    if k < 2 or abs(factor - k) > 1e-9:
        raise ValueError(f"resampling {rate_hz} Hz -> {target_hz} Hz needs an integer factor >= 2")

    def transform(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        w = x.shape[1]
        y = lowpass(x, rate_hz, target_hz / 2.0)
        t_keep = np.arange(0, w, k)
        kept = y[:, t_keep, :]  # (N, ceil(W/k), C): what a target_hz device would send
        t = np.arange(w)
        # linear interpolation along time for every (window, channel) at once
        j = np.clip(np.searchsorted(t_keep, t, side="right") - 1, 0, len(t_keep) - 2)
        frac = np.clip((t - t_keep[j]) / k, 0.0, 1.0).astype(np.float32)[None, :, None]
        return (kept[:, j, :] * (1 - frac) + kept[:, j + 1, :] * frac).astype(np.float32)

    transform.__name__ = f"resample_{target_hz:g}hz"
    return transform


def gaussian_noise(std: Sequence[float], scale: float = 0.5, seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """A transform adding N(0, (scale*std_c)²) noise per channel; deterministic per call order (seeded)."""
    sigma = np.float32(scale) * np.asarray(std, dtype=np.float32)
    rng = np.random.default_rng(seed)

    def transform(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        return (x + rng.standard_normal(x.shape).astype(np.float32) * sigma).astype(np.float32)

    transform.__name__ = f"noise_{scale:g}std"
    return transform


class LabelOnly:
    """Release only the activity label: every sample of every channel = the label's index. Labels are
    looked up by (stream, start). A constant level, not a position: the evaluators' CNNs pool over time,
    so a label written as a time segment (the first encoding) was unreadable for 6+ classes (HAPT's
    label-only F1 read 77 where raw read 85) and the bound this row stands for was not a bound."""

    __name__ = "label_only"

    def __init__(self, ws: Any) -> None:
        from .evaluate import stream_ids

        self.n_classes = len(ws.activity_names)
        self._label = dict(zip(zip(stream_ids(ws).tolist(), ws.start.tolist(), strict=True), ws.activity.tolist(), strict=True))

    def release(self, x: np.ndarray, *, stream: np.ndarray, start: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        try:
            lab = np.array([self._label[k] for k in zip(np.asarray(stream).tolist(), np.asarray(start).tolist(), strict=True)],
                           np.int64)
        except KeyError as exc:
            raise ValueError(f"label_only: window {exc.args[0]} is not in the windows it was built from") from None
        return np.broadcast_to(lab.astype(np.float32)[:, None, None], x.shape).copy()


def label_only(ws: Any) -> LabelOnly:
    """The "activity label only" baseline for the windows of ``ws``."""
    return LabelOnly(ws)
