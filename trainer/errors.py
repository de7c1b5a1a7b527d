"""Trainer errors: one line each, printed by ``aae`` without a traceback (``--debug`` shows it)."""

from __future__ import annotations

__all__ = ["TrainerError", "DatasetError", "LeakError", "CheckpointError"]


class TrainerError(Exception):
    """Base of every trainer failure a user can cause."""


class DatasetError(TrainerError):
    """Dataset folder missing, incomplete or corrupt; the message names the file."""


class LeakError(TrainerError):
    """A split lets a test window into a training set."""


class CheckpointError(TrainerError):
    """A run folder is missing, incomplete or from an incompatible version."""
