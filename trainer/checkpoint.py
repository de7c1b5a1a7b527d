"""A run folder can rebuild the anonymizer exactly: weights + config + window + normalization.

    runs/<name>/
      anonymizer.keras     Keras model: normalized (W, C) -> normalized (W, C), built-in layers only
      run.json             config, window spec, normalization, splits, versions, history, evaluation
      state/               resume state of an unfinished run (regularizers, optimizer round)

``Run.transform`` is what the gateway will do to a window: normalize, run the model, denormalize.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.contract import WindowSpec
from edge_runtime.normalizer import Normalization

from .errors import CheckpointError

__all__ = ["Run", "load_run", "save_run_json", "json_default", "MODEL_NAME", "RUN_JSON"]

MODEL_NAME = "anonymizer.keras"
RUN_JSON = "run.json"


@dataclass
class Run:
    root: Path
    model: Any  # keras.Model
    spec: WindowSpec
    norm: Normalization
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.meta.get("config", {}))

    def transform(self, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """``(N, W, C)`` windows in view units -> released windows, same shape and units."""
        z = self.norm.apply(x)
        y = self.model.predict(z, batch_size=batch_size, verbose=0)
        return self.norm.invert(y)


def save_run_json(root: Path, meta: dict[str, Any]) -> Path:
    """Write run.json atomically so a crash never leaves half a file."""
    root.mkdir(parents=True, exist_ok=True)
    out = root / RUN_JSON
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".run-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2, default=json_default)
        f.write("\n")
    os.replace(tmp, out)
    return out


def json_default(o: object) -> object:
    """``json.dump(default=...)`` for numpy scalars/arrays and paths (run.json, evaluation.json)."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def load_run(root: str | Path) -> Run:
    """Rebuild a finished run. Raises ``CheckpointError`` with a one-line reason."""
    root = Path(root)
    meta_path, model_path = root / RUN_JSON, root / MODEL_NAME
    if not meta_path.is_file() or not model_path.is_file():
        raise CheckpointError(f"{root} is not a finished training run (needs {RUN_JSON} and {MODEL_NAME}; run `aae train`)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        spec = WindowSpec.from_dict(meta["window"])
        norm = Normalization.from_dict(meta["normalization"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{meta_path} is malformed: {exc}") from exc
    import keras  # heavy; only when a run is actually loaded

    try:
        model = keras.models.load_model(model_path, compile=False)
    except Exception as exc:  # keras raises many types for a bad file
        raise CheckpointError(f"cannot load {model_path}: {type(exc).__name__}: {exc}") from exc
    if tuple(model.input_shape[1:]) != spec.shape or tuple(model.output_shape[1:]) != spec.shape:
        raise CheckpointError(f"model I/O {model.input_shape}->{model.output_shape} does not match window {spec.shape}")
    return Run(root, model, spec, norm, meta)


def run_datasets(conf: dict[str, Any]) -> tuple[str, ...]:
    """The datasets a run trained on (config ``datasets``, else ``dataset``)."""
    names = conf.get("datasets") or [conf.get("dataset", "hapt")]
    return tuple(str(n) for n in names)


def run_windows(run: Run, data_root: Any, *, stride: int | None = None) -> tuple[Any, Any]:
    """The run's own datasets cut as its evaluation windows, and the splits it trained with.

    One place for what ``aae evaluate``, the release gate and the within-dataset cross report all
    need: the same datasets and taxonomy as training, and splits recomputed from the config that
    must name the recorded test subjects (otherwise an evaluation would leak training subjects).

    Raises:
        CheckpointError: the recomputed test subjects differ from the recorded ones.
        DatasetError: a dataset is missing or corrupt.
    """
    from .data import load_windows
    from .splits import make_splits

    conf = run.config
    names = run_datasets(conf)
    spec = run.spec.with_stride(int(stride if stride is not None else conf.get("eval_stride", 32)))
    ws = load_windows(list(names), data_root, spec, taxonomy=conf.get("taxonomy") or None)
    splits = make_splits(ws, test_fraction=float(conf.get("test_fraction", 1 / 3)), seed=int(conf.get("split_seed", 0)),
                         stratify=str(conf.get("split_stratify", "")))  # a run's split exactly as it was drawn
    recorded = (run.meta.get("splits") or {}).get("test_subjects")
    if recorded is not None and sorted(int(s) for s in recorded) != sorted(splits.test_subjects):
        raise CheckpointError(f"{run.root}: trained with test subjects {sorted(recorded)}, the data gives "
                              f"{list(splits.test_subjects)}; evaluating would leak")
    return ws, splits
