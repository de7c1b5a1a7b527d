"""Honest privacy/utility evaluation of a released signal with fresh, seeded CNN evaluators.

Which windows train and test what (see ``trainer.splits``)::

    activity            fit transform(x[util_train])  (train subjects)  test transform(x[util_test]) (unseen people)
    identity, raw       fit RAW x[id_train]  (trial A of everyone)     test transform(x[id_test])   (trial B)
    identity, retrained fit transform(x[id_train])                     test transform(x[id_test])
    unseen-only         the same two attackers restricted to the test subjects (their A -> their B)
    distortion          transform(x[util_test]) vs x[util_test], normalized with util_train statistics

The raw-trained attacker is the paper's threat model; the retrained attacker is the real bar: an
adversary who collects released data with identities can simply train on it.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from edge_runtime.normalizer import Normalization

from .data import WindowSet
from .evaluators import Classifier, EvalConfig, confusion, f1_scores, fit_classifier
from .splits import Splits

__all__ = [
    "EvalConfig", "Attackers", "Transform", "StreamTransform", "Release", "evaluate", "train_raw_attacker",
    "train_attackers", "release", "release_windows", "stream_ids",
]

Transform = Callable[[np.ndarray], np.ndarray]


@runtime_checkable
class StreamTransform(Protocol):
    """A release that needs to know where each window comes from (stochastic anonymizers keyed per
    recording, the label-only baseline): ``stream`` = per-window id of the continuous recording
    (``stream_ids``), ``start`` = the window's first sample in it."""

    def release(self, x: np.ndarray, *, stream: np.ndarray, start: np.ndarray) -> np.ndarray: ...


Release = Transform | StreamTransform

# fixed per-evaluator seed offsets: every evaluator is reproducible on its own
_SEED_ACTIVITY, _SEED_RAW, _SEED_RAW_UNSEEN, _SEED_RET, _SEED_RET_UNSEEN = 1, 2, 3, 4, 5
DEFAULT_EVAL = EvalConfig()  # frozen, safe to share as a default


@dataclass
class Attackers:
    """An identity attacker over all subjects plus one restricted to the unseen (test) subjects."""

    all_subjects: Classifier
    unseen_only: Classifier | None
    trained_on: str  # "raw" or "released"
    seconds: float


def release(transform: Transform | None, x: np.ndarray) -> np.ndarray:
    """Apply ``transform`` (None = raw) and check it kept the window shape and stayed finite."""
    if transform is None:
        return x
    return _checked(transform(x), x)


def _checked(out: np.ndarray, x: np.ndarray) -> np.ndarray:
    y = np.asarray(out, dtype=np.float32)
    if y.shape != x.shape:
        raise ValueError(f"transform changed the window shape {x.shape} -> {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError("transform produced non-finite values")
    return y


def stream_ids(ws: WindowSet) -> np.ndarray:
    """Per-window int64 id of its continuous recording (dataset, subject, trial), stable under
    ``ws.subset`` (it is built from the values, not from positions)."""
    names = ws.dataset_of() if hasattr(ws, "dataset_of") else np.full(len(ws), ws.dataset)
    uniq, inv = np.unique(np.asarray(names, dtype=str), return_inverse=True)
    code = np.array([zlib.crc32(str(n).encode()) & 0x7FFF for n in uniq], np.int64)[inv.reshape(-1)]
    subject, trial = ws.subject.astype(np.int64), ws.trial.astype(np.int64)
    # 15 bits dataset | 16 bits subject | 32 bits trial: combined datasets move trials to 10^7 * (k + 1) + t
    if len(ws) and (subject.min() < 0 or trial.min() < 0 or subject.max() >= 1 << 16 or trial.max() >= 1 << 32):
        raise ValueError("subject ids must lie in [0, 2^16) and trial ids in [0, 2^32) to form stream ids")
    return np.asarray((code << 48) | (subject << 32) | trial)


def release_windows(transform: Release | None, ws: WindowSet) -> np.ndarray:
    """Release every window of ``ws``: a plain callable gets the windows, a ``StreamTransform``
    also their recording ids and start samples. Shape and finiteness are checked either way."""
    if transform is None:
        return ws.x
    if isinstance(transform, StreamTransform):
        return _checked(transform.release(ws.x, stream=stream_ids(ws), start=np.asarray(ws.start, np.int64)), ws.x)
    return release(transform, ws.x)


def _unseen(ws: WindowSet, splits: Splits, idx: np.ndarray) -> np.ndarray:
    return idx[np.isin(ws.subject[idx], splits.test_subjects)]


def train_attackers(released: np.ndarray, ws: WindowSet, splits: Splits, cfg: EvalConfig, *, trained_on: str) -> Attackers:
    """Fit identity attackers on ``released[id_train]`` (all subjects, and test subjects only)."""
    t0 = time.perf_counter()
    raw = trained_on == "raw"
    tr = splits.id_train
    clf = fit_classifier(released[tr], ws.subject[tr], ws.bout[tr], cfg, seed_offset=_SEED_RAW if raw else _SEED_RET)
    utr = _unseen(ws, splits, tr)
    unseen = None
    if len(np.unique(ws.subject[utr])) >= 2:
        unseen = fit_classifier(
            released[utr], ws.subject[utr], ws.bout[utr], cfg, seed_offset=_SEED_RAW_UNSEEN if raw else _SEED_RET_UNSEEN
        )
    return Attackers(clf, unseen, trained_on, time.perf_counter() - t0)


def train_raw_attacker(ws: WindowSet, splits: Splits, cfg: EvalConfig = DEFAULT_EVAL) -> Attackers:
    """The paper's threat: attackers trained on raw trial-A windows; reusable across ``evaluate`` calls."""
    return train_attackers(ws.x, ws, splits, cfg, trained_on="raw")


def _pct(ok: np.ndarray) -> float | None:
    return round(100.0 * float(np.mean(ok)), 2) if len(ok) else None


def _identity(att: Attackers, released: np.ndarray, ws: WindowSet, splits: Splits) -> dict[str, Any]:
    te = splits.id_test
    truth = ws.subject[te]
    ok = att.all_subjects.predict(released[te]) == truth
    seen = np.isin(truth, splits.train_subjects)
    out: dict[str, Any] = {
        "trained_on": att.trained_on,
        "accuracy": _pct(ok),
        "chance": round(100.0 / len(att.all_subjects.classes), 2),
        "n_subjects": int(len(att.all_subjects.classes)),
        "n_test_windows": int(len(te)),
        "train_subjects": {"accuracy": _pct(ok[seen]), "n_test_windows": int(seen.sum())},
        "test_subjects": {"accuracy": _pct(ok[~seen]), "n_test_windows": int((~seen).sum())},
        "epochs_run": att.all_subjects.epochs_run,
    }
    ute = _unseen(ws, splits, te)
    if att.unseen_only is not None and len(ute):
        uok = att.unseen_only.predict(released[ute]) == ws.subject[ute]
        out["unseen_only"] = {
            "accuracy": _pct(uok),
            "chance": round(100.0 / len(att.unseen_only.classes), 2),
            "n_subjects": int(len(att.unseen_only.classes)),
            "n_test_windows": int(len(ute)),
            "epochs_run": att.unseen_only.epochs_run,
        }
    else:
        out["unseen_only"] = None
    return out


def _activity(released: np.ndarray, ws: WindowSet, splits: Splits, cfg: EvalConfig) -> dict[str, Any]:
    """Macro-F1 of ``cfg.activity_seeds`` seeded classifiers (mean and spread); confusion and
    per-class F1 pooled over them."""
    tr, te = splits.util_train, splits.util_test
    classes = np.unique(ws.activity[np.concatenate([tr, te])])
    pooled = np.zeros((len(classes), len(classes)), np.int64)
    runs, epochs = [], []
    for k in range(max(1, cfg.activity_seeds)):
        clf = fit_classifier(released[tr], ws.activity[tr], ws.bout[tr], cfg, seed_offset=_SEED_ACTIVITY + 100 * k)
        m = confusion(ws.activity[te], clf.predict(released[te]), classes)
        pooled += m
        runs.append(100.0 * float(f1_scores(m).mean()))
        epochs.append(clf.epochs_run)
    f1 = f1_scores(pooled)
    names = [ws.activity_names[int(c)] for c in classes]
    return {
        "macro_f1": round(float(np.mean(runs)), 2),
        "macro_f1_sd": round(float(np.std(runs, ddof=1)), 2) if len(runs) > 1 else None,
        "macro_f1_runs": [round(v, 2) for v in runs],
        "accuracy": round(100.0 * float(np.trace(pooled)) / max(int(pooled.sum()), 1), 2),
        "chance_accuracy": round(100.0 / len(classes), 2),
        "per_class_f1": {n: round(100.0 * float(v), 2) for n, v in zip(names, f1, strict=True)},
        "labels": names,
        "confusion": pooled.tolist(),
        "n_train_windows": int(len(tr)),
        "n_test_windows": int(len(te)),
        "epochs_run": epochs,
    }


def _distortion(released: np.ndarray, ws: WindowSet, splits: Splits) -> dict[str, Any]:
    norm = Normalization.fit(ws.x[splits.util_train])
    z = norm.apply(ws.x[splits.util_test]).astype(np.float64)
    err = norm.apply(released[splits.util_test]).astype(np.float64) - z
    mse_c = (err**2).mean(axis=(0, 1))
    mse = float(mse_c.mean())
    snr = 10.0 * np.log10(float((z**2).mean()) / mse) if mse > 0 else None
    return {
        "mse_normalized": round(mse, 5),
        "mse_per_channel": [round(float(v), 5) for v in mse_c],
        "snr_db": None if snr is None else round(snr, 2),
    }


def evaluate(
    transform: Release | None,
    ws: WindowSet,
    splits: Splits,
    *,
    cfg: EvalConfig = DEFAULT_EVAL,
    raw_attacker: Attackers | None = None,
) -> dict[str, Any]:
    """Utility, privacy and distortion of ``transform`` (None = the raw signal).

    Args:
        transform: ``(N, W, C)`` windows in view units -> released windows, same shape and units
            (or a ``StreamTransform``, see ``release_windows``).
        ws, splits: windows and the leak-checked splits they were cut into.
        cfg: evaluator training settings.
        raw_attacker: a ``train_raw_attacker`` result to reuse (it depends on raw data only).

    Returns:
        JSON-ready dict: ``activity``, ``identity_raw_attacker``, ``identity_retrained_attacker``,
        ``distortion``, ``seconds``; accuracies and F1 in percent.
    """
    t0 = time.perf_counter()
    released = release_windows(transform, ws)
    activity = _activity(released, ws, splits, cfg)
    raw_att = raw_attacker if raw_attacker is not None else train_raw_attacker(ws, splits, cfg)
    identity_raw = _identity(raw_att, released, ws, splits)
    if transform is None:  # on raw data the retrained attacker *is* the raw-trained one
        identity_ret = {**identity_raw, "trained_on": "released (= raw)"}
    else:
        ret = train_attackers(released, ws, splits, cfg, trained_on="released")
        identity_ret = _identity(ret, released, ws, splits)
    return {
        "activity": activity,
        "identity_raw_attacker": identity_raw,
        "identity_retrained_attacker": identity_ret,
        "distortion": _distortion(released, ws, splits),
        "eval_config": cfg.to_dict(),
        "seconds": round(time.perf_counter() - t0, 1),
    }
