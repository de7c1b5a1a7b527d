"""Datasets -> canonical recordings -> labelled windows (``trainer.data``)."""

from __future__ import annotations

from pathlib import Path

from edge_runtime.contract import WindowSpec

from ..errors import DatasetError
from .hapt import ATTRIBUTION as HAPT_ATTRIBUTION
from .hapt import load_hapt
from .motionsense import load_motionsense
from .recording import ACTIVITIES, Recording
from .windows import WindowSet, bouts, make_windows

__all__ = [
    "ACTIVITIES", "Recording", "WindowSet", "bouts", "make_windows", "load_hapt", "load_motionsense",
    "load_dataset", "load_windows", "HAPT_ATTRIBUTION", "LOADERS",
]

LOADERS = {"hapt": load_hapt, "motionsense": load_motionsense}


def load_dataset(name: str, root: str | Path) -> list[Recording]:
    if name not in LOADERS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(LOADERS)}")
    return LOADERS[name](root)


def load_windows(name: str, root: str | Path, spec: WindowSpec) -> WindowSet:
    """Load a dataset and cut it into labelled windows of ``spec``."""
    return make_windows(load_dataset(name, root), spec)
