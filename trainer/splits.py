"""Leak-free splits for the anonymizer, its regularizers and the evaluators.

Subjects are split into *train* and *test* (unseen) people; each subject's trials into A and B
per activity. Then:

    ae_train    train subjects, trial A      the AAE and every regularizer (EncReg/DecReg/ActReg)
    ae_fit/ae_check  bout-level halves of ae_train, for the in-training attacker check
    util_train  train subjects, all trials   activity evaluator fit  (on released windows)
    util_test   test subjects, all trials    activity evaluator test (people the AAE never saw)
    id_train    every subject, trial A       identity attacker fit
    id_test     every subject, trial B       identity attacker test (trials nothing was trained on)

``check_leaks`` proves the invariants on the actual index arrays and raises ``LeakError``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import WindowSet
from .errors import LeakError

__all__ = ["Splits", "make_splits", "check_leaks"]


@dataclass(frozen=True)
class Splits:
    train_subjects: tuple[int, ...]
    test_subjects: tuple[int, ...]
    trial_a: np.ndarray  # bool per window: the window's (subject, activity, trial) is in trial set A
    ae_train: np.ndarray
    ae_fit: np.ndarray
    ae_check: np.ndarray
    util_train: np.ndarray
    util_test: np.ndarray
    id_train: np.ndarray
    id_test: np.ndarray

    def describe(self) -> dict[str, object]:
        return {
            "train_subjects": list(self.train_subjects),
            "test_subjects": list(self.test_subjects),
            **{k: int(len(getattr(self, k))) for k in ("ae_train", "ae_fit", "ae_check", "util_train", "util_test", "id_train", "id_test")},
        }


def _trial_a_mask(ws: WindowSet) -> np.ndarray:
    """Per (subject, activity): the first half of its trials (sorted by id) is A, the rest B."""
    mask = np.zeros(len(ws), dtype=bool)
    for s in ws.subjects:
        for a in ws.activities:
            sel = (ws.subject == s) & (ws.activity == a)
            trials = np.unique(ws.trial[sel])
            if len(trials) == 0:
                continue
            a_trials = trials[: max(1, (len(trials) + 1) // 2)]
            mask |= sel & np.isin(ws.trial, a_trials)
    return mask


def make_splits(ws: WindowSet, *, test_fraction: float = 1 / 3, seed: int = 0, check_fraction: float = 0.25) -> Splits:
    """Seeded subject split + per-activity trial split; see the module docstring."""
    rng = np.random.default_rng(seed)
    subjects = np.array(sorted(ws.subjects))
    n_test = max(1, round(len(subjects) * test_fraction))
    test = np.sort(rng.choice(subjects, size=n_test, replace=False))
    train = np.setdiff1d(subjects, test)
    is_train_subj = np.isin(ws.subject, train)
    trial_a = _trial_a_mask(ws)
    ae_train = np.flatnonzero(is_train_subj & trial_a)
    bouts = np.unique(ws.bout[ae_train])
    check_bouts = rng.choice(bouts, size=max(1, round(len(bouts) * check_fraction)), replace=False)
    in_check = np.isin(ws.bout[ae_train], check_bouts)
    idx = np.arange(len(ws))
    s = Splits(
        train_subjects=tuple(int(v) for v in train),
        test_subjects=tuple(int(v) for v in test),
        trial_a=trial_a,
        ae_train=ae_train,
        ae_fit=ae_train[~in_check],
        ae_check=ae_train[in_check],
        util_train=idx[is_train_subj],
        util_test=idx[~is_train_subj],
        id_train=idx[trial_a],
        id_test=idx[~trial_a],
    )
    check_leaks(ws, s)
    return s


def _keys(ws: WindowSet, idx: np.ndarray) -> set[tuple[int, int]]:
    return set(zip(ws.subject[idx].tolist(), ws.trial[idx].tolist(), strict=True))


def check_leaks(ws: WindowSet, s: Splits) -> None:
    """Raise ``LeakError`` if any test window (or any window of a test trial) is in a training set."""
    test_subj = set(s.test_subjects)
    if test_subj & set(s.train_subjects):
        raise LeakError("a subject is both in the train and the test split")
    if test_subj & set(ws.subject[s.ae_train].tolist()):
        raise LeakError("an unseen (test) subject has windows in the anonymizer's training set")
    # trial level: no (subject, trial, activity) of the identity test set may be trained on
    id_test_keys = {(a, b, c) for a, b, c in zip(ws.subject[s.id_test], ws.trial[s.id_test], ws.activity[s.id_test], strict=True)}
    for name in ("ae_train", "id_train"):
        idx = getattr(s, name)
        keys = set(zip(ws.subject[idx], ws.trial[idx], ws.activity[idx], strict=True))
        if keys & id_test_keys:
            raise LeakError(f"{name} holds windows of a trial reserved for the identity test")
    if set(ws.bout[s.ae_fit].tolist()) & set(ws.bout[s.ae_check].tolist()):
        raise LeakError("ae_fit and ae_check share a bout")
    if set(ws.subject[s.util_train].tolist()) & set(ws.subject[s.util_test].tolist()):
        raise LeakError("activity evaluator train and test share a subject")
    for a, b in (("ae_train", "id_test"), ("id_train", "id_test"), ("util_train", "util_test")):
        if np.intersect1d(getattr(s, a), getattr(s, b)).size:
            raise LeakError(f"windows shared between {a} and {b}")
