"""MotionSense loader for the ``A_DeviceMotion_data/<act>_<trial>/sub_<n>.csv`` layout.

userAcceleration + gravity are in g and are summed back into gravity-included acceleration
(m/s²), the same quantity HAPT and a wearable IMU report; rotationRate is rad/s, 50 Hz.

Subject attributes come from the dataset's ``data_subjects_info.csv`` (``code,weight,height,age,
gender``; kg, cm, years; **gender 1 = male, 0 = female**) when it lies in, next to or one level
above ``A_DeviceMotion_data``; without it ``Recording.info`` is None.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from edge_runtime.contract import G

from ..errors import DatasetError
from .recording import ACTIVITIES, Recording, SubjectInfo
from .taxonomy import MOTIONSENSE_FINE

__all__ = ["load_motionsense", "looks_like_motionsense", "parse_subjects_info", "MOTIONSENSE_ACTIVITY_MAP"]

MOTIONSENSE_ACTIVITY_MAP = {code: ACTIVITIES.index(name) for code, name in MOTIONSENSE_FINE.items()}
SUBJECTS_FILE = "data_subjects_info.csv"
_GENDER = {"1": "M", "0": "F"}  # as published by MotionSense
_DIR = re.compile(r"^([a-z]{3})_(\d+)$")
_FILE = re.compile(r"^sub_(\d+)\.csv$")
_ACC = ("userAcceleration.x", "userAcceleration.y", "userAcceleration.z")
_GRAV = ("gravity.x", "gravity.y", "gravity.z")
_GYRO = ("rotationRate.x", "rotationRate.y", "rotationRate.z")


def _read_csv(path: Path) -> np.ndarray:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        header = rows[0]
        cols = [header.index(c) for c in (*_ACC, *_GRAV, *_GYRO)]
        data = np.array([[float(r[c]) for c in cols] for r in rows[1:] if r], dtype=np.float32).reshape(-1, 9)
    except (OSError, IndexError, ValueError, UnicodeDecodeError) as exc:
        raise DatasetError(f"MotionSense file {path} is unreadable or corrupt: {exc}") from exc
    if not np.isfinite(data).all():
        raise DatasetError(f"MotionSense file {path} holds non-finite values")
    acc = (data[:, 0:3] + data[:, 3:6]) * np.float32(G)
    return np.concatenate([acc, data[:, 6:9]], axis=1)


def parse_subjects_info(text: str, where: str) -> dict[int, SubjectInfo]:
    """MotionSense ``code,weight,height,age,gender`` rows -> {subject: SubjectInfo}."""
    rows = list(csv.DictReader(text.lstrip("\ufeff").splitlines()))
    try:
        return {
            int(r["code"]): SubjectInfo(_GENDER[r["gender"].strip()], float(r["age"]), float(r["height"]), float(r["weight"]))
            for r in rows
        }
    except (KeyError, ValueError, AttributeError) as exc:
        raise DatasetError(f"{where} must hold code,weight,height,age,gender rows (gender 0/1): {exc!r}") from exc


def _subjects_info(base: Path) -> dict[int, SubjectInfo]:
    for folder in dict.fromkeys((base, base.parent, base.parent.parent)):
        p = folder / SUBJECTS_FILE
        if p.is_file():
            try:
                return parse_subjects_info(p.read_text(encoding="utf-8-sig"), str(p))
            except (OSError, UnicodeDecodeError) as exc:
                raise DatasetError(f"{p} is unreadable: {exc}") from exc
    return {}


def looks_like_motionsense(path: Path) -> bool:
    """Whether ``path`` is a root ``load_motionsense`` accepts (no file is read)."""
    base = path / "A_DeviceMotion_data" if (path / "A_DeviceMotion_data").is_dir() else path
    return base.is_dir() and any(d.is_dir() and _DIR.match(d.name) for d in base.iterdir())


def load_motionsense(root: str | Path, *, subjects: set[int] | None = None) -> list[Recording]:
    """Load every ``<act>_<trial>/sub_<n>.csv`` under ``root`` (or ``root/A_DeviceMotion_data``).

    The trial id is ``subject * 10000 + trial_number * 100 + activity index``: one per file, unique
    in the dataset (each ``<act>_<trial>`` folder holds one trial of every subject).
    """
    root = Path(root)
    base = root / "A_DeviceMotion_data" if (root / "A_DeviceMotion_data").is_dir() else root
    dirs = sorted(d for d in base.iterdir() if d.is_dir() and _DIR.match(d.name)) if base.is_dir() else []
    if not dirs:
        raise DatasetError(f"MotionSense not found: no <act>_<trial>/ folders in {base}")
    info = _subjects_info(base)
    recs: list[Recording] = []
    for d in dirs:
        m = _DIR.match(d.name)
        assert m is not None
        act, trial_no = m.group(1), int(m.group(2))
        if act not in MOTIONSENSE_ACTIVITY_MAP:
            raise DatasetError(f"MotionSense folder {d.name}: unknown activity code {act!r}")
        label = MOTIONSENSE_ACTIVITY_MAP[act]
        for f in sorted(d.glob("sub_*.csv")):
            fm = _FILE.match(f.name)
            sub = -1 if fm is None else int(fm.group(1))
            if fm is None or (subjects is not None and sub not in subjects):
                continue
            samples = _read_csv(f)
            labels = np.full(len(samples), label, dtype=np.int8)
            recs.append(Recording("motionsense", sub, sub * 10000 + trial_no * 100 + label, samples, labels, info=info.get(sub)))
    if not recs:
        raise DatasetError(f"MotionSense folders in {base} hold no sub_<n>.csv files")
    return recs
