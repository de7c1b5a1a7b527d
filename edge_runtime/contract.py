"""The window contract shared by trainer, export and runtime: one implementation, imported everywhere.

A *recording* is an ``(N, 6)`` float32 array of canonical samples at ``rate_hz``::

    columns: acc_x acc_y acc_z   [m/s², gravity included]
             gyro_x gyro_y gyro_z [rad/s]

A *view* turns canonical samples into the model's channels (``to_view``), and a *window* is
``length`` consecutive view samples, ``(length, channels)``, started every ``stride`` samples.
Trainer and runtime cut windows with the same code, so a model never sees a window shape or
channel order at the edge that it did not see in training.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = [
    "CANONICAL_CHANNELS",
    "CANONICAL_UNITS",
    "G",
    "VIEWS",
    "WindowSpec",
    "to_view",
    "window_starts",
    "sliding_windows",
]

G = 9.80665  # m/s² per g, for sources that report acceleration in g
CANONICAL_CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
CANONICAL_UNITS = ("m/s^2",) * 3 + ("rad/s",) * 3

# view name -> (channel names, units)
VIEWS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "magnitude": (("acc_mag", "gyro_mag"), ("m/s^2", "rad/s")),
    "axes": (CANONICAL_CHANNELS, CANONICAL_UNITS),
}


@dataclass(frozen=True)
class WindowSpec:
    """What one model input is: rate, window length, default stride and channel view.

    Args:
        rate_hz: sample rate the model was trained at [Hz].
        length: samples per window (the paper's W).
        stride: samples between window starts; ``length`` means no overlap.
        view: channel view name, a key of ``VIEWS``.
    """

    rate_hz: float = 50.0
    length: int = 128
    stride: int = 64
    view: str = "magnitude"

    def __post_init__(self) -> None:
        if self.view not in VIEWS:
            raise ValueError(f"unknown channel view {self.view!r}; known: {', '.join(VIEWS)}")
        if not (self.rate_hz > 0 and self.length > 0 and 0 < self.stride):
            raise ValueError(f"window needs rate_hz, length, stride > 0, got {self}")

    @property
    def channels(self) -> tuple[str, ...]:
        return VIEWS[self.view][0]

    @property
    def units(self) -> tuple[str, ...]:
        return VIEWS[self.view][1]

    @property
    def shape(self) -> tuple[int, int]:
        """Model input shape without the batch axis: ``(length, channels)``."""
        return (self.length, len(self.channels))

    def with_stride(self, stride: int) -> WindowSpec:
        return WindowSpec(self.rate_hz, self.length, stride, self.view)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "channels": list(self.channels), "units": list(self.units)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WindowSpec:
        spec = cls(float(d["rate_hz"]), int(d["length"]), int(d["stride"]), str(d["view"]))
        for key in ("channels", "units"):  # derived fields must agree when present
            if key in d and tuple(d[key]) != getattr(spec, key):
                raise ValueError(f"window {key} {d[key]} do not match view {spec.view!r}")
        return spec


def to_view(samples: np.ndarray, view: str) -> np.ndarray:
    """Canonical ``(N, 6)`` samples -> ``(N, C)`` float32 channels of ``view``."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != len(CANONICAL_CHANNELS):
        raise ValueError(f"expected canonical samples of shape (N, 6), got {x.shape}")
    if view == "axes":
        return x
    if view == "magnitude":  # |acc|, |gyro| as ((x² + y²) + z²): few ufunc calls, the live path runs it per frame
        sq = x.reshape(len(x), 2, 3) * x.reshape(len(x), 2, 3)
        out = sq[:, :, 0] + sq[:, :, 1]
        out += sq[:, :, 2]
        return np.sqrt(out, out=out)
    raise ValueError(f"unknown channel view {view!r}; known: {', '.join(VIEWS)}")


def window_starts(n_samples: int, spec: WindowSpec) -> range:
    """Start indices of every whole window in a run of ``n_samples`` contiguous samples."""
    return range(0, max(n_samples - spec.length + 1, 0), spec.stride)


def sliding_windows(x: np.ndarray, spec: WindowSpec) -> np.ndarray:
    """``(N, C)`` contiguous samples -> ``(K, length, C)`` windows (a copy), K = len(window_starts)."""
    starts = window_starts(len(x), spec)
    if len(starts) == 0:
        return np.empty((0, spec.length, x.shape[1]), dtype=x.dtype)
    view = np.lib.stride_tricks.sliding_window_view(x, spec.length, axis=0)  # (N-L+1, C, L)
    return np.ascontiguousarray(view[:: spec.stride].transpose(0, 2, 1))
