"""``edge-anonymize`` through ``main([...])`` and as a real process: exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge_runtime import cli
from edge_runtime.sinks import open_sink
from firmware_bridge.emulator import Emulator, Faults
from firmware_bridge.recording import synthetic

ROOT = Path(__file__).resolve().parents[2]


def trace(tmp_path: Path, seconds: float = 20.0, faults: Faults | None = None) -> Path:
    f = tmp_path / "walk.imu"
    f.write_bytes(Emulator(synthetic(seconds, seed=3), faults).wire_bytes())
    return f


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "edge_runtime.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)  # fmt: skip


def one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("edge-anonymize: error:")]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def test_replay_to_memory_with_metrics_file(bundle, tmp_path, capsys):
    m = tmp_path / "metrics.json"
    rc = cli.main(["--replay", str(trace(tmp_path)), "--speed", "0", "--bundle", str(bundle), "--sink", "memory://",
                   "--metrics-file", str(m), "--status-interval", "0", "--stride", "32"])  # fmt: skip
    assert rc == 0
    snap = json.loads(m.read_text())
    assert snap["counters"]["windows"] == (1000 - 128) // 32 + 1
    assert snap["sinks"]["memory://"]["sent"] == snap["counters"]["windows"]
    assert "UNGATED" not in capsys.readouterr().err


def _write_manifest(bundle: Path, change) -> None:  # type: ignore[no-untyped-def]
    p = bundle / "manifest.json"
    d = json.loads(p.read_text())
    change(d)
    p.write_text(json.dumps(d))


def test_ungated_model_refused_then_allowed_and_every_status_says_so(bundle, tmp_path, capsys):
    _write_manifest(bundle, lambda d: d["gate"].update(passed=False))
    args = ["--replay", str(trace(tmp_path, 10.0)), "--speed", "0", "--bundle", str(bundle), "--sink", "memory://"]
    assert cli.main(args) == 3
    assert "release gate" in capsys.readouterr().err
    assert cli.main([*args, "--allow-ungated", "--status-interval", "0"]) == 0
    status = [ln for ln in capsys.readouterr().err.splitlines() if "windows=" in ln]
    assert status and all("UNGATED" in ln for ln in status)


def test_stream_mismatch_exit_code(bundle, tmp_path, capsys):
    f = trace(tmp_path, 5.0, Faults(hello_rate_hz=25.0))
    assert cli.main(["--replay", str(f), "--speed", "0", "--bundle", str(bundle), "--sink", "memory://"]) == 5
    err = capsys.readouterr().err
    assert "rate_hz is 25.0, the manifest expects 50.0" in err and "Traceback" not in err


def test_no_source_and_debug_traceback(bundle, capsys):
    assert cli.main(["--bundle", str(bundle)]) == 2
    assert "no source" in capsys.readouterr().err
    assert cli.main(["--bundle", str(bundle / "nope"), "--port", "/dev/null", "--debug"]) == 3
    assert "Traceback" in capsys.readouterr().err


def _tamper(bundle: Path) -> None:
    model = bundle / "anonymizer_int8.tflite"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))


@pytest.mark.parametrize("case,code,needle", [
    ("missing bundle", 3, "no model bundle"),
    ("tampered bundle", 3, "sha256"),
    ("bad config key", 2, "window.strde"),
    ("unknown source scheme", 4, "unknown source scheme 'bogus'"),
    ("nonexistent port", 4, "cannot open serial port"),
])  # fmt: skip
def test_errors_are_one_line_with_exit_codes(bundle, tmp_path, case, code, needle):
    args = ["--bundle", str(bundle), "--port", str(tmp_path / "ttyNOPE"), "--sink", "memory://"]
    if case == "missing bundle":
        args[1] = str(tmp_path / "no-bundle")
    elif case == "tampered bundle":
        _tamper(bundle)
    elif case == "bad config key":
        (tmp_path / "c.toml").write_text("[window]\nstrde = 3\n")
        args += ["--config", str(tmp_path / "c.toml")]
    elif case == "unknown source scheme":
        args[3] = "bogus://x"
    r = run_cli(*args)
    assert r.returncode == code, r.stderr
    assert needle in one_line_error(r)


def test_sigterm_drains_and_exits_zero(bundle, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    m = tmp_path / "m.json"
    proc = subprocess.Popen([sys.executable, "-m", "edge_runtime.cli", "--replay", str(trace(tmp_path, 600.0)),
                             "--speed", "10", "--bundle", str(bundle), "--sink", "memory://", "--metrics-file", str(m),
                             "--status-interval", "0.5"], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 30
    while not m.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert time.monotonic() - t0 < 10
    assert json.loads(m.read_text())["state"] == "stopped" and "Traceback" not in err


def test_demo_prints_json_lines(bundle, capfd):
    try:
        open_sink("stdout://").close()
    except Exception as exc:  # the sinks registry is delivered separately
        pytest.skip(f"stdout:// sink not available yet: {exc}")
    assert cli.main(["--demo", "--bundle", str(bundle), "--status-interval", "0"]) == 0
    out = capfd.readouterr().out.splitlines()
    assert len(out) > 10
    rec = json.loads(out[0])
    assert rec["type"] == "anonymized_window" and len(rec["data"]) == 128


def test_list_ports_runs(capsys):
    assert cli.main(["list-ports"]) == 0


def test_demo_falls_back_to_a_synthetic_trace(bundle, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "SAMPLE_TRACE", tmp_path / "absent.imu")
    m = tmp_path / "m.json"
    rc = cli.main(["--demo", "--bundle", str(bundle), "--sink", "memory://", "--metrics-file", str(m)])
    assert rc == 0 and "synthetic" in capsys.readouterr().err
    assert json.loads(m.read_text())["counters"]["windows"] == (3000 - 128) // 64 + 1  # 60 s at 50 Hz
