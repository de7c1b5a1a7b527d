"""Hypothesis profiles (``ci`` small and seeded by default; ``fuzz`` via HYPOTHESIS_PROFILE=fuzz) and
fixtures for the C library and the golden vectors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from firmware_bridge import native, vectors

settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
settings.register_profile("fuzz", max_examples=50_000, deadline=None, derandomize=False,
                          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

FIRMWARE = native.FIRMWARE_DIR


def need_gcc() -> None:
    if shutil.which("gcc") is None or shutil.which("make") is None:
        pytest.skip("gcc/make not installed: the C firmware cannot be built here")


@pytest.fixture(scope="session")
def native_lib() -> Path:
    """build/libprotocol.so, built by ``make -C firmware_bridge/firmware lib``."""
    need_gcc()
    return native.build_library()


@pytest.fixture(scope="session")
def golden() -> dict[str, Any]:
    return vectors.load()
