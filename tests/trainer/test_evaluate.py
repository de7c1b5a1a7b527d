"""Evaluators on a small real HAPT subset: they must find identity in raw data and lose it when it is gone."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.data import WindowSet
from trainer.evaluate import Attackers, EvalConfig, evaluate, train_raw_attacker
from trainer.evaluators import bout_validation, confusion, f1_scores
from trainer.splits import Splits, make_splits

CFG = EvalConfig.quick()
FAST = EvalConfig.quick(epochs=4)  # enough for the clear-cut cases (constant / leaking release)


@pytest.fixture(scope="module")
def small(hapt_small_windows: WindowSet) -> tuple[WindowSet, Splits]:
    return hapt_small_windows, make_splits(hapt_small_windows, seed=0)


@pytest.fixture(scope="module")
def raw_attacker(small: tuple[WindowSet, Splits]) -> Attackers:
    ws, splits = small
    return train_raw_attacker(ws, splits, CFG)


@pytest.fixture(scope="module")
def raw_result(small: tuple[WindowSet, Splits], raw_attacker: Attackers) -> dict:
    ws, splits = small
    return evaluate(None, ws, splits, cfg=CFG, raw_attacker=raw_attacker)


def test_raw_attacker_beats_chance_on_raw_data(raw_result: dict) -> None:
    ident = raw_result["identity_raw_attacker"]
    assert ident["n_subjects"] == 6 and ident["chance"] == pytest.approx(100 / 6, abs=0.01)
    assert ident["accuracy"] > 2.5 * ident["chance"], ident
    assert raw_result["activity"]["macro_f1"] > 60, raw_result["activity"]
    # on raw data the retrained attacker is the same model, and nothing is distorted
    assert raw_result["identity_retrained_attacker"]["accuracy"] == ident["accuracy"]
    assert raw_result["distortion"]["mse_normalized"] == 0 and raw_result["distortion"]["snr_db"] is None
    m = np.array(raw_result["activity"]["confusion"])
    assert m.sum() == raw_result["activity"]["n_test_windows"]


def _max_share(labels: np.ndarray) -> float:
    return 100.0 * np.bincount(labels).max() / len(labels)


def test_constant_release_drives_identity_and_activity_to_chance(
    small: tuple[WindowSet, Splits], raw_attacker: Attackers
) -> None:
    ws, splits = small
    const = ws.x[splits.util_train].mean(axis=0)

    r = evaluate(lambda x: np.broadcast_to(const, x.shape).copy(), ws, splits, cfg=FAST, raw_attacker=raw_attacker)
    # a constant input yields one prediction, so accuracy is at most the largest class share
    id_share = _max_share(ws.subject[splits.id_test])
    assert r["identity_retrained_attacker"]["accuracy"] <= id_share + 0.01  # results are rounded to 0.01
    assert r["identity_raw_attacker"]["accuracy"] <= id_share + 0.01
    assert r["activity"]["accuracy"] <= _max_share(ws.activity[splits.util_test]) + 0.01
    assert r["activity"]["macro_f1"] < 40
    assert r["distortion"]["mse_normalized"] > 0.5


def test_subject_leaking_release_is_caught_by_the_retrained_attacker(
    small: tuple[WindowSet, Splits], raw_attacker: Attackers
) -> None:
    ws, splits = small
    owner = {w.tobytes(): int(s) for w, s in zip(ws.x, ws.subject, strict=True)}
    base = ws.x[splits.util_train].mean(axis=0)

    def leak(x: np.ndarray) -> np.ndarray:  # flat signal whose level encodes the subject id
        out = np.broadcast_to(base, x.shape).copy()
        out[:, :, 0] += np.array([owner[w.tobytes()] for w in x], np.float32)[:, None]
        return out

    r = evaluate(leak, ws, splits, cfg=FAST, raw_attacker=raw_attacker)
    ret = r["identity_retrained_attacker"]
    assert ret["accuracy"] > 90 and ret["unseen_only"]["accuracy"] > 90, ret
    assert ret["accuracy"] >= r["identity_raw_attacker"]["accuracy"]


def test_activity_f1_is_the_mean_over_seeded_classifiers(small: tuple[WindowSet, Splits]) -> None:
    from trainer.evaluate import _activity

    ws, splits = small
    one = _activity(ws.x, ws, splits, EvalConfig.quick(epochs=3))
    two = _activity(ws.x, ws, splits, EvalConfig.quick(epochs=3, activity_seeds=2))
    assert len(two["macro_f1_runs"]) == 2 and two["macro_f1_runs"][0] == one["macro_f1_runs"][0]  # seed k=0 is shared
    assert two["macro_f1"] == pytest.approx(np.mean(two["macro_f1_runs"]), abs=0.01)
    assert two["macro_f1_sd"] == pytest.approx(np.std(two["macro_f1_runs"], ddof=1), abs=0.01)
    assert one["macro_f1_sd"] is None
    assert np.array(two["confusion"]).sum() == 2 * two["n_test_windows"]  # pooled over both classifiers


def test_transform_must_keep_shape_and_be_finite(small: tuple[WindowSet, Splits], raw_attacker: Attackers) -> None:
    ws, splits = small
    with pytest.raises(ValueError, match="shape"):
        evaluate(lambda x: x[:, ::2], ws, splits, cfg=CFG, raw_attacker=raw_attacker)
    with pytest.raises(ValueError, match="non-finite"):
        evaluate(lambda x: x * np.nan, ws, splits, cfg=CFG, raw_attacker=raw_attacker)


def test_bout_validation_holds_out_whole_bouts_per_class() -> None:
    y = np.repeat([0, 0, 0, 1, 1, 2], 10)
    bout = np.repeat(np.arange(6), 10)
    val = bout_validation(y, bout, 0.4, seed=0)
    assert not set(bout[val]) & set(bout[~val])
    assert set(y[~val]) == {0, 1, 2}  # a class with a single bout is never held out
    assert (val == bout_validation(y, bout, 0.4, seed=0)).all()


def test_confusion_and_f1_against_a_hand_table() -> None:
    classes = np.array([3, 7, 9])
    m = confusion(np.array([3, 3, 7, 7, 9]), np.array([3, 7, 7, 7, 3]), classes)
    np.testing.assert_array_equal(m, [[1, 1, 0], [0, 2, 0], [1, 0, 0]])
    np.testing.assert_allclose(f1_scores(m), [0.5, 0.8, 0.0])


def test_release_windows_gives_a_stream_transform_recording_ids_and_starts() -> None:
    from trainer.evaluate import release_windows, stream_ids

    from .synthetic import planted

    ws = planted(n_subjects=3, windows_per_bout=4)
    seen: dict[str, np.ndarray] = {}

    class Keyed:
        def release(self, x: np.ndarray, *, stream: np.ndarray, start: np.ndarray) -> np.ndarray:
            seen["stream"], seen["start"] = stream, start
            return x + 1.0

    out = release_windows(Keyed(), ws)
    np.testing.assert_allclose(out, ws.x + 1.0)
    np.testing.assert_array_equal(seen["start"], ws.start)
    # one id per recording (subject, trial), the same after subsetting
    assert len(np.unique(seen["stream"])) == len(np.unique(ws.trial))
    idx = np.arange(len(ws))[::3]
    np.testing.assert_array_equal(stream_ids(ws.subset(idx)), seen["stream"][idx])
    np.testing.assert_allclose(release_windows(lambda x: 2 * x, ws), 2 * ws.x)  # a plain callable gets the windows
    np.testing.assert_array_equal(release_windows(None, ws), ws.x)
    with pytest.raises(ValueError, match="shape"):
        release_windows(lambda x: x[:, ::2], ws)


def test_stream_ids_hold_the_ids_of_combined_datasets() -> None:
    """Several datasets load with subjects at 1000 * (k + 1) + s and trials at 10^7 * (k + 1) + t
    (trainer/data/catalog.py): the second dataset's trials are past 2^24 and must still get ids."""
    from dataclasses import replace

    from trainer.evaluate import stream_ids

    from .synthetic import planted

    ws = planted(n_subjects=3, windows_per_bout=2)
    big = replace(ws, subject=ws.subject + 2000, trial=ws.trial + 20_000_000)
    ids = stream_ids(big)
    assert len(np.unique(ids)) == len(np.unique(ws.trial))
    assert not np.isin(ids, stream_ids(ws)).any()
    with pytest.raises(ValueError, match="subject ids"):
        stream_ids(replace(ws, subject=ws.subject + (1 << 16)))
