"""``edge-anonymize --config gateway.toml`` as a real process: [[streams]] run the gateway, SIGTERM drains."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge_runtime import cli

from .test_gateway import device

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_streams_config_runs_the_gateway_until_sigterm(bundle, tmp_path):
    port, m = _free_port(), tmp_path / "m.json"
    conf = tmp_path / "gw.toml"
    conf.write_text(f"""
[model]
bundle = "{bundle}"
[sinks]
urls = ["file://{tmp_path}/{{stream}}.jsonl", "file://{tmp_path}/all.jsonl"]
[runtime]
metrics_file = "{m}"
status_interval_s = 0.3
[gateway]
secret = "cli-test"
[[streams]]
name = "ward"
url = "tcp-listen://127.0.0.1:{port}?max=10"
""")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, "-m", "edge_runtime.cli", "--config", str(conf)], cwd=ROOT, env=env,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline, socks = time.monotonic() + 30, []
        while not m.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        for i in range(3):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(device(i, n=128 * 2)[0])
            socks.append(s)
        while time.monotonic() < deadline:
            snap = json.loads(m.read_text())
            if snap["counters"]["windows"] == 9:
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill() if proc.poll() is None else None
    assert proc.returncode == 0, err
    snap = json.loads(m.read_text())
    assert snap["state"] == "stopped" and len(snap["streams"]) == 3
    assert all(s["windows"] == 3 for s in snap["streams"].values())
    assert "streams open=" in err and "Traceback" not in err
    assert (tmp_path / "all.jsonl").read_text().count("\n") == 9
    assert len(list(tmp_path.glob("ward-*.jsonl"))) == 3
    for s in socks:
        s.close()


@pytest.mark.parametrize("body, needle", [
    ('[[streams]]\nname = "a"\nurl = "tcp-listen://127.0.0.1:1"\nbogus = 1\n', "unknown config key streams[0].bogus"),
    ('[[streams]]\nname = "a/b"\nurl = "serial:///dev/x"\n', "streams[0].name"),
    ('[gateway]\nmax_streams = 0\n', "gateway.max_streams"),
])  # fmt: skip
def test_bad_streams_config_is_one_line(tmp_path, capsys, body, needle):
    conf = tmp_path / "c.toml"
    conf.write_text(body)
    assert cli.main(["--config", str(conf)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
