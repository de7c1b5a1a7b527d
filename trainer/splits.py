"""Leak-free splits for the anonymizer, its regularizers and the evaluators.

Subjects are split into *train* and *test* (unseen) people; each subject's trials into A and B
per activity. An activity a subject performed in ONE trial only (SisFall's 100 s walks when the
other walk is missing, a dataset with one long session) is split in time instead: the first half of
its windows is A, the second half B, and the windows that straddle the cut are dropped, so no
sample is on both sides. Then:

    ae_train    train subjects, trial A      the AAE and every regularizer (EncReg/DecReg/ActReg)
    ae_fit/ae_check  bout-level halves of ae_train, for the in-training attacker check
    util_train  train subjects, all trials   activity evaluator fit  (on released windows)
    util_test   test subjects, all trials    activity evaluator test (people the AAE never saw)
    id_train    every subject, trial A       identity attacker fit
    id_test     every subject, trial B       identity attacker test (trials nothing was trained on)

``check_leaks`` proves the invariants on the actual index arrays and raises ``LeakError``; that
includes no shared *sample* between a training window and an identity-test window of one recording.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .data import WindowSet
from .errors import LeakError

__all__ = ["Splits", "make_splits", "check_leaks", "held_out"]


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
    time_split: tuple[tuple[int, int, int], ...] = ()  # (subject, trial, activity) halved in time

    def describe(self) -> dict[str, object]:
        return {
            "train_subjects": list(self.train_subjects),
            "test_subjects": list(self.test_subjects),
            **{k: int(len(getattr(self, k))) for k in ("ae_train", "ae_fit", "ae_check", "util_train", "util_test", "id_train", "id_test")},
            "time_split_trials": len(self.time_split),
        }


def _trial_masks(ws: WindowSet) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int]]]:
    """Per (subject, activity): the first half of its trials (sorted by id) is A, the rest B; a
    single trial is cut in time at its median window centre (windows across the cut belong to neither)."""
    a_mask = np.zeros(len(ws), dtype=bool)
    b_mask = np.zeros(len(ws), dtype=bool)
    halved: list[tuple[int, int, int]] = []
    w = ws.spec.length
    for s in ws.subjects:
        for a in ws.activities:
            sel = (ws.subject == s) & (ws.activity == a)
            trials = np.unique(ws.trial[sel])
            if len(trials) == 0:
                continue
            if len(trials) == 1 and sel.sum() >= 2:
                cut = int(round(float(np.median(ws.start[sel].astype(np.float64) + w / 2))))  # median window centre
                a_mask |= sel & (ws.start.astype(np.int64) + w <= cut)
                b_mask |= sel & (ws.start >= cut)
                halved.append((int(s), int(trials[0]), int(a)))
                continue
            a_trials = trials[: max(1, (len(trials) + 1) // 2)]
            in_a = sel & np.isin(ws.trial, a_trials)
            a_mask |= in_a
            b_mask |= sel & ~in_a
    return a_mask, b_mask, halved


def held_out(groups: Iterable[np.ndarray], fraction: float, rng: np.random.Generator) -> list[int]:
    """``fraction`` of each group's people drawn with ``rng``, in group order: at least one of a group
    of two or more, never a whole group (the generator's split and the stratified one below)."""
    test: list[int] = []
    for people in groups:
        k = min(len(people) - 1, max(1, round(len(people) * fraction))) if len(people) > 1 else 0
        test += [int(s) for s in rng.choice(people, size=k, replace=False)]
    return test


def _stratified(ws: WindowSet, subjects: np.ndarray, test_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Test people drawn per (dataset, gender) group, each group's share ``test_fraction``
    (``held_out``), so a held-out set of a few people is not all one gender."""
    uniq, first = np.unique(ws.subject, return_index=True)  # one window of each person
    dsets, genders = ws.dataset_of()[first], ws.gender()[first]
    groups: dict[tuple[str, str], list[int]] = {}
    for s, d, g in zip(uniq.tolist(), dsets.tolist(), genders.tolist(), strict=True):
        groups.setdefault((str(d), str(g)), []).append(int(s))
    test = held_out((np.array(groups[key]) for key in sorted(groups)), test_fraction, rng)
    return np.sort(np.array(test or [int(rng.choice(subjects))]))


def make_splits(ws: WindowSet, *, test_fraction: float = 1 / 3, seed: int = 0, check_fraction: float = 0.25,
                stratify: str = "") -> Splits:  # fmt: skip
    """Seeded subject split + per-activity trial split; see the module docstring.

    ``stratify="gender"``: test people drawn per (dataset, gender) group (``_stratified``); "" (the
    default, and what every earlier run used) draws them from all people at once. A run records its
    choice (``split_stratify``) so that its split can be rebuilt exactly: changing how an old run's
    split is drawn would put its training people into its test set."""
    if stratify not in ("", "gender"):
        raise ValueError(f"stratify must be '' or 'gender', got {stratify!r}")
    rng = np.random.default_rng(seed)
    subjects = np.array(sorted(ws.subjects))
    if stratify:
        test = _stratified(ws, subjects, test_fraction, rng)
    else:
        n_test = max(1, round(len(subjects) * test_fraction))
        test = np.sort(rng.choice(subjects, size=n_test, replace=False))
    train = np.setdiff1d(subjects, test)
    is_train_subj = np.isin(ws.subject, train)
    trial_a, trial_b, halved = _trial_masks(ws)
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
        id_test=idx[trial_b],
        time_split=tuple(halved),
    )
    check_leaks(ws, s)
    return s


def _overlapping(ws: WindowSet, train: np.ndarray, test: np.ndarray) -> int:
    """How many ``test`` windows share a sample with a ``train`` window of the same recording."""
    if len(train) == 0 or len(test) == 0:
        return 0
    w = int(ws.spec.length)
    pairs = np.stack([ws.subject.astype(np.int64), ws.trial.astype(np.int64)], axis=1)
    _, rec = np.unique(pairs, axis=0, return_inverse=True)
    span = int(ws.start.max()) + 2 * w + 1  # one recording's starts never reach the next one's block
    key = rec.reshape(-1).astype(np.int64) * span + ws.start.astype(np.int64)
    tr = np.sort(key[train])
    u = key[test]
    pos = np.searchsorted(tr, u - w + 1, side="left")  # first train start > u - w
    hit = pos < len(tr)
    hit[hit] = tr[pos[hit]] < u[hit] + w
    return int(hit.sum())


def check_leaks(ws: WindowSet, s: Splits) -> None:
    """Raise ``LeakError`` if any test window (or any window of a test trial) is in a training set,
    or a training window shares a sample with an identity-test window."""
    test_subj = set(s.test_subjects)
    if test_subj & set(s.train_subjects):
        raise LeakError("a subject is both in the train and the test split")
    if test_subj & set(ws.subject[s.ae_train].tolist()):
        raise LeakError("an unseen (test) subject has windows in the anonymizer's training set")
    # trial level: no (subject, trial, activity) of the identity test set may be trained on, except
    # the single trials split in time (for those, the sample check below is the guard)
    halved = set(s.time_split)
    id_test_keys = set(zip(ws.subject[s.id_test].tolist(), ws.trial[s.id_test].tolist(), ws.activity[s.id_test].tolist(), strict=True))
    for name in ("ae_train", "id_train"):
        idx = getattr(s, name)
        keys = set(zip(ws.subject[idx].tolist(), ws.trial[idx].tolist(), ws.activity[idx].tolist(), strict=True))
        if (keys & id_test_keys) - halved:
            raise LeakError(f"{name} holds windows of a trial reserved for the identity test")
        n = _overlapping(ws, idx, s.id_test)
        if n:
            raise LeakError(f"{n} identity-test windows share samples with {name} windows of the same recording")
    if set(ws.bout[s.ae_fit].tolist()) & set(ws.bout[s.ae_check].tolist()):
        raise LeakError("ae_fit and ae_check share a bout")
    if set(ws.subject[s.util_train].tolist()) & set(ws.subject[s.util_test].tolist()):
        raise LeakError("activity evaluator train and test share a subject")
    for a, b in (("ae_train", "id_test"), ("id_train", "id_test"), ("util_train", "util_test")):
        if np.intersect1d(getattr(s, a), getattr(s, b)).size:
            raise LeakError(f"windows shared between {a} and {b}")
