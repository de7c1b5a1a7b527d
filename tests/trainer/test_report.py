"""Report files exist and parse; ``run_evaluation`` works end to end on a tiny saved run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.contract import WindowSpec
from trainer.checkpoint import RUN_JSON
from trainer.errors import CheckpointError
from trainer.evaluate import EvalConfig
from trainer.report import run_evaluation, summarize, write_report

from .synthetic import tiny_run

PNG = b"\x89PNG\r\n\x1a\n"


def _variant(f1: float, raw_id: float, ret_id: float, mse: float, snr: float | None) -> dict:
    ident = {
        "chance": 3.33, "n_subjects": 30, "train_subjects": {"accuracy": ret_id}, "test_subjects": {"accuracy": ret_id},
        "unseen_only": {"accuracy": ret_id / 2, "chance": 10.0, "n_subjects": 10},
    }
    return {
        "activity": {"macro_f1": f1, "accuracy": f1 + 1, "chance_accuracy": 16.67, "labels": ["walking", "sitting"],
                     "per_class_f1": {}, "confusion": [[1, 0], [0, 1]]},
        "identity_raw_attacker": {**ident, "accuracy": raw_id, "trained_on": "raw"},
        "identity_retrained_attacker": {**ident, "accuracy": ret_id, "trained_on": "released", "unseen_only": None},
        "distortion": {"mse_normalized": mse, "snr_db": snr},
    }


def test_write_report_from_a_results_table(tmp_path: Path) -> None:
    results = {"name": "demo", "dataset": "hapt", "variants": {
        "raw": _variant(86.4, 27.3, 27.3, 0.0, None), "anonymizer": _variant(80.1, 4.0, 9.5, 0.2, 7.0),
    }}
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(2, 128, 2)).astype(np.float32)
    examples = {"raw": raw, "released": {"anonymizer": raw * 0}, "labels": ["walking", "sitting"],
                "channels": ["acc_mag", "gyro_mag"], "rate_hz": 50.0}
    paths = write_report(results, tmp_path / "eval", examples=examples)
    assert set(paths) == {"evaluation", "report", "tradeoff", "examples", "spectrograms"}
    assert json.loads(paths["evaluation"].read_text()) == results
    md = paths["report"].read_text()
    rows = [ln for ln in md.splitlines() if ln.startswith("| raw ") or ln.startswith("| anonymizer ")]
    assert len(rows) == 2 and "80.1" in rows[1] and "9.5" in rows[1] and "n/a" in rows[0]
    assert "RAW trial-A" in md and "chance" in md.lower()
    for key in ("tradeoff", "examples", "spectrograms"):
        assert paths[key].read_bytes()[:8] == PNG
    assert summarize(results)["anonymizer"]["identity_retrained_attacker"] == 9.5
    with pytest.raises(ValueError):  # NaN is not JSON: refuse rather than write a file others cannot parse
        write_report({"variants": {"raw": _variant(math.nan, 1, 1, 0, None)}}, tmp_path / "nan")
    assert not (tmp_path / "nan" / "evaluation.json").exists()


def test_run_evaluation_end_to_end(hapt_small_root: Path, tmp_path: Path) -> None:
    run = tiny_run(tmp_path / "run", WindowSpec())
    cfg = EvalConfig.quick(epochs=2, filters=16, max_train=1000)
    # one baseline keeps the test short; activity_seeds overrides the config's single seed
    results = run_evaluation(run, hapt_small_root, cfg=cfg, rates=(5.0,), activity_seeds=2)
    assert list(results["variants"]) == ["raw", "anonymizer", "resample_5hz"]
    assert all(len(v["activity"]["macro_f1_runs"]) == 2 for v in results["variants"].values())
    assert results["eval_config"]["activity_seeds"] == 2
    out = run / "eval"
    for name in ("evaluation.json", "report.md", "tradeoff.png", "examples.png", "spectrograms.png"):
        assert (out / name).is_file(), name
    parsed = json.loads((out / "evaluation.json").read_text())
    assert parsed["splits"]["test_subjects"] == results["splits"]["test_subjects"]
    assert parsed["variants"]["resample_5hz"]["distortion"]["mse_normalized"] > 0
    meta = json.loads((run / RUN_JSON).read_text())
    assert meta["history"] == [{"round": 0}]  # merged, not clobbered
    assert set(meta["evaluation"]["summary"]) == set(results["variants"])
    md = (out / "report.md").read_text()
    assert all(f"| {v} |" in md for v in results["variants"])


def test_run_evaluation_refuses_a_different_split(hapt_small_root: Path, tmp_path: Path) -> None:
    run = tiny_run(tmp_path / "run", WindowSpec(), {"splits": {"test_subjects": [99]}})
    with pytest.raises(CheckpointError, match="leak"):
        run_evaluation(run, hapt_small_root, cfg=EvalConfig.quick())
    assert not (run / "eval").exists()
