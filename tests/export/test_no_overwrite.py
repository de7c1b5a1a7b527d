"""A failed gate never replaces a working bundle, and ``--out`` is judged before any conversion.

Before: ``make export`` (``aae export --out edge_runtime/bundled/hapt-magnitude``) replaced the shipped
bundle with a gate-failed one even when the gate failed, after which ``edge-anonymize --demo``
refused to start (exit 3); a non-bundle ``--out`` was refused only after minutes of conversion."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_runtime.manifest import load
from edge_runtime.signing import generate_key, load_private_key, trusted_keys
from export.bundle import write_bundle
from export.cli import main
from export.gate import Check, GateResult

PASSED = GateResult(True, (Check("int8_vs_float_mse", 0.001, None, "normalized units^2", True),), {"parity_windows": 8})
FAILED = GateResult(False, (Check("int8_vs_float_mse", 0.5, 0.0, "normalized units^2", False),), {})


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture()
def key(tmp_path: Path) -> Path:
    (tmp_path / "keys").mkdir()
    return generate_key(tmp_path / "keys" / "signing.key")[0]


@pytest.fixture()
def shipped(tmp_path: Path, converted, run, key: Path) -> Path:  # type: ignore[no-untyped-def]
    """A working, signed, gate-passed bundle: what the repository ships."""
    out = tmp_path / "bundled" / "hapt-magnitude"
    write_bundle(out, converted, run, PASSED, signing_key=load_private_key(key))
    return out


def test_a_failed_gate_leaves_the_working_bundle_byte_identical(shipped: Path, converted, run, key: Path) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(shipped)
    m = write_bundle(shipped, converted, run, FAILED, signing_key=load_private_key(key))
    assert snapshot(shipped) == before
    assert m.root == shipped.with_name("hapt-magnitude.rejected") and m.gate_passed is False  # kept for inspection
    assert sorted(p.name for p in shipped.parent.iterdir()) == ["hapt-magnitude", "hapt-magnitude.rejected"]
    load(shipped, keys=trusted_keys([key.with_name("signing.key.pub")]))  # still runs: signed, gated
    write_bundle(shipped, converted, run, FAILED, signing_key=load_private_key(key))  # replaces the rejected one
    assert snapshot(shipped) == before and len(list(shipped.parent.iterdir())) == 2


def _export(*extra: str, run_dir: Path, data: Path, out: Path) -> list[str]:
    return ["--run", str(run_dir), "--data", str(data), "--out", str(out), *extra]


@pytest.mark.parametrize("flags,needle", [
    (("--skip-gate",), "never replaces one"),
    (("--allow-failed",), "never replaces one"),
    ((), "holds a signed bundle and this export is unsigned"),
])  # fmt: skip
def test_cli_refuses_to_replace_a_bundle_before_any_conversion(shipped, run_dir, hapt_subset, capsys, flags, needle) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(shipped)
    assert main(_export(*flags, run_dir=run_dir, data=hapt_subset, out=shipped)) == 2
    out, err = capsys.readouterr()
    assert needle in err and "converting" not in out  # refused before the minutes of conversion
    assert snapshot(shipped) == before


def test_cli_refuses_a_non_bundle_out_before_any_conversion(tmp_path: Path, run_dir, hapt_subset, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "thesis.tex").write_text("x")
    assert main(_export(run_dir=run_dir, data=hapt_subset, out=tmp_path / "precious")) == 2
    out, err = capsys.readouterr()
    assert "is not a model bundle" in err and "converting" not in out
    assert [p.name for p in (tmp_path / "precious").iterdir()] == ["thesis.tex"]


def test_cli_force_lets_an_explicitly_ungated_export_replace_a_bundle(shipped, run_dir, hapt_subset, key, capsys) -> None:  # type: ignore[no-untyped-def]
    argv = _export("--skip-gate", "--force", "--signing-key", str(key), run_dir=run_dir, data=hapt_subset, out=shipped)
    assert main(argv) == 0
    m = load(shipped, allow_ungated=True, keys=trusted_keys([key.with_name("signing.key.pub")]))
    assert m.gate["skipped_evaluation"] is True and m.signed_by
    assert "signed by key" in capsys.readouterr().out


def test_a_bad_signing_key_is_one_line_before_any_conversion(tmp_path: Path, run_dir, hapt_subset, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "k").write_text("not a key")
    assert main(_export("--signing-key", str(tmp_path / "k"), run_dir=run_dir, data=hapt_subset, out=tmp_path / "b")) == 2
    out, err = capsys.readouterr()
    assert "not an unencrypted PEM private key" in err and "converting" not in out and not (tmp_path / "b").exists()
