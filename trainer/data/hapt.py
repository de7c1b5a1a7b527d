"""UCI HAPT loader for the official ``RawData/`` layout (acc in g, gyro in rad/s, 50 Hz).

Only the six basic activities are labelled by default; postural transitions (7–12) are marked -1,
so no window ever straddles a transition. ``transitions=True`` (what the coarse taxonomy asks for)
labels them "transition" instead (``taxonomy.py``). HAPT publishes no subject attributes.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from edge_runtime.contract import G

from ..errors import DatasetError
from .recording import ACTIVITIES, Recording
from .taxonomy import HAPT_FINE, HAPT_TRANSITIONS

__all__ = ["load_hapt", "looks_like_hapt", "HAPT_ACTIVITY_MAP", "ATTRIBUTION"]

# HAPT activity id -> index into ACTIVITIES (walking, upstairs, downstairs, sitting, standing, laying)
HAPT_ACTIVITY_MAP = {code: ACTIVITIES.index(name) for code, name in HAPT_FINE.items()}
_TRANSITION_MAP = {code: ACTIVITIES.index("transition") for code in HAPT_TRANSITIONS}
ATTRIBUTION = (
    "Trained on UCI HAPT (Reyes-Ortiz, Oneto, Samà, Parra, Anguita, 'Transition-Aware Human Activity "
    "Recognition Using Smartphones', Neurocomputing 171 (2016) 754-767), CC BY 4.0."
)
_NAME = re.compile(r"acc_exp(\d+)_user(\d+)\.txt$")


def _read_matrix(path: Path, cols: int) -> np.ndarray:
    try:
        x = np.loadtxt(path, dtype=np.float32, ndmin=2)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"HAPT file {path} is unreadable or corrupt: {exc}") from exc
    if x.shape[1] != cols or not np.isfinite(x).all():
        raise DatasetError(f"HAPT file {path} must hold {cols} finite columns, got shape {x.shape}")
    return x


def _read_labels(path: Path) -> np.ndarray:
    try:
        lab = np.loadtxt(path, dtype=np.int64, ndmin=2)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"HAPT labels {path} are unreadable or corrupt: {exc}") from exc
    if lab.shape[1] != 5:
        raise DatasetError(f"HAPT labels {path} must have 5 columns (exp user act start end), got {lab.shape[1]}")
    return lab


def looks_like_hapt(path: Path) -> bool:
    """Whether ``path`` is a root ``load_hapt`` accepts (no file is read)."""
    return (path / "RawData" / "labels.txt").is_file() or (path / "labels.txt").is_file()


def load_hapt(root: str | Path, *, subjects: set[int] | None = None, transitions: bool = False) -> list[Recording]:
    """Load every experiment under ``root`` (the folder holding ``RawData/``, or ``RawData`` itself).

    Args:
        subjects: user ids to load; None = all.
        transitions: label the postural transitions (7-12) "transition" instead of -1.

    Raises:
        DatasetError: folder or files missing, corrupt, or acc/gyro lengths disagree.
    """
    root = Path(root)
    raw = root if (root / "labels.txt").is_file() and not (root / "RawData").is_dir() else root / "RawData"
    labels_path = raw / "labels.txt"
    if not labels_path.is_file():
        raise DatasetError(
            f"UCI HAPT not found: {labels_path} is missing (point --data at the folder with RawData/ "
            "from the official archive)"
        )
    table = _read_labels(labels_path)
    codes = {**HAPT_ACTIVITY_MAP, **_TRANSITION_MAP} if transitions else HAPT_ACTIVITY_MAP
    recs: list[Recording] = []
    acc_files = sorted(raw.glob("acc_exp*_user*.txt"))
    if not acc_files:
        raise DatasetError(f"no acc_expEE_userUU.txt files in {raw}")
    for acc_path in acc_files:
        m = _NAME.search(acc_path.name)
        if m is None:
            continue
        exp, user = int(m.group(1)), int(m.group(2))
        if subjects is not None and user not in subjects:
            continue
        gyro_path = acc_path.with_name(acc_path.name.replace("acc_", "gyro_", 1))
        if not gyro_path.is_file():
            raise DatasetError(f"HAPT file {gyro_path} is missing (needed beside {acc_path.name})")
        acc, gyro = _read_matrix(acc_path, 3), _read_matrix(gyro_path, 3)
        if len(acc) != len(gyro):
            raise DatasetError(f"HAPT experiment {exp}: acc has {len(acc)} rows, gyro {len(gyro)}")
        samples = np.concatenate([acc * np.float32(G), gyro], axis=1).astype(np.float32)
        labels = np.full(len(samples), -1, dtype=np.int8)
        for e, u, act, start, end in table[table[:, 0] == exp]:
            if u != user or start < 0 or end >= len(samples) or end < start:
                raise DatasetError(f"HAPT labels row ({e} {u} {act} {start} {end}) does not fit experiment {exp}")
            labels[start : end + 1] = codes.get(int(act), -1)
        recs.append(Recording("hapt", user, exp, samples, labels))
    if not recs:
        raise DatasetError(f"no HAPT experiments matched in {raw}")
    return recs
