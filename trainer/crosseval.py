"""Cross-dataset evaluation: a release judged on people (and a dataset) the anonymizer never saw.

``evaluate_release`` cuts the target dataset into its own leak-checked splits and retrains every
evaluator on the released windows: activity macro-F1 (``activity_seeds`` seeded CNNs, fit on the
target's train subjects, tested on its unseen test subjects) and the attack suite
(``trainer.attacks``: identity = max over the CNN seeds and MiniRocket, the session vote, gender,
height/weight). ``cross_report`` runs it for every variant next to the baselines (raw, 10 and 5 Hz,
activity label only) and writes evaluation.json (atomic), report.md and privacy_utility.png.

The same function serves the within-dataset check: pass the training dataset restricted to the
run's unseen test subjects (``mode="within"``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .attacks import attack_suite
from .baselines import label_only, resample_baseline
from .checkpoint import json_default
from .data import WindowSet
from .evaluate import DEFAULT_EVAL, Release, _activity, release_windows
from .evaluators import EvalConfig
from .plots import plot_privacy_utility
from .policy_eval import policy_attacks
from .protect import Policy
from .report import _atomic_write
from .splits import Splits, make_splits

__all__ = ["BASELINES", "LOWPASS_BASELINE", "baseline_transforms", "evaluate_release", "summary_row", "pareto_vs_baseline",
           "cross_report", "cross_check", "summary_line"]

BASELINES = ("raw", "lp10", "lp5", "label_only")  # lpN: low-pass + resample to N Hz and back (trainer.baselines)
LOWPASS_BASELINE = "lp5"  # the release gate's bar: a model must Pareto-dominate it


def baseline_transforms(ws: WindowSet, names: tuple[str, ...] = BASELINES) -> dict[str, Release | None]:
    """The non-learned releases every report shows: raw, resampled to 10 / 5 Hz, label only."""
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline {unknown[0]!r}; known: {', '.join(BASELINES)}")
    rate = ws.spec.rate_hz
    make = {"raw": lambda: None, "lp10": lambda: resample_baseline(rate, 10.0), "lp5": lambda: resample_baseline(rate, 5.0),
            "label_only": lambda: label_only(ws)}
    return {n: make[n]() for n in names}


def evaluate_release(transform: Release | None, ws_target: WindowSet, *, cfg: EvalConfig = DEFAULT_EVAL,
                     splits: Splits | None = None, test_fraction: float = 1 / 3, seed: int = 0,
                     policy: Policy | None = None) -> dict[str, Any]:
    """Activity F1 and every attack on the release of ``ws_target`` (None = raw), evaluators retrained on it;
    with a replacement ``policy`` also its required-activity F1 and sensitive-vs-neutral attack."""
    t0 = time.perf_counter()
    splits = splits if splits is not None else make_splits(ws_target, test_fraction=test_fraction, seed=seed)
    released = release_windows(transform, ws_target)
    activity = _activity(released, ws_target, splits, cfg)
    for k in ("confusion", "epochs_run"):
        activity.pop(k, None)  # bulky; the per-class F1 stays
    extra = {} if policy is None else {"replacement": policy_attacks(released, ws_target, splits, policy, cfg)}
    return {
        "activity": activity,
        **attack_suite(released, ws_target, splits, cfg),
        **extra,
        "n_windows": int(len(ws_target)),
        "n_subjects": int(len(ws_target.subjects)),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _get(d: dict[str, Any], *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _gender_max(r: dict[str, Any]) -> float | None:
    """The strongest gender attack (trial split or LOSO, window accuracy); None where gender is unknown."""
    found = [v for v in (_get(r, "gender", "trial_split", "accuracy"), _get(r, "gender", "loso", "window_accuracy"))
             if v is not None]
    return max(found) if found else None


def summary_row(r: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of one ``evaluate_release`` result, flat (what tables, plots and the gate use)."""
    return {
        "identity_max": _get(r, "identity", "accuracy"),
        "identity_max_attacker": _get(r, "identity", "attacker"),
        "identity_cnn_mean": _get(r, "identity", "cnn_mean"),
        "identity_cnn_max": _get(r, "identity", "cnn_max"),
        "identity_minirocket": _get(r, "identity", "attackers", "minirocket", "accuracy"),
        "chance": _get(r, "identity", "chance"),
        "identity_label_bound": _get(r, "identity", "activity_label_bound"),
        "n_subjects": _get(r, "identity", "n_subjects"),
        "identity_session": _get(r, "session_identity", "accuracy"),
        "identity_session_attacker": _get(r, "session_identity", "attacker"),
        "n_sessions": _get(r, "session_identity", "n_sessions"),
        "gender_max": _gender_max(r),
        "gender_trial": _get(r, "gender", "trial_split", "accuracy"),
        "gender_trial_majority": _get(r, "gender", "trial_split", "majority", "windows"),
        "gender_loso_windows": _get(r, "gender", "loso", "window_accuracy"),
        "gender_loso_subjects": _get(r, "gender", "loso", "subject_accuracy"),
        "gender_majority_windows": _get(r, "gender", "loso", "majority", "windows"),
        "gender_majority_subjects": _get(r, "gender", "loso", "majority", "subjects"),
        "height_mae": _get(r, "height_cm", "mae"),
        "height_baseline_mae": _get(r, "height_cm", "baseline_mae"),
        "weight_mae": _get(r, "weight_kg", "mae"),
        "weight_baseline_mae": _get(r, "weight_kg", "baseline_mae"),
        "activity_f1": _get(r, "activity", "macro_f1"),
        "activity_f1_sd": _get(r, "activity", "macro_f1_sd"),
        "required_f1": _get(r, "replacement", "required", "macro_f1"),
        "sensitive_max": _get(r, "replacement", "sensitive", "balanced_accuracy"),
    }


def pareto_vs_baseline(model_row: dict[str, Any], baseline_row: dict[str, Any]) -> tuple[bool, str]:
    """True when the model has a LOWER max-attacker identity at NO LOWER activity macro-F1.

    Rows are ``summary_row`` dicts (or full ``evaluate_release`` results). Missing numbers fail.
    """
    m = model_row if "identity_max" in model_row else summary_row(model_row)
    b = baseline_row if "identity_max" in baseline_row else summary_row(baseline_row)
    mi, mf, bi, bf = m.get("identity_max"), m.get("activity_f1"), b.get("identity_max"), b.get("activity_f1")
    if None in (mi, mf, bi, bf):
        return False, "identity or activity F1 missing"
    assert mi is not None and mf is not None and bi is not None and bf is not None
    if mi >= bi:
        return False, f"identity {mi:.1f}% is not below the baseline's {bi:.1f}%"
    if mf < bf:
        return False, f"activity F1 {mf:.1f} is below the baseline's {bf:.1f}"
    return True, f"identity {mi:.1f}% < {bi:.1f}% at activity F1 {mf:.1f} >= {bf:.1f}"


def _f(v: Any, digits: int = 1) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def summary_line(name: str, row: dict[str, Any]) -> str:
    """One line per variant for the terminal."""
    return (f"{name}: identity {_f(row['identity_max'])}% ({row['identity_max_attacker']}; chance {_f(row['chance'])}%), "
            f"session {_f(row['identity_session'])}%, gender LOSO {_f(row['gender_loso_windows'])}% "
            f"(majority {_f(row['gender_majority_windows'])}%), activity F1 {_f(row['activity_f1'])}"
            + (f" ± {row['activity_f1_sd']:.1f}" if row.get("activity_f1_sd") is not None else ""))


def _markdown(results: dict[str, Any]) -> str:
    rows = results["summary"]
    raw_f1 = (rows.get("raw") or {}).get("activity_f1")
    first = next(iter(rows.values()))
    lines = [
        f"# {results['mode']}-dataset evaluation on {results['dataset']}",
        "",
        f"{first['n_subjects']} subjects, {results['n_windows']} windows {results['window']}; taxonomy "
        f"{results.get('taxonomy') or 'loader default'}; splits {results['splits']}.",
        "",
        "| variant | identity % (max, attacker) | CNN mean / max | MiniRocket | session identity % (sessions) | chance "
        "| gender trial % (majority) | gender LOSO windows / subjects % (majority w / s) | height MAE cm (mean guess) "
        "| weight MAE kg (mean guess) | activity F1 | F1 - raw |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        delta = None if raw_f1 is None or r["activity_f1"] is None else r["activity_f1"] - raw_f1
        f1 = _f(r["activity_f1"]) + (f" ± {r['activity_f1_sd']:.1f}" if r.get("activity_f1_sd") is not None else "")
        lines.append(
            f"| {name} | **{_f(r['identity_max'])}** ({r['identity_max_attacker']}) | {_f(r['identity_cnn_mean'])} / "
            f"{_f(r['identity_cnn_max'])} | {_f(r['identity_minirocket'])} | {_f(r['identity_session'])} ({r['n_sessions']}) "
            f"| {_f(r['chance'])} | {_f(r['gender_trial'])} ({_f(r['gender_trial_majority'])}) "
            f"| {_f(r['gender_loso_windows'])} / {_f(r['gender_loso_subjects'])} ({_f(r['gender_majority_windows'])} / "
            f"{_f(r['gender_majority_subjects'])}) | {_f(r['height_mae'])} ({_f(r['height_baseline_mae'])}) "
            f"| {_f(r['weight_mae'])} ({_f(r['weight_baseline_mae'])}) | {f1} | {_f(delta)} |"
        )
    lines += ["", "Pareto check against the 5 Hz low-pass baseline (lower max identity at no lower activity F1):", ""]
    lines += [f"- {n}: {'PASS' if v['passed'] else 'fail'}: {v['reason']}" for n, v in results["pareto_vs_lowpass"].items()]
    if any(r.get("sensitive_max") is not None or r.get("required_f1") is not None for r in rows.values()):
        lines += ["", "Replacement policy (trainer/policy_eval.py): required-activity macro-F1 with labels as the policy "
                  "releases them; a CNN retrained to tell each sensitive activity from its neutral target (balanced "
                  "accuracy, chance 50 %, target <= 60 %):", "", "| variant | required F1 | sensitive vs neutral % |", "|---|---|---|"]
        lines += [f"| {n} | {_f(r.get('required_f1'))} | {_f(r.get('sensitive_max'))} |" for n, r in rows.items()]
    lines += [
        "",
        "Protocol: every evaluator is retrained on the released windows of this dataset. Identity: trial A of every "
        "subject trains, trial B tests (a subject's single trial of an activity is halved in time, no shared sample); "
        "the figure is the maximum over the CNN seeds and MiniRocket+ridge. Session: the same attackers sum their "
        f"per-window scores over the trial-B windows of one recording within {results['eval_config']['session_seconds']:g} s. "
        "Gender trial split: fit on trial A, test on trial B (same people); LOSO: each subject predicted by a ridge "
        "fit on the others (strength chosen on the others only). Height/weight: LOSO ridge, MAE of the per-subject "
        "mean prediction vs guessing the other subjects' mean. Activity: fit on the train subjects, tested on unseen "
        f"subjects, mean ± sd over seeds. The label-only row's identity is bounded by {_f(first['identity_label_bound'])} % "
        "(best guess from the activity label; per row in evaluation.json).",
        "",
        f"Evaluator settings: {results['eval_config']}.",
        "",
        "![privacy-utility](privacy_utility.png)",
        "",
    ]
    if results.get("attribution"):
        lines.insert(4, str(results["attribution"]) + "\n")
    return "\n".join(lines)


def cross_report(variants: dict[str, Release | None], target_ws: WindowSet, out_dir: str | Path, *,
                 cfg: EvalConfig = DEFAULT_EVAL, mode: str = "cross", meta: dict[str, Any] | None = None,
                 split_seed: int = 0, log: Callable[[str], None] | None = None,
                 policy: Policy | None = None, stratify: str = "") -> dict[str, Any]:
    """Evaluate the baselines and ``variants`` on ``target_ws``; write evaluation.json, report.md, privacy_utility.png
    (with a replacement ``policy``, every release is also scored against it).

    Returns the results dict (``variants``: full results, ``summary``: ``summary_row`` per variant).
    evaluation.json is rewritten after every release (``"complete": false`` until the last one).
    """
    clash = set(variants) & set(BASELINES)
    if clash:
        raise ValueError(f"variant names {sorted(clash)} are reserved for the baselines")
    t0 = time.perf_counter()
    splits = make_splits(target_ws, seed=split_seed, stratify=stratify)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}

    def document(complete: bool) -> dict[str, Any]:
        summary = {n: summary_row(r) for n, r in results.items()}
        bar = summary.get(LOWPASS_BASELINE)
        return {
            "mode": mode,
            "dataset": target_ws.dataset,
            **(meta or {}),
            "complete": complete,
            "window": target_ws.spec.to_dict(),
            "n_windows": int(len(target_ws)),
            "splits": splits.describe(),
            "eval_config": cfg.to_dict(),
            "baselines": list(BASELINES),
            "summary": summary,
            "pareto_vs_lowpass": {} if bar is None else {
                n: dict(zip(("passed", "reason"), pareto_vs_baseline(row, bar), strict=True))
                for n, row in summary.items() if n != LOWPASS_BASELINE},
            "variants": results,
            "seconds": round(time.perf_counter() - t0, 1),
        }

    def write_json(doc: dict[str, Any]) -> None:
        _atomic_write(out / "evaluation.json", json.dumps(doc, indent=2, default=json_default, allow_nan=False) + "\n")

    for name, t in {**baseline_transforms(target_ws), **variants}.items():
        results[name] = evaluate_release(t, target_ws, cfg=cfg, splits=splits, policy=policy)
        if log is not None:
            log(f"  {summary_line(name, summary_row(results[name]))}  [{results[name]['seconds']:.0f} s]")
        write_json(document(complete=False))  # a long report interrupted keeps every finished release
    doc = document(complete=True)
    plot_privacy_utility(doc["summary"], out / "privacy_utility.png", baselines=BASELINES,
                         title=f"{mode}-dataset: {target_ws.dataset} ({doc['summary']['raw']['n_subjects']} subjects)")
    write_json(doc)
    _atomic_write(out / "report.md", _markdown(doc))
    return doc


def cross_check(transform: Release | None, target_ws: WindowSet, *, cfg: EvalConfig = DEFAULT_EVAL,
                baseline: str = LOWPASS_BASELINE, split_seed: int = 0, policy: Policy | None = None) -> dict[str, Any]:
    """The release gate's question: does ``transform`` Pareto-dominate ``baseline`` on ``target_ws``?

    Both releases are judged on the same leak-checked splits with the same evaluators. ``transform``
    is a plain callable ``(N, W, C) -> (N, W, C)`` in view units (or a ``StreamTransform``).

    Returns:
        ``{"model": row, "baseline": row, "pareto": bool, "reason": str, "baseline_name": str,
        "splits": ..., "eval_config": ...}``; a row is ``summary_row`` (``identity_max``,
        ``identity_session``, ``activity_f1``, ``gender_max``, ``chance``, ...).
    """
    base = baseline_transforms(target_ws, (baseline,))[baseline]
    splits = make_splits(target_ws, seed=split_seed)
    model = summary_row(evaluate_release(transform, target_ws, cfg=cfg, splits=splits, policy=policy))
    bar = summary_row(evaluate_release(base, target_ws, cfg=cfg, splits=splits, policy=policy))
    ok, reason = pareto_vs_baseline(model, bar)
    return {"model": model, "baseline": bar, "pareto": ok, "reason": reason, "baseline_name": baseline,
            "splits": splits.describe(), "eval_config": cfg.to_dict()}
