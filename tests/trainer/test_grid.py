"""``aae grid``: axes, points and folder names, the Pareto marks, and one real grid end to end (HAPT subset)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trainer.cli import main
from trainer.errors import TrainerError
from trainer.grid import parse_axis, plan_points, point_name
from trainer.gridreport import finish, pareto_optimal, write_doc

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "trainer/configs/smoke.toml"


@pytest.mark.parametrize(("item", "key", "values"), [
    ("beta_id=0.5,1", "beta_id", [0.5, 1]),
    ("beta_id = 0.5, 1.5 ", "beta_id", [0.5, 1.5]),
    ("view=magnitude,axes", "view", ["magnitude", "axes"]),
    ('view="magnitude"', "view", ["magnitude"]),
    ('datasets=["hapt"],["hapt","sisfall"]', "datasets", [["hapt"], ["hapt", "sisfall"]]),
    ("learned=true,false", "learned", [True, False]),
])
def test_parse_axis(item: str, key: str, values: list[Any]) -> None:
    assert parse_axis(item) == (key, values)


@pytest.mark.parametrize(("item", "message"), [
    ("beta_id", "expects KEY=V1,V2"), ("=1,2", "expects KEY=V1,V2"), ("beta_id=", "has no values"),
    ("beta_id=  ", "has no values"), ("view=magnitude,,axes", "empty value"),
])
def test_bad_axis_is_one_error(item: str, message: str) -> None:
    with pytest.raises(TrainerError, match=message):
        parse_axis(item)


def test_points_are_the_product_first_axis_slowest_with_coerced_values() -> None:
    points = plan_points(None, [("beta_id", [0.5, 1]), ("beta_dist", [0.5, 1.5])], {"rounds": 2})
    assert [p.name for p in points] == ["beta_id=0.5,beta_dist=0.5", "beta_id=0.5,beta_dist=1.5",
                                        "beta_id=1,beta_dist=0.5", "beta_id=1,beta_dist=1.5"]
    assert points[2].overrides == {"beta_id": 1.0, "beta_dist": 0.5} and isinstance(points[2].overrides["beta_id"], float)
    assert all(p.config.rounds == 2 for p in points) and points[3].config.beta_dist == 1.5


def test_point_names_are_stable_safe_and_short() -> None:
    assert point_name({"beta_id": 1.0}) == point_name({"beta_id": 1}) == "beta_id=1"
    assert point_name({"view": "a/b c", "learned": False}) == "view=a_b_c,learned=false"
    assert point_name({"datasets": ["hapt", "sisfall"]}) == "datasets=hapt+sisfall"
    long = {f"key{i}": 0.123456789 for i in range(12)}
    name = point_name(long)
    assert len(name) <= 120 and name == point_name(dict(long)) and name != point_name({**long, "key0": 0.2})


@pytest.mark.parametrize(("axes", "fixed", "message"), [
    ([], {}, "at least one --axis"),
    ([("beta_idd", [1])], {}, "unknown config key: beta_idd"),
    ([("rounds", [1.5])], {}, "config key rounds must be int"),
    ([("beta_id", [1]), ("beta_id", [2])], {}, "beta_id is given twice"),
    ([("beta_id", [1])], {"beta_id": 2}, "beta_id is given twice"),
    ([("beta_id", [1, 1.0])], {}, "same point beta_id=1"),
])
def test_bad_grids_are_refused_before_anything_trains(axes: list[Any], fixed: dict[str, Any], message: str) -> None:
    with pytest.raises(TrainerError, match=message):
        plan_points(None, axes, fixed)


@pytest.mark.parametrize("argv", [[], ["--axis", "beta_idd=1,2"], ["--axis", "beta_id="]])
def test_cli_bad_arguments_exit_2_with_one_line(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grid", "--data", str(tmp_path), "--out", str(tmp_path / "g"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("aae: error: ") and "\n" not in err
    assert not (tmp_path / "g").exists()


@pytest.mark.parametrize(("rows", "optimal"), [
    ({"a": (10.0, 80.0), "b": (20.0, 90.0), "c": (20.0, 70.0)}, {"a", "b"}),  # c: a has lower identity, higher F1
    ({"a": (10.0, 80.0), "b": (10.0, 80.0)}, {"a", "b"}),  # a tie dominates nobody
    ({"a": (10.0, 80.0), "b": (10.0, 79.9)}, {"a"}),  # same identity, lower F1
    ({"a": (None, 99.0), "b": (30.0, 50.0)}, {"b"}),  # a missing number is never optimal, dominates nothing
    ({}, set()),
])
def test_pareto_optimal(rows: dict[str, tuple[float | None, float | None]], optimal: set[str]) -> None:
    assert pareto_optimal(rows) == optimal


def _done(name: str, identity: float, f1: float, status: str = "bundle", lp5: tuple[float, float] | None = None) -> dict[str, Any]:
    numbers: dict[str, Any] = {"dataset": "hapt", "identity_retrained": identity, "identity_raw_attacker": identity,
                               "identity_chance": 5.0, "activity_f1": f1}
    if lp5 is not None:
        numbers["cross"] = {"dataset": "sisfall", "identity_max": identity + 10, "identity_session": None, "chance": 4.3,
                            "activity_f1": f1 - 5, "dominates_lowpass": identity + 10 < lp5[0],
                            "lowpass": {"identity_max": lp5[0], "activity_f1": lp5[1]}}
    return {"name": name, "overrides": {"beta_id": float(name)}, "status": status, "bundle": f"bundles/{name}",
            "numbers": numbers, "minutes": 1.0,
            "run_baselines": {"rows": {"raw": {"identity_retrained": 60.0, "activity_f1": 90.0},
                                       "resample_5hz": {"identity_retrained": 30.0, "activity_f1": 70.0}}, "comparable": True}}


def test_finish_marks_the_frontier_with_baselines_and_writes_the_files(tmp_path: Path) -> None:
    doc: dict[str, Any] = {"axes": {"beta_id": [1.0, 2.0, 3.0, 4.0]}, "cross": "sisfall", "points": [
        _done("1", 20.0, 80.0, lp5=(35.0, 70.0)), _done("2", 25.0, 75.0, "rejected", lp5=(35.0, 70.0)),
        _done("3", 35.0, 60.0, lp5=(35.0, 70.0)),  # dominated by resample_5hz on hapt, by lp5 on sisfall
        {"name": "4", "overrides": {"beta_id": 4.0}, "status": "failed", "error": "TrainerError: boom"}]}
    write_doc(doc, tmp_path)
    finish(doc, tmp_path)
    saved = json.loads((tmp_path / "grid.json").read_text())
    assert saved["complete"] and saved["summary"] == {"bundle": 2, "rejected": 1, "failed": 1, "pending": 0}
    assert saved["frontier"]["own"]["pareto"] == ["1"] and saved["frontier"]["cross"]["pareto"] == ["1"]
    assert [p.get("pareto") for p in saved["points"]] == [{"own": True, "cross": True}, {"own": False, "cross": False},
                                                          {"own": False, "cross": False}, {}]
    assert set(saved["frontier"]["own"]["baselines"]) == {"raw", "resample_5hz"} and saved["frontier"]["cross"]["baselines"]["lp5"]
    md = (tmp_path / "grid.md").read_text()
    assert md.count("\n| ") == 5 and "TrainerError: boom" in md and "![frontier](frontier.png)" in md
    assert (tmp_path / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_points_resume_their_runs_and_refuse_a_run_of_another_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bookkeeping only: train and export stand-ins; every failure is one line of its point."""
    import export.cli
    import trainer.train
    from export.convert import ExportError
    from trainer.grid import run_grid

    calls: list[bool] = []

    def fake_train(cfg: Any, data: Any, out: Path, *, resume: bool = False, log: Any = print) -> Path:
        calls.append(resume)
        (out / "run.json").write_text(json.dumps({"config": cfg.to_dict()}))
        (out / "anonymizer.keras").write_bytes(b"")
        return out

    def fake_export(run_dir: Path, data: Any, out: Path, **kw: Any) -> Any:
        raise ExportError("no converter here\nsecond line")

    monkeypatch.setattr(trainer.train, "train", fake_train)
    monkeypatch.setattr(export.cli, "export_run", fake_export)
    points = plan_points(None, [("beta_id", [0.5, 1])], {"evaluate": False})
    lines: list[str] = []
    doc = run_grid(points, tmp_path, tmp_path / "g", log=lines.append)
    assert calls == [True, True] and [p["error"] for p in doc["points"]] == ["ExportError: no converter here"] * 2
    meta = json.loads((tmp_path / "g/runs/beta_id=0.5/run.json").read_text())
    assert meta["grid"] == {"point": "beta_id=0.5", "coordinates": {"beta_id": 0.5}}
    assert any("point 2/2 beta_id=1: failed ExportError" in ln for ln in lines)
    lines.clear()
    run_grid(points, tmp_path, tmp_path / "g", log=lines.append)  # finished runs: exported again, not retrained
    assert len(calls) == 2 and not any("] training" in ln for ln in lines)
    other = plan_points(None, [("beta_id", [0.5, 1])], {"evaluate": False, "beta_act": 2.0})
    doc = run_grid(other, tmp_path, tmp_path / "g", log=lines.append)
    assert all("made with another config (beta_act 3.0, now 2.0)" in p["error"] for p in doc["points"]) and len(calls) == 2


def _mtimes(out: Path) -> dict[str, int]:
    files = [*out.glob("bundles/*/manifest.json"), *out.glob("runs/*/run.json"), *out.glob("runs/*/anonymizer.keras")]
    return {str(f.relative_to(out)): f.stat().st_mtime_ns for f in files}


@pytest.mark.slow
def test_grid_end_to_end_on_real_hapt(hapt_small_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """3 points (one with an impossible cutoff), signed bundles, a rerun that trains and exports nothing."""
    pytest.importorskip("tf2onnx")
    from edge_runtime.manifest import load
    from edge_runtime.signing import generate_key, load_public_key
    from trainer.evaluators import EvalConfig

    tiny = EvalConfig.quick(epochs=3, max_train=900, filters=8, warmup=1, patience=1)  # as tests/export/test_gate.py
    monkeypatch.setattr(EvalConfig, "quick", classmethod(lambda cls, **kw: tiny))
    key, pub, _ = generate_key(tmp_path / "signing.key")
    out = tmp_path / "grid"
    argv = ["grid", "--config", str(SMOKE), "--data", str(hapt_small_root), "--out", str(out), "--signing-key", str(key),
            "--set", "evaluate=false", "--set", "rounds=0", "--quick"]  # rounds=0: the smoke config, a minute less
    assert main([*argv, "--axis", "release_cutoff_hz=30,0,10"]) == 1  # 30 Hz is above Nyquist: that point fails first
    first = capsys.readouterr().out
    doc = json.loads((out / "grid.json").read_text())
    assert [p["name"] for p in doc["points"]] == ["release_cutoff_hz=30", "release_cutoff_hz=0", "release_cutoff_hz=10"]
    bad, *good = doc["points"]
    assert bad["status"] == "failed" and "Nyquist" in bad["error"] and "\n" not in bad["error"]
    assert doc["summary"]["failed"] == 1 and doc["complete"] and doc["gate_eval_config"]["quick_mode"]
    for p in good:
        assert p["status"] in ("bundle", "rejected") and p["gate_passed"] == (p["status"] == "bundle")
        assert p["bundle"] == f"bundles/{p['name']}" + ("" if p["gate_passed"] else ".rejected") and p["signed"]
        m = load(out / p["bundle"], allow_ungated=True, keys=[load_public_key(pub)])  # sha256 + signature
        assert m.signed_by and m.training["grid"] == {"point": p["name"], "coordinates": p["overrides"]}
        assert m.training["config"]["release_cutoff_hz"] == p["overrides"]["release_cutoff_hz"]
        n = p["numbers"]
        assert n["identity_retrained"] == m.evaluation["gate"]["int8"]["identity_retrained_attacker"]
        assert 0 <= n["activity_f1"] <= 100 and 0 <= n["identity_retrained"] <= 100 and n["dataset"] == "hapt"
        assert isinstance(p["pareto"]["own"], bool)
    assert "point 3/3 release_cutoff_hz=10: start" in first and "] training" in first
    assert (out / "frontier.png").is_file() and (out / "grid.md").read_text().count("\n| ") == 4
    before = _mtimes(out)
    assert len(before) == 6
    assert main([*argv, "--axis", "release_cutoff_hz=0,10"]) == 0  # the same points again: nothing to do
    second = capsys.readouterr().out
    assert second.count("exists: not retrained") == 2 and "] training" not in second and "converting" not in second
    assert _mtimes(out) == before
    again = json.loads((out / "grid.json").read_text())
    assert [p["reused"] for p in again["points"]] == [True, True] and again["summary"]["failed"] == 0
    assert [p["numbers"] for p in again["points"]] == [p["numbers"] for p in good]
