"""The release gate's checks of what a bundle claims beyond identity: gender and a replacement policy.

A run trained with a gender regularizer (``beta_gender > 0``) or a replacement policy claims numbers the
identity/activity gate does not see. They are measured here on the people the run never trained on
(its test subjects, cut into their own splits), float and int8 alike, with every classifier retrained on
each release (``trainer.crosseval.evaluate_release`` with the policy)::

    gender_int8_delta          gender(int8) - gender(float), max of trial split and LOSO          <= 2.0
    required_f1_int8_delta     required-activity F1(float) - F1(int8)                            <= 1.0
    sensitive_int8_delta       sensitive-vs-neutral(int8) - (float), balanced accuracy            <= 2.0
    sensitive_vs_neutral       sensitive-vs-neutral(int8) itself (the policy's promise)           <= 60.0

The last one is absolute: a bundle that says it hides an activity and does not is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from edge_runtime.normalizer import Normalization

from .convert import Converted
from .cross_gate import float_int8_releases, point_diff

__all__ = ["claims_protection", "protect_checks", "SENSITIVE_LIMIT"]

SENSITIVE_LIMIT = 60.0  # percent balanced accuracy: chance (50) + 10 points (issue 13)


def _beta_gender(meta: dict[str, Any]) -> float:
    return float(meta.get("config", {}).get("beta_gender", 0.0))


def claims_protection(meta: dict[str, Any]) -> bool:
    """Whether a run's record claims gender protection or a replacement policy."""
    return bool(meta.get("policy")) or _beta_gender(meta) > 0


def _unseen(ws: Any, splits: Any) -> Any:
    keep = np.flatnonzero(np.isin(ws.subject, splits.test_subjects))
    return ws.subset(keep)


def protect_checks(model: Any, conv: Converted, norm: Normalization, ws: Any, splits: Any, meta: dict[str, Any], *,
                   cfg: Any, limits: Any, check: Callable[[str, float | None, float | None, str], Any]) -> tuple[dict[str, Any], list[Any]]:  # fmt: skip
    """Float and int8 judged on the run's unseen people: (evaluation block, checks)."""
    from trainer.crosseval import evaluate_release, summary_row
    from trainer.protect import policy_from_dict
    from trainer.splits import make_splits

    target = _unseen(ws, splits)
    policy = policy_from_dict(meta["policy"], tuple(target.activity_names)) if meta.get("policy") else None

    variants = float_int8_releases(model, conv, norm)
    tsplits = make_splits(target, seed=0)
    rows = {k: summary_row(evaluate_release(t, target, cfg=cfg, splits=tsplits, policy=policy)) for k, t in variants.items()}
    q, f = rows["int8"], rows["float"]

    diff = point_diff
    checks = []
    if f["gender_max"] is not None or _beta_gender(meta) > 0:
        checks.append(check("gender_int8_delta", diff(q["gender_max"], f["gender_max"]), limits.identity_points, "points"))
    if policy is not None:
        checks += [
            check("required_f1_int8_delta", diff(f["required_f1"], q["required_f1"]), limits.activity_retrained_f1_points, "points"),
            check("sensitive_int8_delta", diff(q["sensitive_max"], f["sensitive_max"]), limits.identity_points, "points"),
            check("sensitive_vs_neutral", q["sensitive_max"], SENSITIVE_LIMIT, "% balanced accuracy"),
        ]
    block = {"n_windows": int(len(target)), "n_subjects": int(len(target.subjects)), "rows": rows,
             "policy": meta.get("policy"), "eval_config": cfg.to_dict()}  # fmt: skip
    return block, checks
