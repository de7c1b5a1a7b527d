"""Shared trainer fixtures: a small real HAPT subset (few subjects) so evaluator tests stay quick."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ..conftest import SHARED_DATASETS

SMALL_SUBJECTS = (1, 2, 3, 4, 5, 6)
SISFALL_SMALL = (1, 15, 21)  # F; F whose D17 files are named D17_SE15_*; M whose D05 R03 ends in stray spaces


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


def extract_sisfall_subset(zip_path: Path, dest: Path, subjects: tuple[int, ...]) -> Path:
    """Extract ``SisFall_dataset/Readme.txt`` and the SAxx folders of ``subjects`` into ``dest`` (no subjects.csv)."""
    folders = {f"SA{s:02d}" for s in subjects}
    with zipfile.ZipFile(zip_path) as z:
        for name in z.namelist():
            parts = name.split("/")
            if name.endswith("Readme.txt") or (len(parts) == 3 and parts[1] in folders):
                z.extract(name, dest)
    return dest


@pytest.fixture(scope="session")
def sisfall_root() -> Path:
    """The real SisFall folder (SisFall_dataset.zip + subjects.csv); skip with a reason if absent."""
    root = SHARED_DATASETS / "sisfall"
    if not (root / "SisFall_dataset.zip").is_file():
        pytest.skip(f"SisFall not found at {root} (set EDGE_ANON_DATASETS)")
    return root


@pytest.fixture(scope="session")
def sisfall(sisfall_root: Path):  # type: ignore[no-untyped-def]
    """Every SisFall recording of the real zip, loaded once (about 10 s)."""
    from trainer.data import load_sisfall

    return load_sisfall(sisfall_root)


@pytest.fixture(scope="session")
def sisfall_small_root(sisfall_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SA01, SA15, SA21 extracted in the official layout (``<tmp>/SisFall_dataset/SAxx/...``), Readme only."""
    return extract_sisfall_subset(sisfall_root / "SisFall_dataset.zip", tmp_path_factory.mktemp("sisfall_small"), SISFALL_SMALL)
