"""Attack suite on released windows: every attacker is retrained on the release itself.

    identity   CNN x ``attack_seeds`` and MiniRocket+ridge, fit on released id_train (trial A of every
               subject), tested on released id_test (trial B); the privacy figure is the MAXIMUM
    session    the same attackers voting over the id_test windows of one recording that fit in
               ``session_seconds`` (sum of per-window probabilities / ridge scores): one guess a session
    gender     trial split (CNN and MiniRocket) and leave-one-subject-out (MiniRocket)  -> attributes.py
    height/weight  leave-one-subject-out ridge regression vs predicting the training mean -> attributes.py

One MiniRocket transform (``trainer.rocket.rocket_space``, fitted on the id_train windows) serves
every ridge attacker of a release. Every number is in percent (accuracy) or the attribute's unit,
with its window/subject counts and chance level.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .data import WindowSet
from .evaluate import stream_ids
from .evaluators import EvalConfig, fit_classifier
from .rocket import RocketSpace, fit_ridge, rocket_space
from .splits import Splits

__all__ = ["attack_suite", "identity_attacks", "session_attack", "session_ids", "label_bound", "pct", "Scores"]

_SEED_ID_CNN = 11  # + 100 * k per seed; fixed offsets keep every attacker reproducible alone


def pct(v: float | np.floating[Any] | None) -> float | None:
    return None if v is None else round(100.0 * float(v), 2)


@dataclass
class Scores:
    """One identity attacker's per-window class scores on the id_test windows (columns = ``classes``)."""

    name: str
    classes: np.ndarray
    scores: np.ndarray  # (n_test, K)


def label_bound(ws: WindowSet, train: np.ndarray, test: np.ndarray) -> float | None:
    """Identity accuracy of the best guess from the activity label alone: per activity, the subject
    with the most training windows of it. What a label-only release gives away at most (trial split)."""
    if len(test) == 0:
        return None
    guess = {}
    for a in np.unique(ws.activity[train]):
        subj, n = np.unique(ws.subject[train][ws.activity[train] == a], return_counts=True)
        guess[int(a)] = int(subj[np.argmax(n)])
    pred = np.array([guess.get(int(a), -1) for a in ws.activity[test]])
    return pct(np.mean(pred == ws.subject[test]))


def identity_attacks(released: np.ndarray, ws: WindowSet, splits: Splits, cfg: EvalConfig,
                     space: RocketSpace) -> tuple[dict[str, Any], list[Scores]]:
    """Window-level identity accuracy of every attacker, and their scores for the session vote."""
    tr, te = splits.id_train, splits.id_test
    truth = ws.subject[te]
    attackers: dict[str, Any] = {}
    scores: list[Scores] = []
    for k in range(max(1, cfg.attack_seeds)):
        clf = fit_classifier(released[tr], ws.subject[tr], ws.bout[tr], cfg, seed_offset=_SEED_ID_CNN + 100 * k)
        p = clf.predict_proba(released[te])
        name = f"cnn_seed{k}"
        attackers[name] = {"accuracy": pct(np.mean(clf.classes[np.argmax(p, axis=1)] == truth)) if len(te) else None,
                           "epochs_run": clf.epochs_run}
        scores.append(Scores(name, clf.classes, p))
    ridge = fit_ridge(space.z[tr], ws.subject[tr], ws.bout[tr], seed=cfg.seed)
    d = ridge.decision(space.z[te])
    assert ridge.classes is not None
    attackers["minirocket"] = {"accuracy": pct(np.mean(ridge.classes[np.argmax(d, axis=1)] == truth)) if len(te) else None,
                               "alpha": float(ridge.alpha[0]), "features": space.describe()}
    scores.append(Scores("minirocket", ridge.classes, d))
    cnn = [v["accuracy"] for n, v in attackers.items() if n.startswith("cnn") and v["accuracy"] is not None]
    best = max(attackers, key=lambda n: attackers[n]["accuracy"] or -1.0)
    n_classes = len(np.unique(ws.subject[tr]))
    out = {
        "accuracy": attackers[best]["accuracy"],  # the privacy figure: the strongest attacker
        "attacker": best,
        "attackers": attackers,
        "cnn_mean": round(float(np.mean(cnn)), 2) if cnn else None,
        "cnn_max": max(cnn) if cnn else None,
        "chance": round(100.0 / max(n_classes, 1), 2),
        "activity_label_bound": label_bound(ws, tr, te),
        "n_subjects": int(n_classes),
        "n_train_windows": int(len(tr)),
        "n_test_windows": int(len(te)),
    }
    return out, scores


def session_ids(ws: WindowSet, idx: np.ndarray, seconds: float) -> np.ndarray:
    """Session number per window of ``idx``: windows of one recording whose samples all fall into
    one stretch of ``seconds`` (anchored at the recording's first window in ``idx``)."""
    if len(idx) == 0:
        return np.empty(0, np.int64)
    stream = stream_ids(ws)[idx]
    start = ws.start[idx].astype(np.int64)
    span = max(int(round(seconds * ws.spec.rate_hz)) - int(ws.spec.length), 1)  # start range; + W = seconds
    uniq, inv = np.unique(stream, return_inverse=True)
    first = np.full(len(uniq), np.iinfo(np.int64).max)
    np.minimum.at(first, inv, start)
    chunk = (start - first[inv]) // span
    _, sid = np.unique(np.stack([inv, chunk], axis=1), axis=0, return_inverse=True)
    return np.asarray(sid.reshape(-1))


def session_attack(scores: list[Scores], ws: WindowSet, test: np.ndarray, cfg: EvalConfig) -> dict[str, Any]:
    """Each session's windows vote (summed scores); one predicted identity per session, per attacker."""
    sid = session_ids(ws, test, cfg.session_seconds)
    n_sessions = int(sid.max()) + 1 if len(sid) else 0
    truth = np.zeros(n_sessions, ws.subject.dtype)
    truth[sid] = ws.subject[test]  # a session never mixes recordings, so never subjects
    attackers: dict[str, Any] = {}
    for sc in scores:
        summed = np.zeros((n_sessions, sc.scores.shape[1]))
        np.add.at(summed, sid, sc.scores)
        attackers[sc.name] = pct(np.mean(sc.classes[np.argmax(summed, axis=1)] == truth)) if n_sessions else None
    best = max(attackers, key=lambda n: attackers[n] or -1.0) if attackers else None
    sizes = np.bincount(sid) if len(sid) else np.zeros(1)
    return {
        "accuracy": attackers.get(best) if best else None,
        "attacker": best,
        "attackers": attackers,
        "n_sessions": n_sessions,
        "windows_per_session": round(float(sizes.mean()), 1),
        "session_seconds": cfg.session_seconds,
        "chance": round(100.0 / max(len(scores[0].classes), 1), 2) if scores else None,
    }


def attack_suite(released: np.ndarray, ws: WindowSet, splits: Splits, cfg: EvalConfig) -> dict[str, Any]:
    """Identity (windows and sessions), gender and body-size attacks on one release of ``ws``."""
    from .attributes import body_attacks

    t0 = time.perf_counter()
    space = rocket_space(released, splits.id_train, n_kernels=cfg.rocket_kernels, rank=cfg.rocket_rank, seed=cfg.seed)
    identity, scores = identity_attacks(released, ws, splits, cfg, space)
    return {
        "identity": identity,
        "session_identity": session_attack(scores, ws, splits.id_test, cfg),
        **body_attacks(ws, space, cfg, released, splits),  # gender, height_cm, weight_kg
        "attack_seconds": round(time.perf_counter() - t0, 1),
    }
