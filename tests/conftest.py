"""Project-wide test settings: where the real datasets live, and quiet TensorFlow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATASETS = Path(os.environ.get("EDGE_ANON_DATASETS", ROOT.parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def hapt_root() -> Path:
    """The real UCI HAPT RawData layout (../shared/datasets/uci-hapt); skip with a reason if absent."""
    root = SHARED_DATASETS / "uci-hapt"
    if not (root / "RawData" / "labels.txt").is_file():
        pytest.skip(f"UCI HAPT not found at {root} (set EDGE_ANON_DATASETS)")
    return root


def pytest_addoption(parser: pytest.Parser) -> None:
    """Opt-in hardware paths (bleak's habit): skipped with a reason unless asked for."""
    parser.addoption(
        "--ble-vhci",
        action="store_true",
        default=False,
        help="also run bleak against an emulated wearable through /dev/vhci (needs root, hci_vhci, bluetoothd)",
    )
