"""What a replacement policy achieves on released windows, every classifier retrained on the release.

    required   macro-F1 over the policy's required activities of an activity CNN fit on released
               util_train windows and tested on the unseen util_test people, labels *as the policy
               releases them* (a sensitive window counts as its neutral target: that is what the app
               may see); the raw signal is scored the same way, so the two are comparable
    sensitive  per (sensitive, neutral) pair: a binary CNN fit on released util_train windows of the
               two activities (true labels), tested on util_test; balanced accuracy, chance 50 %
               (target: <= chance + 10). The figure is the maximum over pairs and seeds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .attacks import pct
from .data import WindowSet
from .evaluators import EvalConfig, confusion, f1_scores, fit_classifier
from .protect import Policy
from .splits import Splits

__all__ = ["policy_attacks", "required_f1", "sensitive_attack"]

_SEED_REQUIRED, _SEED_SENSITIVE = 31, 41


def required_f1(released: np.ndarray, ws: WindowSet, splits: Splits, policy: Policy, cfg: EvalConfig) -> dict[str, Any]:
    """Macro-F1 over the required activities, labels as the policy releases them (mean over seeds)."""
    tr, te = splits.util_train, splits.util_test
    y = policy.target_labels(ws.activity)
    classes = np.unique(y[np.concatenate([tr, te])])
    want = [c for c in policy.required if c in classes]
    if not want:
        return {"skipped": "no window of a required activity in these people"}
    cols = np.searchsorted(classes, want)
    runs, per_class = [], np.zeros(len(want))
    for k in range(max(1, cfg.activity_seeds)):
        clf = fit_classifier(released[tr], y[tr], ws.bout[tr], cfg, seed_offset=_SEED_REQUIRED + 100 * k)
        f1 = f1_scores(confusion(y[te], clf.predict(released[te]), classes))[cols]
        runs.append(100.0 * float(f1.mean()))
        per_class += f1
    per_class /= len(runs)
    return {"macro_f1": round(float(np.mean(runs)), 2), "macro_f1_runs": [round(v, 2) for v in runs],
            "per_class_f1": {policy.names[c]: round(100.0 * float(v), 2) for c, v in zip(want, per_class, strict=True)}}  # fmt: skip


def _balanced(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([np.mean(pred[truth == c] == c) for c in (0, 1)]))


def sensitive_attack(released: np.ndarray, ws: WindowSet, splits: Splits, policy: Policy, cfg: EvalConfig) -> dict[str, Any]:
    """Can a classifier retrained on the release tell each sensitive activity from its neutral target?"""
    tr, te = splits.util_train, splits.util_test
    pairs: dict[str, Any] = {}
    best: float | None = None
    for s, n in policy.replace:
        name = f"{policy.names[s]} vs {policy.names[n]}"
        a_tr, a_te = tr[np.isin(ws.activity[tr], (s, n))], te[np.isin(ws.activity[te], (s, n))]
        y_tr, y_te = (ws.activity[a_tr] == s).astype(np.int32), (ws.activity[a_te] == s).astype(np.int32)
        if len(np.unique(y_tr)) < 2 or len(np.unique(y_te)) < 2:
            pairs[name] = {"skipped": "one of the two activities has no window in the train or test people"}
            continue
        accs = []
        for k in range(max(1, cfg.attack_seeds)):
            clf = fit_classifier(released[a_tr], y_tr, ws.bout[a_tr], cfg, seed_offset=_SEED_SENSITIVE + 100 * k)
            accs.append(_balanced(clf.predict(released[a_te]), y_te))
        pairs[name] = {"balanced_accuracy": pct(max(accs)), "runs": [pct(a) for a in accs],
                       "n_test_windows": {"sensitive": int(y_te.sum()), "neutral": int(len(y_te) - y_te.sum())}}  # fmt: skip
        best = max(accs) if best is None else max(best, max(accs))
    return {"balanced_accuracy": pct(best), "chance": 50.0, "pairs": pairs}


def policy_attacks(released: np.ndarray, ws: WindowSet, splits: Splits, policy: Policy, cfg: EvalConfig) -> dict[str, Any]:
    """The policy block of an evaluation: required-activity F1 and the sensitive-vs-neutral attack."""
    return {"policy": policy.to_dict(), "required": required_f1(released, ws, splits, policy, cfg),
            "sensitive": sensitive_attack(released, ws, splits, policy, cfg)}  # fmt: skip
