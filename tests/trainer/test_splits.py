"""Split invariants on real HAPT windows, and ``check_leaks`` catching deliberately leaky splits."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.contract import WindowSpec
from trainer.data import WindowSet, load_windows
from trainer.errors import LeakError
from trainer.splits import Splits, check_leaks, make_splits


@pytest.fixture(scope="module")
def ws(hapt_root: Path) -> WindowSet:
    return load_windows("hapt", hapt_root, WindowSpec(stride=64))


@pytest.fixture(scope="module")
def splits(ws: WindowSet) -> Splits:
    return make_splits(ws, seed=0)


def _keys(ws: WindowSet, idx: np.ndarray) -> set[tuple[int, int, int]]:
    return set(zip(ws.subject[idx].tolist(), ws.trial[idx].tolist(), ws.activity[idx].tolist(), strict=True))


def test_subject_split_sizes_and_determinism(ws: WindowSet, splits: Splits) -> None:
    assert len(splits.test_subjects) == 10 and len(splits.train_subjects) == 20
    assert not set(splits.test_subjects) & set(splits.train_subjects)
    again = make_splits(ws, seed=0)
    assert again.test_subjects == splits.test_subjects
    np.testing.assert_array_equal(again.ae_check, splits.ae_check)
    assert make_splits(ws, seed=1).test_subjects != splits.test_subjects


def test_no_identity_test_trial_is_trained_on(ws: WindowSet, splits: Splits) -> None:
    test_keys = _keys(ws, splits.id_test)
    assert not test_keys & _keys(ws, splits.ae_train)
    assert not test_keys & _keys(ws, splits.id_train)
    # HAPT: trial A is each subject's first experiment, trial B the second
    for s in ws.subjects[:5]:
        sel = np.flatnonzero(ws.subject == s)
        a = np.unique(ws.trial[np.intersect1d(sel, splits.id_train)])
        b = np.unique(ws.trial[np.intersect1d(sel, splits.id_test)])
        assert len(a) == len(b) == 1 and a[0] < b[0]


def test_no_test_subject_in_anonymizer_or_activity_training(ws: WindowSet, splits: Splits) -> None:
    test = set(splits.test_subjects)
    assert not test & set(ws.subject[splits.ae_train].tolist())
    assert not test & set(ws.subject[splits.util_train].tolist())
    assert set(ws.subject[splits.util_test].tolist()) == test
    assert not set(ws.bout[splits.ae_fit].tolist()) & set(ws.bout[splits.ae_check].tolist())


def test_partitions_cover_every_window_once(ws: WindowSet, splits: Splits) -> None:
    n = len(ws)
    for a, b in (("util_train", "util_test"), ("id_train", "id_test")):
        both = np.concatenate([getattr(splits, a), getattr(splits, b)])
        assert len(both) == n and len(np.unique(both)) == n
    assert len(np.union1d(splits.ae_fit, splits.ae_check)) == len(splits.ae_train)
    # every subject can be attacked: it has windows on both sides of the identity split
    assert set(ws.subject[splits.id_train].tolist()) == set(ws.subject[splits.id_test].tolist()) == set(ws.subjects.tolist())


def test_check_leaks_raises_on_leaky_splits(ws: WindowSet, splits: Splits) -> None:
    check_leaks(ws, splits)  # the real split is clean
    test_window = splits.id_test[:1]
    test_subject_window = splits.util_test[:1]
    leaky = {
        "id_train holds an id_test window": replace(splits, id_train=np.concatenate([splits.id_train, test_window])),
        "ae_train holds an id_test window": replace(splits, ae_train=np.concatenate([splits.ae_train, test_window])),
        "ae_train holds an unseen subject": replace(splits, ae_train=np.concatenate([splits.ae_train, test_subject_window])),
        "util sets share a subject": replace(splits, util_train=np.concatenate([splits.util_train, test_subject_window])),
        "subject on both sides": replace(splits, train_subjects=(*splits.train_subjects, splits.test_subjects[0])),
        "ae_fit/ae_check share a bout": replace(splits, ae_check=np.concatenate([splits.ae_check, splits.ae_fit[:1]])),
    }
    for name, s in leaky.items():
        with pytest.raises(LeakError):
            check_leaks(ws, s)
            pytest.fail(f"not caught: {name}")


def test_a_single_trial_is_halved_in_time_without_shared_samples() -> None:
    from .synthetic import planted

    ws = planted(n_subjects=4, windows_per_bout=11, single_trial_activity=1)  # activity 1: trial 0 only
    s = make_splits(ws, seed=0)
    assert sorted(s.time_split) == [(subj, 100 * subj, 1) for subj in range(4)]
    w = ws.spec.length
    for subj in range(4):
        sel = (ws.subject == subj) & (ws.activity == 1)
        a = np.intersect1d(np.flatnonzero(sel), s.id_train)
        b = np.intersect1d(np.flatnonzero(sel), s.id_test)
        assert len(a) == len(b) == 5  # 11 windows: 5 before the cut, 1 across it (dropped), 5 after
        assert ws.start[a].max() + w <= ws.start[b].min()  # every A window ends before any B window starts
        # the other activity keeps the trial split: trial 0 -> A, trial 1 -> B
        other = np.flatnonzero((ws.subject == subj) & (ws.activity == 0))
        assert set(ws.trial[np.intersect1d(other, s.id_test)].tolist()) == {100 * subj + 1}
    assert s.describe()["time_split_trials"] == 4


def test_check_leaks_catches_a_window_overlapping_the_cut() -> None:
    from .synthetic import planted

    ws = planted(n_subjects=4, windows_per_bout=11, single_trial_activity=1)
    s = make_splits(ws, seed=0)
    dropped = np.setdiff1d(np.arange(len(ws)), np.concatenate([s.id_train, s.id_test]))
    assert len(dropped) == 4  # one straddling window per halved trial
    with pytest.raises(LeakError, match="share samples"):
        check_leaks(ws, replace(s, id_train=np.sort(np.concatenate([s.id_train, dropped[:1]]))))
    with pytest.raises(LeakError, match="share samples"):
        check_leaks(ws, replace(s, ae_train=np.sort(np.concatenate([s.ae_train, dropped[:1]]))))
    # without the time-split record the shared trial itself is a leak
    with pytest.raises(LeakError, match="reserved"):
        check_leaks(ws, replace(s, time_split=()))


def test_a_gender_stratified_split_holds_out_both_genders_and_the_default_is_unchanged(ws: WindowSet) -> None:
    from trainer.data.recording import SubjectInfo

    people = sorted(ws.subjects)
    women = set(people[:6])  # 6 of 30: an unstratified third of the people can miss them
    info = {int(s): SubjectInfo(gender="F" if s in women else "M") for s in people}
    wg = replace(ws, subject_info=info)
    # the default draw is exactly the one every earlier run used (runs rebuild their splits from it)
    assert make_splits(wg, seed=3).test_subjects == tuple(sorted(np.random.default_rng(3).choice(np.array(people), 10, replace=False).tolist()))
    plain_f = [sum(s in women for s in make_splits(wg, seed=k).test_subjects) for k in range(20)]
    assert min(plain_f) == 0 or max(plain_f) >= 4  # unstratified, the held-out share of women varies
    for k in range(20):
        s = make_splits(wg, seed=k, stratify="gender")  # check_leaks runs inside
        test = set(s.test_subjects)
        assert len(test & women) == 2 and len(test - women) == 8 and not test & set(s.train_subjects)
    assert make_splits(wg, seed=5, stratify="gender").test_subjects == make_splits(wg, seed=5, stratify="gender").test_subjects
    with pytest.raises(ValueError, match="stratify"):
        make_splits(wg, stratify="age")
