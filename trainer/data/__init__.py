"""Datasets -> canonical recordings -> labelled windows (``trainer.data``).

The taxonomy across datasets is in ``taxonomy.py`` (and docs/datasets.md); how several datasets
are found and combined is in ``catalog.py``.
"""

from __future__ import annotations

from .catalog import (
    ALIASES,
    ATTRIBUTIONS,
    LOADERS,
    attribution,
    dataset_list,
    load_dataset,
    load_windows,
    resolve_roots,
)
from .hapt import ATTRIBUTION as HAPT_ATTRIBUTION
from .hapt import load_hapt
from .motionsense import load_motionsense
from .recording import ACTIVITIES, Recording, SubjectInfo
from .resample import decimate
from .sisfall import ATTRIBUTION as SISFALL_ATTRIBUTION
from .sisfall import load_sisfall
from .taxonomy import COARSE_ACTIVITIES, TAXONOMIES, activity_names, relabel
from .windows import WindowSet, bouts, make_windows

__all__ = [
    "ACTIVITIES", "COARSE_ACTIVITIES", "TAXONOMIES", "Recording", "SubjectInfo", "WindowSet", "bouts", "make_windows",
    "load_hapt", "load_motionsense", "load_sisfall", "load_dataset", "load_windows", "resolve_roots", "dataset_list",
    "decimate", "activity_names", "relabel", "attribution", "HAPT_ATTRIBUTION", "SISFALL_ATTRIBUTION", "ATTRIBUTIONS",
    "ALIASES", "LOADERS",
]
