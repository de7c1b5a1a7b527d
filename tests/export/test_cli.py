"""``aae export``: exit codes, one-line errors, and a failing gate that still writes an inspectable bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_runtime.errors import ManifestError
from edge_runtime.manifest import load
from export.cli import main
from tests.export.conftest import read_json


def _one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("aae export")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_missing_run_is_one_line_exit_2(tmp_path: Path, hapt_subset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--run", str(tmp_path / "nope"), "--data", str(hapt_subset), "--out", str(tmp_path / "b")])
    assert rc == 2
    assert "is not a finished training run" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "b").exists()


def test_missing_data_is_one_line_exit_2(tmp_path: Path, run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--run", str(run_dir), "--data", str(tmp_path / "nodata"), "--out", str(tmp_path / "b")])
    assert rc == 2 and "does not exist" in _one_line(capsys.readouterr().err)


def test_bad_model_file_is_one_line_exit_2(tmp_path: Path, run_dir: Path, hapt_subset: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad_run"
    bad.mkdir()
    (bad / "run.json").write_text((run_dir / "run.json").read_text())
    (bad / "anonymizer.keras").write_bytes(b"PK\x03\x04 truncated zip")
    rc = main(["--run", str(bad), "--data", str(hapt_subset), "--out", str(tmp_path / "b")])
    assert rc == 2 and "cannot load" in _one_line(capsys.readouterr().err)


def test_bad_limit_is_one_line_exit_2(tmp_path: Path, run_dir: Path, hapt_subset: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    argv = ["--run", str(run_dir), "--data", str(hapt_subset), "--out", str(tmp_path / "b"), "--limit", "speed=3"]
    assert main(argv) == 2 and "--limit expects NAME=VALUE" in _one_line(capsys.readouterr().err)


def test_failing_gate_exits_1_naming_the_check_and_writes_an_ungated_bundle(
    tmp_path: Path, run_dir: Path, hapt_subset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bundle"
    argv = [
        "--run",
        str(run_dir),
        "--data",
        str(hapt_subset),
        "--out",
        str(out),
        "--skip-gate",
        "--limit",
        "int8_mse=0",
    ]
    assert main(argv) == 1
    line = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(line) == 1 and line[0].startswith("aae export: release gate FAILED: int8_vs_float_mse = "), line
    with pytest.raises(ManifestError, match="release gate"):
        load(out)
    m = load(out, allow_ungated=True)
    assert m.gate["checks"]["int8_vs_float_mse"]["passed"] is False and m.gate["passed"] is False


def test_skip_gate_writes_an_ungated_bundle_with_float_io_by_default(
    tmp_path: Path, run_dir: Path, hapt_subset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bundle"
    assert (
        main(["--run", str(run_dir), "--data", str(hapt_subset), "--out", str(out), "--skip-gate"])
        == 0
    )
    assert "not run (--skip-gate)" in capsys.readouterr().out
    m = load(out, allow_ungated=True)
    assert m.input.dtype == m.output.dtype == "float32" and m.model.dtype == "int8-float-io"
    assert read_json(out / "manifest.json")["gate"]["skipped_evaluation"] is True


def test_aae_attaches_the_export_subcommand(tmp_path: Path, hapt_subset: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from trainer.cli import build_parser
    from trainer.cli import main as aae

    args = build_parser().parse_args(["--debug", "export", "--run", "r", "--data", "d", "--out", "o", "--quick"])
    assert args.command == "export" and args.debug is True and args.quick and args.io == "float"
    rc = aae(["export", "--run", str(tmp_path / "nope"), "--data", str(hapt_subset), "--out", str(tmp_path / "b")])
    assert rc == 2 and "is not a finished training run" in _one_line(capsys.readouterr().err)
