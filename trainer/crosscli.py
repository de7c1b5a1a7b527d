"""``aae evaluate --cross``: a run (or just the baselines) judged on other datasets' people.

    aae evaluate --run runs/hapt --data ../shared/datasets --cross sisfall        -> runs/hapt/eval-cross-sisfall/
    aae evaluate --run runs/hapt --data ../shared/datasets --cross sisfall,hapt   -> + eval-within-hapt/
    aae evaluate --baselines-only --data ../shared/datasets --cross sisfall --out reports/

A target the run trained on is evaluated on the run's unseen test subjects only ("within" mode,
the split recomputed and checked against the one the run recorded); any other is "cross" mode,
every subject of it. ``--data`` is resolved like ``trainer.data.load_windows``: one root, a parent
folder of the roots, or ``name=path`` pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.contract import WindowSpec

from .checkpoint import run_datasets, run_windows
from .crosseval import cross_report, summary_line
from .data import WindowSet, attribution, dataset_list, load_windows
from .errors import TrainerError
from .evaluate import Release
from .evaluators import EvalConfig

__all__ = ["parse_data", "parse_targets", "cross_evaluate", "run_datasets"]


def parse_data(items: Sequence[str]) -> str | dict[str, str]:
    """``--data`` values -> one path, or a mapping name -> path from ``name=path`` pairs."""
    if not items:
        raise TrainerError("--data is required")
    pairs = [i.partition("=") for i in items]
    if all(sep for _, sep, _ in pairs):
        return {k.strip(): v for k, _, v in pairs}
    if len(items) == 1:
        return items[0]
    raise TrainerError("give --data once as a folder, or repeat it as name=path for each dataset")


def parse_targets(cross: str | None) -> tuple[str, ...]:
    names = tuple(n.strip() for n in (cross or "").split(",") if n.strip())
    if not names:
        raise TrainerError("--cross needs at least one dataset name (e.g. --cross sisfall)")
    return dataset_list(names)


def _unseen(run: Any, data: str | dict[str, str], spec: WindowSpec, name: str) -> WindowSet:
    """The run's training data, restricted to its unseen test subjects of dataset ``name``."""
    ws, splits = run_windows(run, data, stride=spec.stride)
    keep = np.isin(ws.subject, splits.test_subjects) & (ws.dataset_of() == name)
    if len(np.unique(ws.subject[keep])) < 3:
        raise TrainerError(f"the run holds out {len(np.unique(ws.subject[keep]))} {name} subjects; "
                           "a within-dataset evaluation needs at least 3")
    return ws.subset(np.flatnonzero(keep))


def cross_evaluate(*, data: str | dict[str, str], targets: Sequence[str], run_dir: str | Path | None = None,
                   out: str | Path | None = None, cfg: EvalConfig | None = None, taxonomy: str | None = None,
                   stride: int | None = None, log: Callable[[str], None] | None = None) -> dict[str, dict[str, Any]]:
    """One ``cross_report`` per target dataset; returns target -> results. Without ``run_dir``: baselines only."""
    cfg = cfg if cfg is not None else EvalConfig()
    variants: dict[str, Release | None] = {}
    trained_on: tuple[str, ...] = ()
    run = None
    if run_dir is not None:
        from .checkpoint import load_run

        run = load_run(run_dir)
        trained_on = run_datasets(run.config)
        spec = run.spec.with_stride(int(stride or run.config.get("eval_stride", 32)))
        taxonomy = taxonomy or run.config.get("taxonomy") or None
        variants["anonymizer"] = run.transform
        base = Path(out) if out is not None else run.root
    else:
        if out is None:
            raise TrainerError("--baselines-only needs --out DIR")
        spec = WindowSpec(stride=int(stride or 64))
        base = Path(out)
    done: dict[str, dict[str, Any]] = {}
    for name in targets:
        within = run is not None and name in trained_on
        ws = _unseen(run, data, spec, name) if within else load_windows(name, data, spec, taxonomy=taxonomy)
        mode = "within" if within else "cross"
        folder = base / f"eval-{mode}-{name}"
        if log is not None:
            log(f"{mode}-dataset evaluation on {name}: {len(ws)} windows, {len(ws.subjects)} subjects -> {folder}")
        meta = {"run": str(run.root) if run is not None else None, "trained_on": list(trained_on), "taxonomy": taxonomy,
                "attribution": attribution(name).replace("Trained on", "Evaluated on", 1)}
        policy = None
        if run is not None and run.meta.get("policy"):
            from .protect import policy_from_dict

            policy = policy_from_dict(run.meta["policy"], tuple(ws.activity_names))
            meta["policy"] = run.meta["policy"]
        stratify = str(run.config.get("split_stratify", "")) if run is not None else ""  # the run's choice
        done[name] = cross_report(variants, ws, folder, cfg=cfg, mode=mode, meta=meta, log=log, policy=policy,
                                  stratify=stratify)  # fmt: skip
        done[name]["folder"] = str(folder)
    return done


def print_summary(done: dict[str, dict[str, Any]], emit: Callable[[str], None] = print) -> None:
    """One line per variant per target, after the reports are written."""
    for name, doc in done.items():
        emit(f"{doc['mode']}-dataset {name} ({doc['folder']}):")
        for variant, row in doc["summary"].items():
            emit("  " + summary_line(variant, row))
