"""Which datasets exist, where their roots are, and how several are loaded into one ``WindowSet``.

``--data`` may be one dataset's root, or a parent folder whose subfolders are the datasets
(``../shared/datasets``): each name is looked for as ``<data>/<alias>`` (``ALIASES``). With
several datasets the ids are made unique, in the order the names are given (k = 0, 1, ...):
subject -> ``1000 * (k + 1) + subject``, trial -> ``10_000_000 * (k + 1) + trial``; bouts are
numbered once over all recordings. One dataset alone keeps its published ids.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from edge_runtime.contract import WindowSpec

from ..errors import DatasetError
from .hapt import ATTRIBUTION as HAPT_ATTRIBUTION
from .hapt import load_hapt, looks_like_hapt
from .motionsense import load_motionsense, looks_like_motionsense
from .recording import Recording
from .sisfall import ATTRIBUTION as SISFALL_ATTRIBUTION
from .sisfall import load_sisfall, looks_like_sisfall
from .taxonomy import check_taxonomy, default_taxonomy
from .windows import WindowSet, make_windows

__all__ = [
    "LOADERS", "ALIASES", "ATTRIBUTIONS", "SUBJECT_BLOCK", "TRIAL_BLOCK",
    "dataset_list", "resolve_roots", "load_dataset", "load_windows", "attribution",
]

LOADERS: dict[str, Callable[..., list[Recording]]] = {"hapt": load_hapt, "sisfall": load_sisfall, "motionsense": load_motionsense}
ALIASES: dict[str, tuple[str, ...]] = {
    "hapt": ("hapt", "uci-hapt", "UCI HAPT Dataset", "HAPT"),
    "sisfall": ("sisfall", "SisFall_dataset.zip", "SisFall_dataset", "SisFall"),
    "motionsense": ("motionsense", "MotionSense"),
}
ATTRIBUTIONS = {
    "hapt": HAPT_ATTRIBUTION,
    "sisfall": SISFALL_ATTRIBUTION,
    "motionsense": "Trained on MotionSense (Malekzadeh, Clegg, Cavallaro, Haddadi), MIT license.",
}
SUBJECT_BLOCK = 1000
TRIAL_BLOCK = 10_000_000
_LOOKS_LIKE: dict[str, Callable[[Path], bool]] = {"hapt": looks_like_hapt, "sisfall": looks_like_sisfall, "motionsense": looks_like_motionsense}
_HINTS = {
    "hapt": "the folder with RawData/ from the official UCI HAPT archive",
    "sisfall": "the folder holding SisFall_dataset.zip, the zip, or the extracted SisFall_dataset/",
    "motionsense": "the folder with A_DeviceMotion_data/",
}
_COARSE_OPTIONS: dict[str, dict[str, Any]] = {"hapt": {"transitions": True}}  # labels only the coarse taxonomy uses


def dataset_list(names: str | Sequence[str]) -> tuple[str, ...]:
    """``"hapt"`` or ``["hapt", "sisfall"]`` -> checked tuple of known, distinct names."""
    out = (names,) if isinstance(names, str) else tuple(names)
    if not out:
        raise DatasetError("no dataset named")
    for n in out:
        if n not in LOADERS:
            raise DatasetError(f"unknown dataset {n!r}; known: {', '.join(LOADERS)}")
    if len(set(out)) != len(out):
        raise DatasetError(f"dataset named twice in {', '.join(out)}")
    return out


def _resolve(name: str, data: Path, *, self_first: bool) -> Path:
    candidates = ([data] if self_first else []) + [data / a for a in ALIASES[name]]
    for c in candidates:
        if _LOOKS_LIKE[name](c):
            return c
    looked = ", ".join(str(c) for c in candidates)
    raise DatasetError(f"dataset {name} not found: looked in {looked} (point --data at {_HINTS[name]}, or at their parent)")


def resolve_roots(names: str | Sequence[str], data: str | Path | Mapping[str, str | Path]) -> dict[str, Path]:
    """Each dataset's root: ``data[name]`` for a mapping, else ``data`` itself (one name) or its subfolder.

    Raises:
        DatasetError: one line naming the dataset and where it looked.
    """
    names = dataset_list(names)
    if isinstance(data, Mapping):
        missing = [n for n in names if n not in data]
        if missing:
            raise DatasetError(f"no path given for dataset {missing[0]} (paths given for: {', '.join(data) or 'none'})")
        return {n: _resolve(n, Path(data[n]), self_first=True) for n in names}
    return {n: _resolve(n, Path(data), self_first=len(names) == 1) for n in names}


def load_dataset(name: str, root: str | Path, *, taxonomy: str = "fine", subjects: set[int] | None = None) -> list[Recording]:
    """One dataset's recordings with its published ids (``root`` as the loader takes it)."""
    dataset_list(name)
    options = _COARSE_OPTIONS.get(name, {}) if check_taxonomy(taxonomy) == "coarse" else {}
    return LOADERS[name](root, subjects=subjects, **options)


def _renumber(recs: list[Recording], k: int) -> list[Recording]:
    out = []
    for r in recs:
        if not (0 <= r.subject < SUBJECT_BLOCK and 0 <= r.trial < TRIAL_BLOCK):
            raise DatasetError(f"{r.dataset} subject {r.subject} / trial {r.trial} too large to combine with other datasets")
        out.append(replace(r, subject=SUBJECT_BLOCK * (k + 1) + r.subject, trial=TRIAL_BLOCK * (k + 1) + r.trial))
    return out


def load_windows(
    names: str | Sequence[str], data: str | Path | Mapping[str, str | Path], spec: WindowSpec, *, taxonomy: str | None = None
) -> WindowSet:
    """Load one or several datasets and cut them into labelled windows of ``spec``.

    Args:
        names: a dataset name or several (``LOADERS`` keys).
        data: a root (one name), a parent folder of the roots, or a mapping name -> root.
        taxonomy: "fine" or "coarse"; None = fine for one dataset, coarse for several.
    """
    names = dataset_list(names)
    taxonomy = check_taxonomy(taxonomy or default_taxonomy(len(names)))
    roots = resolve_roots(names, data)
    recs: list[Recording] = []
    for k, name in enumerate(names):
        loaded = load_dataset(name, roots[name], taxonomy=taxonomy)
        recs.extend(loaded if len(names) == 1 else _renumber(loaded, k))
    return make_windows(recs, spec, taxonomy=taxonomy)


def attribution(names: str | Sequence[str]) -> str:
    """What a model trained on ``names`` must say about its data."""
    return " ".join(ATTRIBUTIONS[n] for n in dataset_list(names))
