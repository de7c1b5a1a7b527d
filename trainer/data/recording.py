"""One canonical recording type for every dataset, with declared units and activity vocabulary."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_runtime.contract import CANONICAL_CHANNELS, CANONICAL_UNITS

from .taxonomy import ACTIVITIES

__all__ = ["ACTIVITIES", "Recording", "SubjectInfo", "SUBJECT_ATTRIBUTES"]

SUBJECT_ATTRIBUTES = ("age", "height_cm", "weight_kg")  # the numeric fields of SubjectInfo


@dataclass(frozen=True)
class SubjectInfo:
    """What a dataset publishes about one person; None where it publishes nothing.

    Args:
        gender: "M" or "F".
        age: years.
        height_cm, weight_kg: body size.
    """

    gender: str | None = None
    age: float | None = None
    height_cm: float | None = None
    weight_kg: float | None = None

    def __post_init__(self) -> None:
        if self.gender not in (None, "M", "F"):
            raise ValueError(f"gender must be 'M', 'F' or None, got {self.gender!r}")


@dataclass(frozen=True)
class Recording:
    """A continuous recording of one subject in one trial.

    Args:
        dataset: dataset name ("hapt", "sisfall", "motionsense").
        subject: subject id as published by the dataset.
        trial: trial/experiment id, unique within the dataset.
        samples: ``(N, 6)`` float32 canonical samples (acc m/s² incl. gravity, gyro rad/s).
        labels: ``(N,)`` int8 index into ``ACTIVITIES`` per sample, -1 where unlabelled.
        rate_hz: sample rate [Hz].
        info: the subject's published attributes, None when the dataset has none.
    """

    dataset: str
    subject: int
    trial: int
    samples: np.ndarray
    labels: np.ndarray
    rate_hz: float = 50.0
    info: SubjectInfo | None = None

    channels = CANONICAL_CHANNELS
    units = CANONICAL_UNITS

    def __post_init__(self) -> None:
        if self.samples.ndim != 2 or self.samples.shape[1] != 6:
            raise ValueError(f"samples must be (N, 6), got {self.samples.shape}")
        if self.labels.shape != (len(self.samples),):
            raise ValueError("labels must have one entry per sample")
