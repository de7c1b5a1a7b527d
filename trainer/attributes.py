"""Attribute attacks on released windows: gender (trial split and leave-one-subject-out) and body size.

    gender, trial split   CNN and MiniRocket+ridge fit on released id_train windows of every subject
                          with a known gender, tested on their id_test windows (same people, other trials)
    gender, LOSO          per subject: ridge fit on every window of the OTHER subjects, predicts this one
                          (the honest question: does a release tell the gender of a stranger?)
    height_cm, weight_kg  LOSO ridge regression; its MAE next to predicting the training mean

Window accuracy, subject accuracy (majority vote over the subject's windows) and the majority-class
rates are reported; LOSO strengths are cross-validated over the training subjects only (nested).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .attacks import pct
from .data import WindowSet
from .evaluators import EvalConfig, fit_classifier
from .rocket import RocketSpace, fit_ridge, loso_ridge
from .splits import Splits

__all__ = ["gender_attacks", "body_attacks", "BODY_ATTRIBUTES"]

BODY_ATTRIBUTES = ("height_cm", "weight_kg")
_SEED_GENDER_CNN = 21
_MIN_LOSO_SUBJECTS = 3


def _genders(ws: WindowSet) -> np.ndarray:
    return np.asarray(ws.gender()) if hasattr(ws, "gender") else np.full(len(ws), "")


def _attribute(ws: WindowSet, name: str) -> np.ndarray:
    return np.asarray(ws.attribute(name), np.float64) if hasattr(ws, "attribute") else np.full(len(ws), np.nan)


def _vote(pred: np.ndarray, subject: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per subject (sorted): the majority of its window predictions."""
    subs = np.unique(subject)
    return subs, np.array([np.bincount(pred[subject == s]).argmax() for s in subs])


def _scored(pred: np.ndarray, truth: np.ndarray, subject: np.ndarray) -> dict[str, Any]:
    subs, voted = _vote(pred, subject)
    per_subject_truth = np.array([truth[subject == s][0] for s in subs])
    return {"window_accuracy": pct(np.mean(pred == truth)), "subject_accuracy": pct(np.mean(voted == per_subject_truth)),
            "n_windows": int(len(truth)), "n_subjects": int(len(subs))}


def _majority(truth: np.ndarray, subject: np.ndarray) -> dict[str, float | None]:
    """The rate of always guessing the most common class, over windows and over subjects."""
    subs = np.unique(subject)
    per_subject = np.array([truth[subject == s][0] for s in subs])
    return {"windows": pct(np.bincount(truth).max() / len(truth)), "subjects": pct(np.bincount(per_subject).max() / len(subs))}


def _prior(truth: np.ndarray, subject: np.ndarray) -> dict[str, float | None]:
    """LOSO's no-information attacker: each subject gets the majority of the OTHER subjects' windows.
    With near-balanced classes it scores below the majority rate (leaving one out tips the balance)."""
    guess = np.empty(len(truth), truth.dtype)
    for s in np.unique(subject):
        guess[subject == s] = np.bincount(truth[subject != s], minlength=2).argmax()
    return {"windows": pct(np.mean(guess == truth)), **{k: v for k, v in _scored(guess, truth, subject).items()
                                                        if k == "subject_accuracy"}}


def _trial_split(released: np.ndarray, ws: WindowSet, splits: Splits, cfg: EvalConfig, space: RocketSpace,
                 code: np.ndarray, known: np.ndarray) -> dict[str, Any]:
    tr, te = splits.id_train[known[splits.id_train]], splits.id_test[known[splits.id_test]]
    if len(np.unique(code[tr])) < 2 or len(te) == 0:
        return {"skipped": "the identity-training windows hold one gender only, or there is no test window"}
    cnn = fit_classifier(released[tr], code[tr], ws.bout[tr], cfg, seed_offset=_SEED_GENDER_CNN)
    ridge = fit_ridge(space.z[tr], code[tr], ws.bout[tr], seed=cfg.seed)
    attackers = {"cnn": _scored(cnn.predict(released[te]), code[te], ws.subject[te]),
                 "minirocket": _scored(ridge.predict(space.z[te]), code[te], ws.subject[te])}
    best = max(attackers, key=lambda n: attackers[n]["window_accuracy"] or -1.0)
    return {"accuracy": attackers[best]["window_accuracy"], "attacker": best, "attackers": attackers,
            "majority": _majority(code[te], ws.subject[te]), "n_train_windows": int(len(tr)), "n_test_windows": int(len(te))}


def _loso_targets(ws: WindowSet, code: np.ndarray, known_gender: bool) -> dict[str, tuple[np.ndarray, str, np.ndarray]]:
    """name -> (per-window target, kind, known mask) of every LOSO target with enough subjects."""
    out: dict[str, tuple[np.ndarray, str, np.ndarray]] = {}
    g = _genders(ws)
    if known_gender:
        out["gender"] = (code, "class", g != "")
    for name in BODY_ATTRIBUTES:
        v = _attribute(ws, name)
        if len(np.unique(ws.subject[np.isfinite(v)])) >= _MIN_LOSO_SUBJECTS:
            out[name] = (v, "reg", np.isfinite(v))
    return out


def _loso_all(ws: WindowSet, space: RocketSpace, targets: dict[str, tuple[np.ndarray, str, np.ndarray]],
              seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Out-of-subject predictions per target; targets known on the same windows share one LOSO pass."""
    groups: dict[bytes, list[str]] = {}
    for name, (_, _, mask) in targets.items():
        groups.setdefault(np.packbits(mask).tobytes(), []).append(name)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for names in groups.values():
        idx = np.flatnonzero(targets[names[0]][2])
        preds = loso_ridge(space.z[idx], ws.subject[idx], [(targets[n][0][idx], targets[n][1]) for n in names], seed=seed)
        for n, p in zip(names, preds, strict=True):
            if targets[n][1] == "class":
                p = np.unique(targets[n][0][idx])[np.argmax(p, axis=1)]
            out[n] = (idx, p)
    return out


def _regression(idx: np.ndarray, pred: np.ndarray, y: np.ndarray, subject: np.ndarray) -> dict[str, Any]:
    subs = np.unique(subject)
    truth = np.array([y[subject == s][0] for s in subs])
    sub_pred = np.array([pred[subject == s].mean() for s in subs])
    # the no-information attacker: the mean over the other subjects' windows
    base = np.array([y[subject != s].mean() for s in subs])
    base_w = base[np.searchsorted(subs, subject)]
    return {
        "mae": round(float(np.mean(np.abs(sub_pred - truth))), 2),
        "baseline_mae": round(float(np.mean(np.abs(base - truth))), 2),
        "mae_windows": round(float(np.mean(np.abs(pred - y))), 2),
        "baseline_mae_windows": round(float(np.mean(np.abs(base_w - y))), 2),
        "attacker": "minirocket (LOSO ridge)",
        "n_windows": int(len(idx)),
        "n_subjects": int(len(subs)),
        "range": [round(float(truth.min()), 1), round(float(truth.max()), 1)],
    }


def gender_attacks(released: np.ndarray, ws: WindowSet, splits: Splits, cfg: EvalConfig, space: RocketSpace,
                   loso: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> dict[str, Any]:
    """Gender by trial split and by LOSO; ``{"skipped": reason}`` where fewer than 2 genders are known."""
    g = _genders(ws)
    known = g != ""
    names = np.unique(g[known])
    n_known = len(np.unique(ws.subject[known]))
    if len(names) < 2 or n_known < _MIN_LOSO_SUBJECTS:
        return {"skipped": f"fewer than 2 genders known ({n_known} subjects with a gender in {ws.dataset or 'the data'})"}
    code = np.where(known, np.searchsorted(names, g), -1)
    if loso is None:
        loso = _loso_all(ws, space, {"gender": (code, "class", known)}, cfg.seed)
    idx, pred = loso["gender"]
    return {
        "classes": [str(n) for n in names],
        "trial_split": _trial_split(released, ws, splits, cfg, space, code, known),
        "loso": {**_scored(pred, code[idx], ws.subject[idx]), "attacker": "minirocket (LOSO ridge)",
                 "majority": _majority(code[idx], ws.subject[idx]), "prior_guess": _prior(code[idx], ws.subject[idx])},
    }


def body_attacks(ws: WindowSet, space: RocketSpace, cfg: EvalConfig, released: np.ndarray | None = None,
                 splits: Splits | None = None) -> dict[str, Any]:
    """``{"gender": ..., "height_cm": ..., "weight_kg": ...}``: one LOSO pass shared by every target
    known on the same windows; gender needs ``released`` and ``splits`` (its trial split), else it is left out."""
    g = _genders(ws)
    names = np.unique(g[g != ""])
    code = np.where(g != "", np.searchsorted(names, g), -1)
    targets = _loso_targets(ws, code, known_gender=len(names) >= 2)
    loso = _loso_all(ws, space, targets, cfg.seed)
    out: dict[str, Any] = {}
    if released is not None and splits is not None:
        out["gender"] = gender_attacks(released, ws, splits, cfg, space, loso if "gender" in loso else None)
    for name in BODY_ATTRIBUTES:
        if name not in loso:
            out[name] = {"skipped": f"fewer than {_MIN_LOSO_SUBJECTS} subjects with a known {name}"}
            continue
        idx, pred = loso[name]
        out[name] = _regression(idx, pred, _attribute(ws, name)[idx], ws.subject[idx])
    return out
