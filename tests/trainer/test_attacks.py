"""The attack suite finds identity, gender and size planted in synthetic windows, and nothing in a constant release."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from trainer.attacks import attack_suite, identity_attacks, label_bound, session_attack, session_ids
from trainer.data import WindowSet
from trainer.evaluators import EvalConfig
from trainer.rocket import fit_ridge, loso_ridge, rocket_space
from trainer.splits import Splits, make_splits

from .synthetic import planted

CFG = EvalConfig.quick(epochs=12)


@pytest.fixture(scope="module")
def clean() -> tuple[WindowSet, Splits]:
    ws = planted()
    return ws, make_splits(ws, seed=0)


@pytest.fixture(scope="module")
def raw_suite(clean: tuple[WindowSet, Splits]) -> dict:
    ws, splits = clean
    return attack_suite(ws.x, ws, splits, CFG)


def test_suite_finds_planted_identity_gender_and_size(raw_suite: dict) -> None:
    ident = raw_suite["identity"]
    assert ident["n_subjects"] == 8 and ident["chance"] == 12.5
    assert ident["accuracy"] > 90 and ident["accuracy"] == max(a["accuracy"] for a in ident["attackers"].values())
    assert set(ident["attackers"]) == {"cnn_seed0", "minirocket"}
    assert raw_suite["session_identity"]["accuracy"] > 90 and raw_suite["session_identity"]["n_sessions"] == 8
    loso = raw_suite["gender"]["loso"]
    assert loso["window_accuracy"] > 90 and loso["subject_accuracy"] == 100 and loso["majority"]["subjects"] == 50
    assert raw_suite["gender"]["trial_split"]["accuracy"] > 90
    for name in ("height_cm", "weight_kg"):
        assert raw_suite[name]["mae"] < 0.5 * raw_suite[name]["baseline_mae"], raw_suite[name]
    json.dumps(raw_suite, allow_nan=False)  # JSON-ready as it is


def test_constant_release_falls_to_chance(clean: tuple[WindowSet, Splits]) -> None:
    ws, splits = clean
    const = np.broadcast_to(ws.x.mean(axis=0), ws.x.shape).copy()
    r = attack_suite(const, ws, splits, replace(CFG, epochs=3))
    # one input -> one prediction: no attacker beats the largest subject share of the test windows
    share = 100.0 * np.bincount(ws.subject[splits.id_test]).max() / len(splits.id_test)
    assert r["identity"]["accuracy"] <= share + 0.01
    assert r["session_identity"]["accuracy"] <= 100.0 / 8 + 0.01  # one session per subject: one guess for all
    assert r["gender"]["loso"]["window_accuracy"] <= 50.0 + 0.01
    for name in ("height_cm", "weight_kg"):
        assert r[name]["mae"] == pytest.approx(r[name]["baseline_mae"], rel=0.05)


def test_session_vote_beats_single_windows_on_noisy_identity() -> None:
    ws = planted(identity_amp=0.7, noise=1.0, windows_per_bout=12)
    splits = make_splits(ws, seed=0)
    cfg = replace(CFG, session_seconds=20.0)
    space = rocket_space(ws.x, splits.id_train, n_kernels=cfg.rocket_kernels, rank=cfg.rocket_rank, seed=0)
    ident, scores = identity_attacks(ws.x, ws, splits, cfg, space)
    ses = session_attack(scores, ws, splits.id_test, cfg)
    assert ident["accuracy"] < 75  # noisy: single windows are often wrong
    assert ses["accuracy"] >= ident["accuracy"] + 15, (ident["attackers"], ses)


def test_sessions_stay_inside_one_recording_and_the_time_limit(clean: tuple[WindowSet, Splits]) -> None:
    ws, _ = clean
    idx = np.arange(len(ws))
    sid = session_ids(ws, idx, seconds=8.0)
    limit = 8.0 * ws.spec.rate_hz
    for s in np.unique(sid):
        sel = idx[sid == s]
        assert len(np.unique(ws.trial[sel])) == 1 and len(np.unique(ws.subject[sel])) == 1
        assert ws.start[sel].max() + ws.spec.length - ws.start[sel].min() <= limit
    assert len(np.unique(sid)) > len(np.unique(ws.trial))  # 8 s splits each ~28 s recording


def test_label_bound_is_the_best_guess_from_the_label() -> None:
    ws = planted(n_subjects=3)
    # subject 0 did activity 1 more often in training: it is the guess for every activity-1 window
    train = np.flatnonzero((ws.activity == 0) | (ws.subject == 0))
    test = np.flatnonzero(ws.activity == 1)
    assert label_bound(ws, train, test) == pytest.approx(100 / 3, abs=0.01)


def test_ridge_recovers_a_linear_target_and_picks_strength_by_groups() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(400, 20)).astype(np.float32)
    y = z[:, 0] * 3 - z[:, 1] + 0.01 * rng.normal(size=400)
    m = fit_ridge(z, y, np.arange(400) // 40, kind="reg")
    np.testing.assert_allclose(m.predict(z[:5]), y[:5], atol=0.1)
    c = fit_ridge(z, np.where(z[:, 2] > 0, 7, 3), np.arange(400) // 40)
    assert list(c.classes) == [3, 7] and np.mean(c.predict(z) == np.where(z[:, 2] > 0, 7, 3)) > 0.95


def test_loso_never_uses_the_held_out_subjects_labels() -> None:
    rng = np.random.default_rng(1)
    subject = np.repeat(np.arange(5), 30)
    z = rng.normal(size=(150, 8)).astype(np.float32)
    y = z[:, 0] + rng.normal(scale=0.1, size=150)
    before = loso_ridge(z, subject, [(y, "reg")])[0]
    y2 = y.copy()
    y2[subject == 2] += 100.0  # the held-out subject's own labels must not move its predictions
    after = loso_ridge(z, subject, [(y2, "reg")])[0]
    np.testing.assert_allclose(after[subject == 2], before[subject == 2], atol=1e-9)
    assert not np.allclose(after[subject != 2], before[subject != 2])  # the others do see it
