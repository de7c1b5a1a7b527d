"""``run_windows``: every evaluation of a run (report, release gate, cross report) sees the run's own datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_runtime.contract import WindowSpec
from trainer.checkpoint import load_run, run_windows
from trainer.errors import CheckpointError

from .synthetic import tiny_run


def test_a_multi_dataset_run_is_evaluated_on_all_its_datasets(hapt_small_root: Path, sisfall_small_root: Path,
                                                              tmp_path: Path) -> None:
    from export.gate import eval_data

    run = load_run(tiny_run(tmp_path / "run", WindowSpec(), config={"datasets": ["hapt", "sisfall"]}))
    data = {"hapt": str(hapt_small_root), "sisfall": str(sisfall_small_root)}
    ws, splits = run_windows(run, data)
    assert set(ws.dataset_of()) == {"hapt", "sisfall"}
    assert ws.spec.stride == 64  # the run's eval_stride, not the training stride
    gate_ws, gate_splits = eval_data(run, data)  # the release gate: the same windows, the same split
    assert np.array_equal(gate_ws.subject, ws.subject) and gate_splits.test_subjects == splits.test_subjects


def test_run_windows_refuses_a_split_that_differs_from_the_recorded_one(hapt_small_root: Path, tmp_path: Path) -> None:
    run = load_run(tiny_run(tmp_path / "run", WindowSpec(), {"splits": {"test_subjects": [99]}}))
    with pytest.raises(CheckpointError, match="leak"):
        run_windows(run, hapt_small_root)
