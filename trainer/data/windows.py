"""Recordings -> labelled windows, cut with the runtime's own contract (``sliding_windows``).

A window lies entirely inside one labelled bout of one *fine* activity, so it never straddles an
activity change, a transition or an unlabelled stretch. The coarse taxonomy relabels the same
windows (plus any the loader labelled only for it, e.g. HAPT transitions); it cuts nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge_runtime.contract import WindowSpec, sliding_windows, to_view, window_starts

from ..errors import DatasetError
from .recording import ACTIVITIES, SUBJECT_ATTRIBUTES, Recording, SubjectInfo
from .taxonomy import activity_names, relabel

__all__ = ["WindowSet", "make_windows", "bouts"]


@dataclass(frozen=True)
class WindowSet:
    """Windows with their provenance; every array has one row per window.

    Args:
        x: ``(N, W, C)`` float32 in the view's units (not normalized).
        activity: index into ``activity_names``.
        subject, trial: ids from the dataset (made unique across datasets by ``load_windows``).
        bout: global id of the labelled bout the window came from.
        start: sample index of the window's first sample in its recording.
        dataset: the dataset's name, or the names joined by "+" when several are mixed.
        origin: int16 index into ``datasets`` per window (None: all from ``dataset``).
        subject_info: published attributes per subject id (as in ``subject``); absent = unknown.
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
    origin: np.ndarray | None = None
    datasets: tuple[str, ...] = ()
    subject_info: dict[int, SubjectInfo] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, idx: np.ndarray) -> WindowSet:
        return WindowSet(
            self.spec, self.x[idx], self.activity[idx], self.subject[idx], self.trial[idx],
            self.bout[idx], self.start[idx], self.dataset, self.activity_names,
            None if self.origin is None else self.origin[idx], self.datasets, self.subject_info,
        )

    @property
    def subjects(self) -> np.ndarray:
        return np.unique(self.subject)

    @property
    def activities(self) -> np.ndarray:
        return np.unique(self.activity)

    def _info(self, s: int) -> SubjectInfo:
        return self.subject_info.get(int(s)) or SubjectInfo()

    def gender(self) -> np.ndarray:
        """Per-window "M"/"F", "" where the dataset publishes no gender."""
        uniq, inv = np.unique(self.subject, return_inverse=True)
        return np.array([self._info(s).gender or "" for s in uniq], dtype="<U1")[inv]

    def attribute(self, name: str) -> np.ndarray:
        """Per-window float64 ``age``, ``height_cm`` or ``weight_kg``; nan where unknown."""
        if name not in SUBJECT_ATTRIBUTES:
            raise ValueError(f"unknown subject attribute {name!r}; known: {', '.join(SUBJECT_ATTRIBUTES)}")
        uniq, inv = np.unique(self.subject, return_inverse=True)
        values = [getattr(self._info(s), name) for s in uniq]
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)[inv]

    def dataset_of(self) -> np.ndarray:
        """Per-window dataset name."""
        if self.origin is None or not self.datasets:
            return np.full(len(self), self.dataset)
        names = np.asarray(self.datasets)
        out: np.ndarray = names[self.origin]
        return out


def bouts(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """``(start, stop, label)`` runs of equal label >= 0 (stop exclusive)."""
    if len(labels) == 0:
        return []
    change = np.flatnonzero(np.diff(labels.astype(np.int16))) + 1
    edges = np.concatenate([[0], change, [len(labels)]])
    return [(int(a), int(b), int(labels[a])) for a, b in zip(edges[:-1], edges[1:], strict=True) if labels[a] >= 0]


def _subject_info(recs: list[Recording]) -> dict[int, SubjectInfo]:
    """Attributes per subject id; one id in two datasets, or with two attribute sets, is an error."""
    info: dict[int, SubjectInfo] = {}
    owner: dict[int, str] = {}
    for rec in recs:
        if owner.setdefault(rec.subject, rec.dataset) != rec.dataset:
            raise DatasetError(
                f"subject id {rec.subject} is in {owner[rec.subject]} and {rec.dataset}; "
                "load several datasets with load_windows, which makes ids unique"
            )
        if rec.info is not None and info.setdefault(rec.subject, rec.info) != rec.info:
            raise DatasetError(f"{rec.dataset} subject {rec.subject} has two different attribute sets")
    return info


def make_windows(recs: list[Recording], spec: WindowSpec, *, taxonomy: str = "fine") -> WindowSet:
    """Cut every labelled bout of every recording into windows of ``spec``.

    Bouts are runs of one fine label; ``taxonomy="coarse"`` then relabels each window into
    ``COARSE_ACTIVITIES`` (the windows themselves are the same).

    Raises:
        DatasetError: a recording's rate differs from ``spec.rate_hz``, ids collide, or no window fits.
    """
    names = activity_names(taxonomy)
    datasets = tuple(dict.fromkeys(r.dataset for r in recs))
    subject_info = _subject_info(recs)
    xs, acts, subs, trials, bout_ids, starts, origins = [], [], [], [], [], [], []
    next_bout = 0
    for rec in recs:
        if abs(rec.rate_hz - spec.rate_hz) > 1e-6:
            raise DatasetError(f"{rec.dataset} trial {rec.trial} is {rec.rate_hz} Hz; the window spec needs {spec.rate_hz} Hz")
        view = to_view(rec.samples, spec.view)
        runs = bouts(rec.labels)
        labels = relabel(np.array([lab for _, _, lab in runs], np.int16), taxonomy)
        for (a, b, _), label in zip(runs, labels, strict=True):
            w = sliding_windows(view[a:b], spec)
            if len(w):
                xs.append(w)
                k = len(w)
                acts.append(np.full(k, label, np.int16))
                subs.append(np.full(k, rec.subject, np.int32))
                trials.append(np.full(k, rec.trial, np.int32))
                bout_ids.append(np.full(k, next_bout, np.int32))
                starts.append(a + np.asarray(window_starts(b - a, spec), np.int32))
                origins.append(np.full(k, datasets.index(rec.dataset), np.int16))
            next_bout += 1
    if not xs:
        raise DatasetError(f"no {spec.length}-sample window fits inside any labelled bout")
    return WindowSet(
        spec, np.concatenate(xs), np.concatenate(acts), np.concatenate(subs), np.concatenate(trials),
        np.concatenate(bout_ids), np.concatenate(starts), "+".join(datasets), names,
        np.concatenate(origins), datasets, subject_info,
    )
