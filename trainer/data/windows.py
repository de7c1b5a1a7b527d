"""Recordings -> labelled windows, cut with the runtime's own contract (``sliding_windows``).

A window lies entirely inside one labelled bout of one activity, so it never straddles an
activity change, a transition or an unlabelled stretch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge_runtime.contract import WindowSpec, sliding_windows, to_view, window_starts

from ..errors import DatasetError
from .recording import ACTIVITIES, Recording

__all__ = ["WindowSet", "make_windows", "bouts"]


@dataclass(frozen=True)
class WindowSet:
    """Windows with their provenance; every array has one row per window.

    Args:
        x: ``(N, W, C)`` float32 in the view's units (not normalized).
        activity: index into ``ACTIVITIES``.
        subject, trial: ids from the dataset.
        bout: global id of the labelled bout the window came from.
        start: sample index of the window's first sample in its recording.
    """

    spec: WindowSpec
    x: np.ndarray
    activity: np.ndarray
    subject: np.ndarray
    trial: np.ndarray
    bout: np.ndarray
    start: np.ndarray
    dataset: str = ""
    activity_names: tuple[str, ...] = field(default=ACTIVITIES)

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, idx: np.ndarray) -> WindowSet:
        return WindowSet(
            self.spec, self.x[idx], self.activity[idx], self.subject[idx], self.trial[idx],
            self.bout[idx], self.start[idx], self.dataset, self.activity_names,
        )

    @property
    def subjects(self) -> np.ndarray:
        return np.unique(self.subject)

    @property
    def activities(self) -> np.ndarray:
        return np.unique(self.activity)


def bouts(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """``(start, stop, label)`` runs of equal label >= 0 (stop exclusive)."""
    if len(labels) == 0:
        return []
    change = np.flatnonzero(np.diff(labels.astype(np.int16))) + 1
    edges = np.concatenate([[0], change, [len(labels)]])
    return [(int(a), int(b), int(labels[a])) for a, b in zip(edges[:-1], edges[1:], strict=True) if labels[a] >= 0]


def make_windows(recs: list[Recording], spec: WindowSpec) -> WindowSet:
    """Cut every labelled bout of every recording into windows of ``spec``.

    Raises:
        DatasetError: a recording's rate differs from ``spec.rate_hz``, or no window fits.
    """
    xs, acts, subs, trials, bout_ids, starts = [], [], [], [], [], []
    next_bout = 0
    for rec in recs:
        if abs(rec.rate_hz - spec.rate_hz) > 1e-6:
            raise DatasetError(f"{rec.dataset} trial {rec.trial} is {rec.rate_hz} Hz; the window spec needs {spec.rate_hz} Hz")
        view = to_view(rec.samples, spec.view)
        for a, b, label in bouts(rec.labels):
            w = sliding_windows(view[a:b], spec)
            if len(w):
                xs.append(w)
                k = len(w)
                acts.append(np.full(k, label, np.int16))
                subs.append(np.full(k, rec.subject, np.int32))
                trials.append(np.full(k, rec.trial, np.int32))
                bout_ids.append(np.full(k, next_bout, np.int32))
                starts.append(a + np.asarray(window_starts(b - a, spec), np.int32))
            next_bout += 1
    if not xs:
        raise DatasetError(f"no {spec.length}-sample window fits inside any labelled bout")
    return WindowSet(
        spec, np.concatenate(xs), np.concatenate(acts), np.concatenate(subs), np.concatenate(trials),
        np.concatenate(bout_ids), np.concatenate(starts), recs[0].dataset,
    )
