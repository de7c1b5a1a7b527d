"""Signed bundles: every edit the issue listed is refused (exit 3, one line), the shipped bundle verifies
with the packaged project key, and an explicit --allow-unsigned is named in every status line.

Before: setting ``gate.passed=true``, changing the normalization, forging evaluation numbers and
model_version, or swapping the float model in with its sha256 recomputed all ran."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge_runtime import cli
from edge_runtime.cli import DEFAULT_BUNDLE, SAMPLE_TRACE
from edge_runtime.errors import ConfigError, ManifestError
from edge_runtime.manifest import load
from edge_runtime.signing import (
    ENV_KEYS,
    PACKAGE_KEYS,
    SIG_NAME,
    generate_key,
    load_private_key,
    load_public_key,
    sign_bundle,
    trusted_keys,
    verify_manifest,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _only_the_packaged_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KEYS, raising=False)


@pytest.fixture()
def shipped_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "hapt-magnitude"
    shutil.copytree(DEFAULT_BUNDLE, dest)
    return dest


@pytest.fixture()
def test_key(tmp_path: Path) -> tuple[Any, Path]:
    priv, pub, _ = generate_key(tmp_path / "test.key")
    return load_private_key(priv), pub


def edit(bundle: Path, change: Callable[[dict[str, Any]], None]) -> None:
    p = bundle / "manifest.json"
    d = json.loads(p.read_text())
    change(d)
    p.write_text(json.dumps(d, indent=2))


def run_cli(bundle: Path, *extra: str) -> int:
    return cli.main(["--replay", str(SAMPLE_TRACE), "--speed", "0", "--bundle", str(bundle), "--sink", "memory://",
                     "--status-interval", "0", *extra])  # fmt: skip


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("edge-anonymize: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_shipped_bundles_are_signed_by_the_packaged_project_keys() -> None:
    """Each bundled model is signed by a key the package ships (``project.pub`` signed the release filter,
    ``project-2.pub`` the activity estimator), and nothing else is in the keys folder."""
    from edge_runtime.cli import ESTIMATOR_BUNDLE

    packaged = {load_public_key(p).key_id: p.name for p in sorted(PACKAGE_KEYS.glob("*.pub"))}
    assert sorted(packaged.values()) == ["project-2.pub", "project.pub"]
    signers = {}
    for bundle in (DEFAULT_BUNDLE, ESTIMATOR_BUNDLE):
        m = load(bundle, keys=trusted_keys(system_dir=None, env={}))
        assert m.signed_by in packaged and not m.unverified
        signers[bundle.name] = packaged[m.signed_by]
    assert signers == {"hapt-magnitude": "project.pub", "activity": "project-2.pub"}


def test_the_wheel_ships_the_project_key() -> None:
    """Without the .pub in the package an installed gateway refuses its own bundled model."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["edge_runtime"]
    assert any(Path("keys/project.pub").match(pattern) for pattern in data), data


def _swap_float_in(d: dict[str, Any], bundle: Path) -> None:
    shutil.copy(bundle / "anonymizer_float.tflite", bundle / "anonymizer_int8.tflite")
    d["model"]["sha256"] = hashlib.sha256((bundle / "anonymizer_int8.tflite").read_bytes()).hexdigest()


EDITS: dict[str, Callable[[dict[str, Any], Path], None]] = {
    "normalization changed": lambda d, b: d["normalization"]["mean"].__setitem__(0, 0.0),
    "evaluation and model_version forged": lambda d, b: (
        d["evaluation"]["gate"]["int8"].update(identity_retrained_attacker=0.1),
        d.update(model_version="hapt-certified"),
    ),
    "float model swapped in, sha256 recomputed": _swap_float_in,
    "runtime version raised": lambda d, b: d["versions"].update(tflite_min_runtime_version="1.0.0"),
}


@pytest.mark.parametrize("name", list(EDITS))
def test_every_edit_of_a_signed_manifest_is_refused(shipped_copy: Path, name: str, capsys) -> None:  # type: ignore[no-untyped-def]
    edit(shipped_copy, lambda d: EDITS[name](d, shipped_copy))
    load(shipped_copy)  # the sha256 checks alone pass: that was the hole
    assert run_cli(shipped_copy) == 3
    assert "does not match its manifest.json (edited after signing)" in one_line(capsys.readouterr().err)


def test_gate_passed_flipped_to_true_is_refused(bundle: Path, test_key, capsys) -> None:  # type: ignore[no-untyped-def]
    key, pub = test_key
    edit(bundle, lambda d: d["gate"].update(passed=False))
    sign_bundle(bundle, key)  # an honestly signed, gate-failed bundle
    assert run_cli(bundle, "--trusted-key", str(pub)) == 3
    assert "release gate" in one_line(capsys.readouterr().err)
    edit(bundle, lambda d: d["gate"].update(passed=True))
    assert run_cli(bundle, "--trusted-key", str(pub)) == 3
    assert "edited after signing" in one_line(capsys.readouterr().err)


def test_a_removed_signature_is_refused(shipped_copy: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (shipped_copy / SIG_NAME).unlink()
    assert run_cli(shipped_copy) == 3
    line = one_line(capsys.readouterr().err)
    assert "is not signed" in line and "--allow-unsigned" in line


def test_a_signature_from_an_untrusted_key_is_refused_until_trusted(shipped_copy: Path, test_key, tmp_path, capsys,
                                                                    monkeypatch) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    key, pub = test_key
    edit(shipped_copy, lambda d: d.update(model_version="forged"))
    sign_bundle(shipped_copy, key)  # a valid signature, by a key the gateway never heard of
    assert run_cli(shipped_copy) == 3
    line = one_line(capsys.readouterr().err)
    kid = load_public_key(pub).key_id
    assert f"signed by key {kid}, which this gateway does not trust" in line
    assert run_cli(shipped_copy, "--trusted-key", str(pub)) == 0  # once trusted: runs
    capsys.readouterr()
    keys = tmp_path / "keys.d"
    keys.mkdir()
    shutil.copy(pub, keys / "ops.pub")
    monkeypatch.setenv(ENV_KEYS, str(keys))  # a folder of keys, e.g. from a systemd drop-in
    assert run_cli(shipped_copy) == 0


def test_allow_unsigned_runs_and_every_status_line_says_so(shipped_copy: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    edit(shipped_copy, lambda d: d.update(model_version="edited"))
    metrics = tmp_path / "m.json"
    assert run_cli(shipped_copy, "--allow-unsigned", "--metrics-file", str(metrics)) == 0
    err = capsys.readouterr().err
    assert "UNSIGNED: bundle's manifest.sig does not match" in err
    status = [ln for ln in err.splitlines() if "windows=" in ln]
    assert status and all("UNSIGNED" in ln for ln in status)
    assert json.loads(metrics.read_text())["bundle"] == {"model_version": "edited", "signed_by": "", "unsigned": True, "swaps": 0}
    assert run_cli(DEFAULT_BUNDLE) == 0  # and a verified bundle's lines do not
    assert "UNSIGNED" not in capsys.readouterr().err


def test_bad_trusted_key_files_are_one_line_config_errors(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "junk.pub").write_text("hello")
    for path in (tmp_path / "missing.pub", tmp_path / "junk.pub"):
        assert run_cli(DEFAULT_BUNDLE, "--trusted-key", str(path)) == 2
        assert "trusted key" in one_line(capsys.readouterr().err)
    with pytest.raises(ConfigError, match="not an Ed25519 key"):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        rsa_like = ec.generate_private_key(ec.SECP256R1()).public_key()
        (tmp_path / "ec.pub").write_bytes(rsa_like.public_bytes(serialization.Encoding.PEM,
                                                                serialization.PublicFormat.SubjectPublicKeyInfo))  # fmt: skip
        load_public_key(tmp_path / "ec.pub")


@pytest.mark.parametrize("sig", [b"", b"{}", b"not json", b'{"algorithm": "rsa", "key_id": "x", "signature": ""}',
                                 b'{"algorithm": "ed25519", "key_id": "x", "signature": "!!"}'])  # fmt: skip
def test_malformed_signature_files_are_refused(sig: bytes, test_key) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ManifestError) as e:
        verify_manifest(b"{}", sig, trusted_keys(system_dir=None))
    assert "\n" not in str(e.value)


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from export.keygen import main as keygen

    assert keygen([str(tmp_path / "k")]) == 0
    assert stat.S_IMODE(os.stat(tmp_path / "k").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "k.pub").st_mode) == 0o644
    kid = load_public_key(tmp_path / "k.pub").key_id
    assert kid in capsys.readouterr().out
    before = (tmp_path / "k").read_bytes()
    assert keygen([str(tmp_path / "k")]) == 2
    assert "refusing to overwrite a key" in capsys.readouterr().err and (tmp_path / "k").read_bytes() == before


def test_aae_keygen_is_a_subcommand_of_aae(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from trainer.cli import main as aae

    assert aae(["keygen", str(tmp_path / "k")]) == 0
    assert load_public_key(tmp_path / "k.pub").key_id in capsys.readouterr().out
