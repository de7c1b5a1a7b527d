"""Cross-dataset report and release-gate check on synthetic windows with planted identity and activity."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from trainer.crosseval import BASELINES, baseline_transforms, cross_check, cross_report, pareto_vs_baseline
from trainer.data import WindowSet
from trainer.evaluators import EvalConfig

from .synthetic import planted

CFG = EvalConfig.quick(epochs=8)
PNG = b"\x89PNG\r\n\x1a\n"


def scrub_identity(x: np.ndarray) -> np.ndarray:
    """A plain-callable "anonymizer" for the planted data: channel 0 (the identity) becomes gravity."""
    return np.concatenate([np.full_like(x[..., :1], 9.8), x[..., 1:]], axis=-1)


@pytest.fixture(scope="module")
def ws() -> WindowSet:
    return planted(n_subjects=6, windows_per_bout=8)


@pytest.fixture(scope="module")
def report(ws: WindowSet, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("cross") / "eval-cross-synthetic"
    return cross_report({"scrub": scrub_identity}, ws, out, cfg=CFG, meta={"taxonomy": "synthetic"}), out


@pytest.mark.parametrize(
    ("model", "baseline", "passed", "why"),
    [
        ((20.0, 80.0), (30.0, 80.0), True, "<"),  # less identity, equal F1: dominates
        ((20.0, 85.0), (30.0, 80.0), True, "<"),
        ((30.0, 90.0), (30.0, 80.0), False, "not below"),  # equal identity is not lower
        ((35.0, 90.0), (30.0, 80.0), False, "not below"),
        ((20.0, 79.9), (30.0, 80.0), False, "below the baseline"),
        ((None, 80.0), (30.0, 80.0), False, "missing"),
        ((20.0, 80.0), (30.0, None), False, "missing"),
    ],
)
def test_pareto_vs_baseline(model: tuple, baseline: tuple, passed: bool, why: str) -> None:
    def row(v: tuple) -> dict:
        return {"identity_max": v[0], "activity_f1": v[1]}

    ok, reason = pareto_vs_baseline(row(model), row(baseline))
    assert ok is passed and why in reason


@pytest.mark.slow  # five releases x three CNN fits; the real-data CLI test covers the files in the default run
def test_report_ranks_every_release_and_writes_json_md_png(report: tuple[dict, Path], ws: WindowSet) -> None:
    doc, out = report
    rows = doc["summary"]
    assert list(rows) == [*BASELINES, "scrub"]  # baselines always included, first
    chance = 100.0 / 6
    raw, lp5, label, scrub = rows["raw"], rows["lp5"], rows["label_only"], rows["scrub"]
    assert raw["identity_max"] > 90 and raw["identity_session"] > 90 and raw["chance"] == pytest.approx(chance, abs=0.01)
    assert label["activity_f1"] > 95  # the label is all a label-only release carries ...
    assert label["identity_max"] <= label["identity_label_bound"] + 0.01  # ... and all its identity comes from it
    assert scrub["identity_max"] < 2 * chance and scrub["activity_f1"] > 95
    assert lp5["identity_max"] > scrub["identity_max"]  # 5 Hz keeps the slow subjects' frequencies
    for r in rows.values():
        assert set(r) >= {"identity_max", "identity_session", "activity_f1", "gender_max", "chance", "n_sessions"}
    pareto = doc["pareto_vs_lowpass"]
    assert pareto["scrub"]["passed"] and not pareto["raw"]["passed"] and "lp5" not in pareto
    # the files: JSON parses to the returned numbers, the table has a row per release, the plot is a PNG
    parsed = json.loads((out / "evaluation.json").read_text())
    assert parsed["summary"] == json.loads(json.dumps(rows))
    assert parsed["eval_config"]["quick_mode"] is True and parsed["splits"]["test_subjects"]
    md = (out / "report.md").read_text()
    assert all(f"| {n} | **" in md for n in rows) and "- scrub: PASS" in md and "- raw: fail" in md
    assert (out / "privacy_utility.png").read_bytes()[:8] == PNG
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporary file


def test_cross_check_gates_a_plain_callable_against_the_low_pass(ws: WindowSet) -> None:
    const = np.broadcast_to(ws.x.mean(axis=0), ws.x.shape[1:]).copy()
    r = cross_check(lambda x: np.broadcast_to(const, x.shape).copy(), ws, cfg=replace(CFG, epochs=5))
    assert set(r) >= {"model", "baseline", "pareto", "reason"} and r["baseline_name"] == "lp5"
    assert r["model"]["identity_max"] < r["baseline"]["identity_max"]  # nothing left to identify ...
    assert r["pareto"] is False and "activity F1" in r["reason"]  # ... nor to recognise the activity by
    assert r["model"]["chance"] == pytest.approx(100 / 6, abs=0.01)


def test_reserved_and_unknown_names_are_refused(ws: WindowSet, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="reserved"):
        cross_report({"lp5": scrub_identity}, ws, tmp_path / "x", cfg=CFG)
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_transforms(ws, ("lp3",))
    with pytest.raises(ValueError, match="unknown baseline"):
        cross_check(scrub_identity, ws, cfg=CFG, baseline="lp3")
    assert not (tmp_path / "x").exists()
