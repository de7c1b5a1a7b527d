"""The shipped unit, udev rule and config: checked with the real tools where they exist."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "edge_runtime" / "deploy"
UNIT = DEPLOY / "edge-anonymize.service"


def test_unit_has_notify_watchdog_and_hardening():
    text = UNIT.read_text()
    for line in ("Type=notify", "WatchdogSec=", "ProtectSystem=strict", "PrivateTmp=yes", "NoNewPrivileges=yes",
                 "IPAddressDeny=any", "IPAddressAllow=localhost", "RuntimeDirectory=edge-anonymize"):  # fmt: skip
        assert re.search(rf"^{re.escape(line)}", text, re.M), line


def test_udev_rule_gives_a_stable_name_and_hides_from_modemmanager():
    rule = (DEPLOY / "99-edge-imu.rules").read_text()
    active = [ln for ln in rule.splitlines() if ln and not ln.startswith("#")]
    assert len(active) == 1
    assert 'SYMLINK+="imu0"' in active[0] and 'ENV{ID_MM_DEVICE_IGNORE}="1"' in active[0]
    assert 'SUBSYSTEM=="tty"' in active[0] and 'MODE="0660"' in active[0]


def test_systemd_analyze_security_exposure_at_most_2(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("/opt/edge-anonymize/venv/bin/edge-anonymize", "/bin/true"))
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)], capture_output=True,
                       text=True, timeout=60)  # fmt: skip
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
    if m is None:
        pytest.skip(f"systemd-analyze cannot assess offline here: {(r.stderr or r.stdout).strip()[:120]}")
    print(f"\n[deploy] systemd-analyze security exposure {m.group(1)}")
    assert float(m.group(1)) <= 2.0
    v = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert "edge-anonymize.service" not in v.stderr, v.stderr
