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

from .conftest import resign

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
    resign(bundle)  # this test is about the edited field, not the signature


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


# -- a newcomer's first runs (issue 12): one line and a documented exit code, caught at start ----------------------

def _demo(capsys, *args: str) -> tuple[int, str]:
    """``--demo`` on the shipped bundle, in process (no TensorFlow needed)."""
    rc = cli.main(["--demo", "--status-interval", "0", "--sink", "memory://", *args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err


@pytest.mark.parametrize("case,code,needle", [
    ("udp port out of range", 6, "Port out of range 0-65535"),
    ("non-UTF-8 config", 2, "is not UTF-8 text"),
    ("empty replay", 4, "is empty"),
    ("garbage replay", 4, "holds no valid wire frame"),
    ("metrics folder missing", 2, "metrics file folder"),
    ("file sink folder missing", 6, "file sink folder"),
    ("stride longer than the window", 2, "window.stride 100000 is longer than the model's window (128 samples)"),
])  # fmt: skip
def test_first_run_mistakes_are_one_line_at_start(tmp_path, capsys, case, code, needle):
    missing = tmp_path / "no-such-folder"
    args = {
        "udp port out of range": ["--sink", "udp://127.0.0.1:99999"],
        "non-UTF-8 config": ["--config", str(tmp_path / "c.toml")],
        "empty replay": [],
        "garbage replay": [],
        "metrics folder missing": ["--metrics-file", str(missing / "m.json")],
        "file sink folder missing": ["--sink", f"file://{missing}/w.jsonl"],
        "stride longer than the window": ["--stride", "100000"],
    }[case]
    (tmp_path / "c.toml").write_bytes(b"\xff\xfe[window]\x00")
    (tmp_path / "empty.imu").write_bytes(b"")
    (tmp_path / "garbage.imu").write_bytes(bytes(range(1, 256)) * 40 + b"\x00" + bytes(range(255, 0, -1)) * 3)
    argv = ["--status-interval", "0", "--sink", "memory://", *args]
    if "replay" in case:
        argv += ["--replay", str(tmp_path / ("empty.imu" if case == "empty replay" else "garbage.imu")), "--speed", "0"]
    else:
        argv.append("--demo")
    assert cli.main(argv) == code
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("edge-anonymize: error:")]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in err, err
    assert not missing.exists()  # refused, not created


def test_file_sink_mkdir_option_creates_the_folder(tmp_path, capsys):
    out = tmp_path / "new" / "w.jsonl"
    rc, _ = _demo(capsys, "--sink", f"file://{out}?mkdir=1")
    assert rc == 0 and len(out.read_text().splitlines()) == 69


@pytest.mark.parametrize("flag,value", [("--speed", "-1"), ("--speed", "nan"), ("--status-interval", "-2"),
                                        ("--stride", "-1"), ("--stride", "x")])  # fmt: skip
def test_bad_numbers_are_usage_errors(capsys, flag, value):
    with pytest.raises(SystemExit) as e:
        cli.main(["--demo", flag, value])
    assert e.value.code == 2
    assert f"argument {flag}" in capsys.readouterr().err


def test_status_interval_zero_prints_only_the_summary_at_exit(capsys):
    rc, err = _demo(capsys, "--speed", "20")  # ~1.4 s of demo trace: the default interval would not fire either
    assert rc == 0
    assert len([ln for ln in err.splitlines() if "windows=" in ln]) == 1
    assert "0 = no periodic line, only the summary at exit" in " ".join(cli.build_parser().format_help().split())


def test_status_line_before_the_first_window_says_dash_not_none(tmp_path, capsys):
    f = tmp_path / "short.imu"  # valid frames, fewer samples than one window
    f.write_bytes(Emulator(synthetic(1.0, seed=3)).wire_bytes())
    assert cli.main(["--replay", str(f), "--speed", "0", "--sink", "memory://", "--status-interval", "0"]) == 0
    err = capsys.readouterr().err
    assert "None" not in err and "invoke_us p50=- p99=-" in err
    assert "the recording ended without one window" in err  # a warning, exit 0: the file is a recording


def test_list_ports_help_is_help(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["list-ports", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and out.startswith("usage: edge-anonymize list-ports")


def test_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"edge-anonymize {version('edge-anonymize')}"


def test_demo_start_prints_no_native_info_lines():
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP")}
    r = subprocess.run([sys.executable, "-m", "edge_runtime.cli", "--demo", "--sink", "memory://"], capture_output=True,
                       text=True, timeout=60, cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines and all(ln.startswith("edge-anonymize: ") for ln in lines), lines  # no "INFO: Created ... XNNPACK"
