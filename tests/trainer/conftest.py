"""Shared trainer fixtures: a small real HAPT subset (few subjects) so evaluator tests stay quick."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

SMALL_SUBJECTS = (1, 2, 3, 4, 5, 6)


def copy_hapt_subset(hapt_root: Path, dest: Path, subjects: tuple[int, ...]) -> Path:
    """Copy the RawData files of ``subjects`` (and their label rows) into ``dest/RawData``."""
    raw = dest / "RawData"
    raw.mkdir(parents=True)
    src = hapt_root / "RawData"
    exps: set[int] = set()
    for s in subjects:
        for f in sorted(src.glob(f"acc_exp*_user{s:02d}.txt")):
            shutil.copy(f, raw / f.name)
            g = f.with_name(f.name.replace("acc_", "gyro_", 1))
            shutil.copy(g, raw / g.name)
            exps.add(int(f.name[7:9]))
    rows = [ln for ln in (src / "labels.txt").read_text().splitlines() if ln.split() and int(ln.split()[0]) in exps]
    (raw / "labels.txt").write_text("\n".join(rows) + "\n")
    return dest


@pytest.fixture(scope="session")
def hapt_small_root(hapt_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real HAPT subset (subjects 1-6, 12 experiments) in the official layout."""
    return copy_hapt_subset(hapt_root, tmp_path_factory.mktemp("hapt_small"), SMALL_SUBJECTS)


@pytest.fixture(scope="session")
def hapt_small_windows(hapt_small_root: Path):  # type: ignore[no-untyped-def]
    """Walking/upstairs/downstairs windows of 6 real subjects at stride 32: identity is learnable fast."""
    from edge_runtime.contract import WindowSpec
    from trainer.data import load_windows

    ws = load_windows("hapt", hapt_small_root, WindowSpec(stride=32))
    return ws.subset(np.flatnonzero(ws.activity <= 2))
