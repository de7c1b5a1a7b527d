"""``aae evaluate --cross``: argument checks, and the whole report on a few real SisFall subjects."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.contract import WindowSpec
from trainer.cli import main
from trainer.crosscli import parse_data, parse_targets
from trainer.errors import TrainerError

from .synthetic import tiny_run

PNG = b"\x89PNG\r\n\x1a\n"
SUBJECTS = ("SA01", "SA15", "SA21")  # F, F, M
ACTIVITIES = ("D01", "D03", "D05")  # walk (one 100 s trial), jog (one 100 s trial), stairs (5 trials)


@pytest.fixture(scope="module")
def sisfall_tiny(sisfall_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three subjects' walks, jogs and stairs from the real zip, in the official layout (Readme: attributes)."""
    dest = tmp_path_factory.mktemp("sisfall_tiny")
    with zipfile.ZipFile(sisfall_root / "SisFall_dataset.zip") as z:
        for name in z.namelist():
            parts = name.split("/")
            if name.endswith("Readme.txt") or (len(parts) == 3 and parts[1] in SUBJECTS and parts[2][:3] in ACTIVITIES):
                z.extract(name, dest)
    return dest


@pytest.fixture
def smaller_quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--quick`` with smaller CNNs (as tests/trainer/test_grid.py): these tests check the report, not its numbers."""
    from trainer.evaluators import EvalConfig

    quick = EvalConfig.quick
    small = {"epochs": 3, "max_train": 900, "filters": 8, "warmup": 1, "patience": 1}
    monkeypatch.setattr(EvalConfig, "quick", classmethod(lambda cls, **kw: quick(**{**small, **kw})))


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_parse_data_and_targets() -> None:
    assert parse_data(["../shared/datasets"]) == "../shared/datasets"
    assert parse_data(["sisfall=/a", "hapt=/b"]) == {"sisfall": "/a", "hapt": "/b"}
    with pytest.raises(TrainerError, match="name=path"):
        parse_data(["/a", "/b"])
    with pytest.raises(TrainerError, match="required"):
        parse_data([])
    assert parse_targets("sisfall, hapt") == ("sisfall", "hapt")
    with pytest.raises(TrainerError, match="unknown dataset"):
        parse_targets("sisfal")
    with pytest.raises(TrainerError, match="at least one"):
        parse_targets(" , ")


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["evaluate", "--data", "d", "--cross", "sisfall"], "needs --run"),
        (["evaluate", "--baselines-only", "--run", "r", "--data", "d", "--cross", "sisfall", "--out", "o"], "drop --run"),
        (["evaluate", "--baselines-only", "--data", "d", "--cross", "sisfall"], "needs --out"),
        (["evaluate", "--run", "r", "--data", "d", "--stride", "64"], "go with --cross"),
        (["evaluate", "--baselines-only", "--data", "d", "--cross", "nope", "--out", "o"], "unknown dataset"),
        (["evaluate", "--baselines-only", "--data", "d", "--cross", "sisfall", "--out", "o", "--stride", "0"], "--stride"),
    ],
)
def test_bad_arguments_are_one_line_errors(argv: list[str], match: str, capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rc, _, err = _run(argv, capsys)
    assert rc == 2 and match in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


def test_a_missing_dataset_names_where_it_looked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(["evaluate", "--baselines-only", "--data", str(tmp_path), "--cross", "sisfall",
                       "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and "dataset sisfall not found" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_within_mode_needs_three_unseen_subjects(sisfall_tiny: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    run = tiny_run(tmp_path / "run", WindowSpec(), config={"dataset": "sisfall"})
    rc, _, err = _run(["evaluate", "--run", str(run), "--data", f"sisfall={sisfall_tiny}", "--cross", "sisfall",
                       "--quick"], capsys)
    assert rc == 2 and "holds out 1 sisfall subjects" in err, err
    assert not (run / "eval-within-sisfall").exists()


def test_baselines_report_on_real_sisfall_subjects(sisfall_tiny: Path, tmp_path: Path, smaller_quick: None,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "reports"
    rc, stdout, _ = _run(["evaluate", "--baselines-only", "--data", f"sisfall={sisfall_tiny}", "--cross", "sisfall",
                          "--out", str(out), "--quick", "--taxonomy", "coarse"], capsys)
    assert rc == 0
    folder = out / "eval-cross-sisfall"
    doc = json.loads((folder / "evaluation.json").read_text())
    rows = doc["summary"]
    assert list(rows) == ["raw", "lp10", "lp5", "label_only"]
    assert doc["splits"]["time_split_trials"] == 6  # each subject's single walk and jog trial is halved in time
    raw, label = rows["raw"], rows["label_only"]
    assert raw["n_subjects"] == 3 and raw["chance"] == pytest.approx(100 / 3, abs=0.01)
    assert raw["identity_max"] > 1.5 * raw["chance"]  # three real people: identity is in the raw signal
    assert raw["gender_max"] is not None and raw["height_mae"] is not None  # attributes from the Readme
    assert label["activity_f1"] > 95 and label["identity_max"] <= label["identity_label_bound"] + 0.01
    assert doc["complete"] is True and doc["eval_config"]["quick_mode"] is True and doc["mode"] == "cross"
    assert doc["attribution"].startswith("Evaluated on SisFall")
    md = (folder / "report.md").read_text()
    assert all(f"| {n} | **" in md for n in rows) and "Pareto" in md
    assert (folder / "privacy_utility.png").read_bytes()[:8] == PNG
    lines = [ln for ln in stdout.splitlines() if ln.startswith("  ")]
    assert len(lines) == 4 and all("identity" in ln and "activity F1" in ln for ln in lines)


@pytest.mark.slow
def test_a_run_is_judged_on_another_datasets_people(sisfall_tiny: Path, tmp_path: Path, smaller_quick: None,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    run = tiny_run(tmp_path / "run", WindowSpec())  # trained on "hapt": SisFall is a cross-dataset target
    rc, stdout, _ = _run(["evaluate", "--run", str(run), "--data", f"sisfall={sisfall_tiny}", "--cross", "sisfall",
                          "--quick", "--stride", "128"], capsys)
    assert rc == 0
    folder = run / "eval-cross-sisfall"
    doc = json.loads((folder / "evaluation.json").read_text())
    assert list(doc["summary"]) == ["raw", "lp10", "lp5", "label_only", "anonymizer"]
    assert doc["window"]["stride"] == 128 and doc["trained_on"] == ["hapt"]
    assert set(doc["pareto_vs_lowpass"]["anonymizer"]) == {"passed", "reason"}
    assert np.isfinite(doc["summary"]["anonymizer"]["identity_max"])
    assert "anonymizer: identity" in stdout and (folder / "report.md").is_file() and (folder / "privacy_utility.png").is_file()
