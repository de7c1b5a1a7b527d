"""Evaluation report of a run: evaluation.json (atomic), report.md, PNG figures; summary into run.json.

    <run>/eval/
      evaluation.json   every number of every variant (raw, anonymizer, 10/5 Hz baselines)
      report.md         the table + what was trained on what + chance levels
      examples.png spectrograms.png tradeoff.png
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .baselines import BASELINE_RATES, resample_baseline
from .checkpoint import RUN_JSON, json_default, load_run, run_datasets, run_windows, save_run_json
from .evaluate import EvalConfig, Transform, evaluate, release, train_raw_attacker
from .plots import plot_examples, plot_spectrograms, plot_tradeoff

__all__ = ["write_report", "run_evaluation", "summarize", "pick_examples"]

PROTOCOL = (
    "Activity: a fresh CNN trained on the released windows of the train subjects, tested on the released "
    "windows of unseen test subjects (macro-F1). Identity, raw-trained attacker (the paper's threat): a CNN "
    "trained on RAW trial-A windows of every subject, tested on released trial-B windows. Identity, retrained "
    "attacker (the real bar): the same CNN trained on released trial-A windows, tested on released trial-B "
    "windows. 'Unseen-only' attackers are restricted to the test subjects (never seen by the anonymizer): fit "
    "on their trial A, tested on their trial B. Distortion: MSE of released vs raw in units normalized with "
    "the activity training set's statistics, and SNR = 10 log10(mean z^2 / MSE) on the same scale."
)


def _atomic_write(path: Path, text: str) -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def _fmt(v: float | None, unit: str = "") -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1f}{unit}"


def _unseen(block: dict[str, Any]) -> str:
    u = block.get("unseen_only")
    return "n/a" if not u else f"{_fmt(u['accuracy'])} (chance {_fmt(u['chance'])})"


def _f1(a: dict[str, Any]) -> str:
    """Mean macro-F1 with its spread over the seeded classifiers when there are several."""
    sd = a.get("macro_f1_sd")
    return _fmt(a["macro_f1"]) + (f" ± {sd:.1f}" if sd is not None else "")


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers per variant, for run.json's ``evaluation`` key."""
    out: dict[str, Any] = {}
    for name, r in results["variants"].items():
        raw, ret = r["identity_raw_attacker"], r["identity_retrained_attacker"]
        out[name] = {
            "activity_macro_f1": r["activity"]["macro_f1"],
            "activity_macro_f1_sd": r["activity"].get("macro_f1_sd"),
            "identity_raw_attacker": raw["accuracy"],
            "identity_retrained_attacker": ret["accuracy"],
            "identity_raw_attacker_unseen_only": (raw.get("unseen_only") or {}).get("accuracy"),
            "identity_retrained_attacker_unseen_only": (ret.get("unseen_only") or {}).get("accuracy"),
            "identity_chance": ret["chance"],
            "mse_normalized": r["distortion"]["mse_normalized"],
            "snr_db": r["distortion"]["snr_db"],
        }
    return out


def _markdown(results: dict[str, Any], figures: list[Path]) -> str:
    variants = results["variants"]
    first = next(iter(variants.values()))
    lines = [
        f"# Evaluation: {results.get('name', 'anonymizer')}",
        "",
        f"Dataset: {results.get('dataset', '?')}; window {results.get('window', {})}.",
        f"Splits: {results.get('splits', {})}.",
        "",
        "| variant | activity macro-F1 % | activity acc % | identity, raw-trained attacker % (seen / unseen subj.) "
        "| raw attacker, unseen-only % | identity, retrained attacker % (seen / unseen subj.) "
        "| retrained attacker, unseen-only % | MSE (norm.) | SNR dB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in variants.items():
        a, raw, ret, d = r["activity"], r["identity_raw_attacker"], r["identity_retrained_attacker"], r["distortion"]
        lines.append(
            f"| {name} | {_f1(a)} | {_fmt(a['accuracy'])} "
            f"| {_fmt(raw['accuracy'])} ({_fmt(raw['train_subjects']['accuracy'])} / {_fmt(raw['test_subjects']['accuracy'])}) "
            f"| {_unseen(raw)} "
            f"| {_fmt(ret['accuracy'])} ({_fmt(ret['train_subjects']['accuracy'])} / {_fmt(ret['test_subjects']['accuracy'])}) "
            f"| {_unseen(ret)} | {d['mse_normalized']:.4f} | {_fmt(d['snr_db'])} |"
        )
    lines += [
        "",
        f"Chance: activity accuracy {_fmt(first['activity']['chance_accuracy'])} % "
        f"({len(first['activity']['labels'])} classes); identity {_fmt(first['identity_raw_attacker']['chance'])} % "
        f"({first['identity_raw_attacker']['n_subjects']} subjects).",
        "",
        PROTOCOL,
        "",
        "Activity macro-F1: mean ± standard deviation over the seeded activity classifiers "
        "(`activity_seeds`); accuracy and the confusion matrix are pooled over them.",
        "",
        "'seen' subjects are the anonymizer's training subjects (it saw their trial A, never trial B); "
        "'unseen' subjects were never seen by the anonymizer.",
        "",
        f"Evaluator settings: {results.get('eval_config', first.get('eval_config'))}.",
    ]
    if results.get("attribution"):
        lines += ["", str(results["attribution"])]
    lines += ["", *[f"![{p.stem}]({p.name})" for p in figures], ""]
    return "\n".join(lines)


def write_report(results: dict[str, Any], out_dir: str | Path, *, examples: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write evaluation.json, report.md and the PNG figures into ``out_dir``.

    Args:
        results: ``{"variants": {name: evaluate(...) result}, ...}`` plus optional ``name``, ``dataset``,
            ``window``, ``splits``, ``eval_config``, ``attribution``.
        examples: ``pick_examples`` output (raw + released windows per activity); without it the
            example and spectrogram figures are skipped.

    Returns:
        name -> path of every file written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    figures = [plot_tradeoff(results, out / "tradeoff.png")]
    if examples is not None:
        figures.append(plot_examples(examples, out / "examples.png"))
        variant = "anonymizer" if "anonymizer" in examples.get("released", {}) else None
        figures.append(plot_spectrograms(examples, out / "spectrograms.png", variant))
    paths.update({p.stem: p for p in figures})
    text = json.dumps(results, indent=2, default=json_default, allow_nan=False)
    paths["evaluation"] = _atomic_write(out / "evaluation.json", text + "\n")
    paths["report"] = _atomic_write(out / "report.md", _markdown(results, figures))
    return paths


def pick_examples(ws: Any, idx: np.ndarray, transforms: dict[str, Transform], *, seed: int = 0) -> dict[str, Any]:
    """One window per activity (seeded) from ``idx``, raw and released by each transform."""
    rng = np.random.default_rng(seed)
    chosen, labels = [], []
    for a in np.unique(ws.activity[idx]):
        cand = idx[ws.activity[idx] == a]
        chosen.append(int(rng.choice(cand)))
        labels.append(ws.activity_names[int(a)])
    raw = ws.x[np.array(chosen)]
    return {
        "raw": raw,
        "released": {name: release(t, raw) for name, t in transforms.items()},
        "labels": labels,
        "channels": list(ws.spec.channels),
        "rate_hz": ws.spec.rate_hz,
    }


def run_evaluation(
    run_dir: str | Path, data_root: str | Path, out_dir: str | Path | None = None, *,
    cfg: EvalConfig | None = None, rates: tuple[float, ...] = BASELINE_RATES, activity_seeds: int | None = None,
) -> dict[str, Any]:
    """Evaluate a trained run against raw data and the resampling baselines; write the report.

    The splits are recomputed from the run's config and must match the ones it trained on.

    Raises:
        CheckpointError: the run is unusable or its recorded test subjects differ from the recomputed ones.
        DatasetError: the dataset is missing or corrupt.
    """
    run = load_run(run_dir)
    conf = run.config
    if cfg is None:
        cfg = EvalConfig.quick() if conf.get("eval_quick", False) else EvalConfig()
    if activity_seeds is not None:
        cfg = replace(cfg, activity_seeds=activity_seeds)
    ws, splits = run_windows(run, data_root)
    spec = ws.spec
    dataset = "+".join(run_datasets(conf))
    transforms: dict[str, Transform] = {"anonymizer": run.transform}
    transforms.update({f"resample_{r:g}hz": resample_baseline(spec.rate_hz, r) for r in rates})
    attacker = train_raw_attacker(ws, splits, cfg)
    variants = {"raw": evaluate(None, ws, splits, cfg=cfg, raw_attacker=attacker)}
    for name, t in transforms.items():
        variants[name] = evaluate(t, ws, splits, cfg=cfg, raw_attacker=attacker)
    from .data import HAPT_ATTRIBUTION

    results: dict[str, Any] = {
        "name": run.root.name,
        "run": str(run.root),
        "dataset": dataset,
        "window": spec.to_dict(),
        "splits": splits.describe(),
        "eval_config": cfg.to_dict(),
        "raw_attacker_seconds": round(attacker.seconds, 1),
        "variants": variants,
        "attribution": HAPT_ATTRIBUTION if dataset == "hapt" else None,
    }
    out = Path(out_dir) if out_dir is not None else run.root / "eval"
    examples = pick_examples(ws, splits.util_test, transforms, seed=cfg.seed)
    paths = write_report(results, out, examples=examples)
    meta = json.loads((run.root / RUN_JSON).read_text(encoding="utf-8"))  # re-read: never clobber newer keys
    meta["evaluation"] = {"summary": summarize(results), "report": str(paths["report"]), "eval_config": cfg.to_dict()}
    save_run_json(run.root, meta)
    return results
