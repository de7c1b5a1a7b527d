"""A tiny end-to-end training run on the real HAPT data (CI smoke): the run folder rebuilds the model."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from trainer.checkpoint import load_run  # noqa: E402
from trainer.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke_run(hapt_small_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    rc = main(["train", "--config", str(ROOT / "trainer/configs/smoke.toml"), "--data", str(hapt_small_root),
               "--out", str(out), "--set", "evaluate=false"])
    assert rc == 0
    return out


@pytest.mark.slow
def test_smoke_run_rebuilds_and_transforms(smoke_run):
    run = load_run(smoke_run)
    meta = json.loads((smoke_run / "run.json").read_text())
    assert meta["window"]["length"] == 128 and meta["window"]["view"] == "magnitude"
    assert set(meta["splits"]["test_subjects"]).isdisjoint(meta["splits"]["train_subjects"])
    assert meta["history"] and "check_identity_acc_fresh" in meta["history"][0]
    x = np.random.default_rng(0).normal(10, 1, size=(4, 128, 2)).astype(np.float32)
    y = run.transform(x)
    assert y.shape == x.shape and np.isfinite(y).all()


@pytest.mark.slow
def test_resume_continues_from_state(smoke_run, hapt_small_root):
    progress = json.loads((smoke_run / "state" / "progress.json").read_text())
    rc = main(["train", "--config", str(ROOT / "trainer/configs/smoke.toml"), "--data", str(hapt_small_root),
               "--out", str(smoke_run), "--resume", "--set", "evaluate=false", "--set", "rounds=2"])
    assert rc == 0
    after = json.loads((smoke_run / "state" / "progress.json").read_text())
    assert after["round"] >= progress["round"]
    assert [h["round"] for h in after["history"]][: len(progress["history"])] == [h["round"] for h in progress["history"]]


def test_missing_dataset_is_one_line(tmp_path):
    p = subprocess.run([sys.executable, "-m", "trainer.cli", "train", "--data", str(tmp_path / "nope"),
                        "--out", str(tmp_path / "o")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "does not exist" in p.stderr
    assert "Traceback" not in p.stderr


def test_unknown_config_key_is_one_line(tmp_path, hapt_root):
    p = subprocess.run([sys.executable, "-m", "trainer.cli", "train", "--data", str(hapt_root),
                        "--out", str(tmp_path / "o"), "--set", "bogus=1"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 2 and "unknown config key: bogus" in p.stderr and "Traceback" not in p.stderr


def test_evaluate_refuses_zero_activity_seeds_in_one_line(tmp_path, capsys):
    assert main(["evaluate", "--run", str(tmp_path), "--data", str(tmp_path), "--activity-seeds", "0"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "aae: error: --activity-seeds must be >= 1, got 0"


def test_load_run_of_missing_folder(tmp_path):
    from trainer.errors import CheckpointError

    with pytest.raises(CheckpointError, match="not a finished training run"):
        load_run(tmp_path)


@pytest.mark.slow
def test_cli_evaluate_quick_writes_report(smoke_run, hapt_small_root, tmp_path, monkeypatch):
    """``aae evaluate --quick`` end to end on the smoke run; the evaluators are smaller than ``--quick``'s
    (tests/trainer/test_report.py measures the full protocol on one baseline)."""
    from trainer import report
    from trainer.evaluators import EvalConfig

    seen = {}
    real = report.run_evaluation

    def smaller(run_dir, data_root, out_dir=None, *, cfg=None, **kw):  # type: ignore[no-untyped-def]
        seen["cfg"] = cfg
        tiny = dataclasses.replace(cfg, epochs=2, filters=16, max_train=1000)
        return real(run_dir, data_root, out_dir, cfg=tiny, rates=(5.0,), **kw)

    monkeypatch.setattr(report, "run_evaluation", smaller)
    out = tmp_path / "eval"
    assert main(["evaluate", "--run", str(smoke_run), "--data", str(hapt_small_root), "--out", str(out), "--quick"]) == 0
    assert seen["cfg"] == EvalConfig.quick()  # --quick reached the evaluator
    results = json.loads((out / "evaluation.json").read_text())
    assert list(results["variants"]) == ["raw", "anonymizer", "resample_5hz"]
    assert (out / "report.md").is_file()
    summary = json.loads((smoke_run / "run.json").read_text())["evaluation"]
    assert set(summary["summary"]) == set(results["variants"]) and summary["eval_config"]["quick_mode"]


@pytest.mark.slow
def test_policy_and_gender_regularizer_train_end_to_end(hapt_small_root, sisfall_small_root, tmp_path):
    """HAPT (lying) + SisFall (jogging, genders), the assisted-living policy and a gender regularizer:
    the run records the policy it was trained with and the gender check of every round."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "uci-hapt").symlink_to(hapt_small_root)
    (data / "sisfall").symlink_to(sisfall_small_root)
    out = tmp_path / "run"
    rc = main(["train", "--config", str(ROOT / "trainer/configs/smoke.toml"), "--data", str(data), "--out", str(out),
               "--set", 'datasets=["hapt", "sisfall"]', "--set", 'taxonomy="fine"', "--set", 'policy="assisted-living"',
               "--set", "beta_gender=1.0", "--set", "stride=128", "--set", "evaluate=false"])
    assert rc == 0
    meta = json.loads((out / "run.json").read_text())
    assert meta["policy"]["replace"] == {"laying": "sitting", "jogging": "walking"}
    assert all(0.0 <= h["check_gender_acc"] <= 1.0 for h in meta["history"])
    assert meta["config"]["beta_gender"] == 1.0
    assert load_run(out).transform(np.full((2, 128, 2), 9.8, np.float32)).shape == (2, 128, 2)


def test_gender_regularizer_without_genders_is_one_line(hapt_small_root, tmp_path, capsys):
    rc = main(["train", "--config", str(ROOT / "trainer/configs/smoke.toml"), "--data", str(hapt_small_root),
               "--out", str(tmp_path / "o"), "--set", "beta_gender=1.0"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert "needs training subjects of both genders" in err and "\n" not in err
