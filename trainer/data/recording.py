"""One canonical recording type for every dataset, with declared units and activity vocabulary."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_runtime.contract import CANONICAL_CHANNELS, CANONICAL_UNITS

__all__ = ["ACTIVITIES", "Recording"]

# One activity vocabulary across datasets; labels are indices into it, -1 = unlabelled/excluded.
ACTIVITIES = ("walking", "upstairs", "downstairs", "sitting", "standing", "laying", "jogging")


@dataclass(frozen=True)
class Recording:
    """A continuous recording of one subject in one trial.

    Args:
        dataset: dataset name ("hapt", "motionsense").
        subject: subject id as published by the dataset.
        trial: trial/experiment id, unique within the dataset.
        samples: ``(N, 6)`` float32 canonical samples (acc m/s² incl. gravity, gyro rad/s).
        labels: ``(N,)`` int8 index into ``ACTIVITIES`` per sample, -1 where unlabelled.
        rate_hz: sample rate [Hz].
    """

    dataset: str
    subject: int
    trial: int
    samples: np.ndarray
    labels: np.ndarray
    rate_hz: float = 50.0

    channels = CANONICAL_CHANNELS
    units = CANONICAL_UNITS

    def __post_init__(self) -> None:
        if self.samples.ndim != 2 or self.samples.shape[1] != 6:
            raise ValueError(f"samples must be (N, 6), got {self.samples.shape}")
        if self.labels.shape != (len(self.samples),):
            raise ValueError("labels must have one entry per sample")
