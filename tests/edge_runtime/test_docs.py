"""The user docs cannot rot: the consumer snippets in docs/consumers.md run against a real
``edge-anonymize --demo``, docs/window-record.md lists exactly the fields of ``AnonymizedWindow``, and
no doc holds an absolute path of the machine it was written on."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.decoder import FLAG_NAMES
from edge_runtime.sinks.base import AnonymizedWindow

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
DEMO_WINDOWS = 69  # windows in the bundled sample trace at stride 64
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


def snippet(doc: Path, name: str) -> str:
    """The fenced code block right after ``<!-- snippet: NAME -->``."""
    m = re.search(rf"<!-- snippet: {re.escape(name)} -->\s*```\w*\n(.*?)```", doc.read_text(), re.S)
    assert m, f"{doc.name} has no snippet {name}"
    return m.group(1)


def demo(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "edge_runtime.cli", "--demo", "--speed", "20", "--status-interval",
                             "0", *args], cwd=ROOT, env=ENV, stderr=subprocess.PIPE, text=True)  # fmt: skip


def records(out: str) -> list[list[str]]:
    return [ln.split() for ln in out.splitlines() if ln and ln[0].isdigit()]


def test_unix_consumer_snippet_reads_the_demo(tmp_path):
    code = tmp_path / "unix_consumer.py"
    code.write_text(snippet(DOCS / "consumers.md", "unix_consumer.py"))
    sock = tmp_path / "w.sock"
    gw = demo("--sink", f"unix://{sock}")
    try:
        deadline = time.monotonic() + 30
        while not sock.exists() and time.monotonic() < deadline and gw.poll() is None:
            time.sleep(0.02)
        r = subprocess.run([sys.executable, str(code), str(sock)], capture_output=True, text=True, timeout=60)
        assert gw.wait(timeout=60) == 0
    finally:
        gw.kill()
        gw.communicate()
    assert r.returncode == 0, r.stderr
    got = records(r.stdout)
    ids = [int(x[0]) for x in got]
    assert len(ids) >= DEMO_WINDOWS - 5 and ids == list(range(ids[0], DEMO_WINDOWS))  # joined within ~0.3 s
    assert all(x[2] == "128" for x in got) and [int(b[1]) - int(a[1]) for a, b in zip(got, got[1:], strict=False)] == [64] * (len(got) - 1)


def test_udp_consumer_snippet_reads_the_demo(tmp_path):
    code = tmp_path / "udp_consumer.py"
    code.write_text(snippet(DOCS / "consumers.md", "udp_consumer.py"))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    consumer = subprocess.Popen([sys.executable, str(code), str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert consumer.stdout is not None and consumer.stdout.readline().strip() == "listening"
        gw = demo("--sink", f"udp://127.0.0.1:{port}")
        _, err = gw.communicate(timeout=60)
        assert gw.returncode == 0, err
        time.sleep(0.5)
    finally:
        consumer.terminate()
        out, _ = consumer.communicate(timeout=10)
    got = records(out)
    assert [int(x[0]) for x in got] == list(range(DEMO_WINDOWS)) and all(x[2] == "128" for x in got)


def test_firmware_porting_check_snippet_reads_a_recording(tmp_path):
    from firmware_bridge.emulator import Emulator
    from firmware_bridge.recording import synthetic

    code, rec = tmp_path / "check_port.py", tmp_path / "port.imu"
    code.write_text(snippet(DOCS / "firmware-porting.md", "check_port.py"))
    rec.write_bytes(Emulator(synthetic(10.0, seed=1)).wire_bytes())
    r = subprocess.run([sys.executable, str(code), str(rec)], capture_output=True, text=True, timeout=60, env=ENV)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("50 Hz, 500 samples, |acc| mean ")


def _record_fields() -> set[str]:
    w = AnonymizedWindow(window_id=0, stream="imu", start_sample=0, t_device_us=0, t_gateway=0.0, rate_hz=50.0,
                         channels=("acc_mag", "gyro_mag"), units=("m/s^2", "rad/s"), data=np.zeros((128, 2), np.float32))  # fmt: skip
    return set(w.to_dict())


def test_window_record_doc_lists_every_field_and_flag():
    text = (DOCS / "window-record.md").read_text()
    documented = set(re.findall(r"^\| `(\w+)` \|", text, re.M))
    assert documented == _record_fields()
    example = re.search(r"```json\n(.*?)```", text, re.S)
    assert example and set(json.loads(example.group(1))) == _record_fields()
    for flag in FLAG_NAMES.values():
        assert f'`"{flag}"`' in text, flag
    assert "stride" in text and "64" in text and "50 % overlap" in text


DOC_FILES = sorted([ROOT / "README.md", *DOCS.rglob("*.md"), *(ROOT / "edge_runtime").rglob("*.md")])


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_docs_hold_no_machine_paths_and_links_resolve(doc):
    text = doc.read_text(encoding="utf-8")
    for absolute in (str(ROOT), str(ROOT.parent) + "/", str(Path.home()) + "/"):
        assert absolute not in text, f"{doc.name} holds the machine path {absolute}"
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" not in target and not target.startswith("mailto:"):
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"


def test_unit_documentation_points_at_the_installed_deploy_readme():
    unit = (ROOT / "edge_runtime" / "deploy" / "edge-anonymize.service").read_text()
    (doc_url,) = re.findall(r"^Documentation=file://(\S+)$", unit, re.M)
    assert (ROOT / "edge_runtime" / "deploy" / "README.md").is_file()
    assert f"$D/README.md {doc_url}" in (DOCS / "edge_runtime.md").read_text()  # the install steps put it there
    assert re.search(r"^After=.*network-online\.target", unit, re.M) and "Wants=network-online.target" in unit
