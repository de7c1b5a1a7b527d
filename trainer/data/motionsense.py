"""MotionSense loader for the ``A_DeviceMotion_data/<act>_<trial>/sub_<n>.csv`` layout.

userAcceleration + gravity are in g and are summed back into gravity-included acceleration
(m/s²), the same quantity HAPT and a wearable IMU report; rotationRate is rad/s, 50 Hz.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from edge_runtime.contract import G

from ..errors import DatasetError
from .recording import ACTIVITIES, Recording

__all__ = ["load_motionsense", "MOTIONSENSE_ACTIVITY_MAP"]

MOTIONSENSE_ACTIVITY_MAP = {
    "wlk": ACTIVITIES.index("walking"),
    "ups": ACTIVITIES.index("upstairs"),
    "dws": ACTIVITIES.index("downstairs"),
    "sit": ACTIVITIES.index("sitting"),
    "std": ACTIVITIES.index("standing"),
    "jog": ACTIVITIES.index("jogging"),
}
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


def load_motionsense(root: str | Path) -> list[Recording]:
    """Load every ``<act>_<trial>/sub_<n>.csv`` under ``root`` (or ``root/A_DeviceMotion_data``).

    The trial id is ``trial_number * 100 + activity index`` so each folder is its own trial.
    """
    root = Path(root)
    base = root / "A_DeviceMotion_data" if (root / "A_DeviceMotion_data").is_dir() else root
    dirs = sorted(d for d in base.iterdir() if d.is_dir() and _DIR.match(d.name)) if base.is_dir() else []
    if not dirs:
        raise DatasetError(f"MotionSense not found: no <act>_<trial>/ folders in {base}")
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
            if fm is None:
                continue
            samples = _read_csv(f)
            labels = np.full(len(samples), label, dtype=np.int8)
            recs.append(Recording("motionsense", int(fm.group(1)), trial_no * 100 + label, samples, labels))
    if not recs:
        raise DatasetError(f"MotionSense folders in {base} hold no sub_<n>.csv files")
    return recs
