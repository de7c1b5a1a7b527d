"""Source fixtures: an emulated BLE wearable (bumble) and the opt-in ``--ble-vhci`` switch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edge_runtime.sources.ble_bumble import BumbleWearable


@pytest.fixture
def wearable() -> Iterator[BumbleWearable]:
    """A bumble-emulated wearable on an in-process link; ``wearable.hci`` is the central's transport."""
    w = BumbleWearable("F0:11:22:33:44:55")
    w.start()
    yield w
    w.stop()
