"""The wheel ``make dist`` ships: the bundled model, sample trace and deploy files are in it; local
firmware build outputs (``firmware/build/``) and tests are not. Built offline from a copy of the
sources into which a fake ``make firmware`` output was put."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("edge_runtime", "firmware_bridge", "trainer", "export", "benchmarks")


@pytest.fixture(scope="module")
def wheel_members(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__", "build", "*.pyc"))
    fake = src / "firmware_bridge" / "firmware" / "build"
    (fake / "arduino").mkdir(parents=True)
    for name in ("imu_host", "libprotocol.so", "test_vectors", "arduino/sketch.ino.elf"):
        (fake / name).write_bytes(b"\x7fELF local build output")
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                        str(src)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    (whl,) = out.glob("edge_anonymize-*.whl")
    with zipfile.ZipFile(whl) as z:
        return set(z.namelist())


def test_wheel_holds_the_bundled_model_and_deploy_files(wheel_members):
    bundle = ROOT / "edge_runtime" / "bundled"
    shipped = {p.relative_to(ROOT).as_posix() for p in bundle.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    deploy = {p.relative_to(ROOT).as_posix() for p in (ROOT / "edge_runtime" / "deploy").iterdir() if p.is_file()}
    deploy |= {p.relative_to(ROOT).as_posix() for p in (ROOT / "edge_runtime").glob("keys/*.pub")}  # signing keys
    assert "edge_runtime/bundled/hapt-magnitude/anonymizer_int8.tflite" in shipped
    assert "edge_runtime/bundled/hapt-magnitude/manifest.json" in shipped
    assert shipped <= wheel_members and deploy <= wheel_members
    assert {"firmware_bridge/vectors/frames.json", "firmware_bridge/firmware/hal.h", "trainer/configs/hapt.toml",
            "edge_runtime/py.typed"} <= wheel_members  # fmt: skip


def test_wheel_has_no_firmware_build_outputs_or_tests(wheel_members):
    assert not [m for m in wheel_members if "/build/" in m or m.endswith((".so", ".o", ".elf"))]
    assert not [m for m in wheel_members if m.startswith("tests/")]


def test_pyproject_declares_every_documented_console_script() -> None:
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"edge-anonymize", "aae", "imu-emulator", "edge-anonymize-consume"} <= set(scripts)
    for name, target in scripts.items():  # each entry point imports and is callable
        module, _, func = target.partition(":")
        assert callable(getattr(__import__(module, fromlist=[func]), func)), name
