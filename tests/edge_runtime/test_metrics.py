from __future__ import annotations

import json
import os
import socket

from edge_runtime.metrics import Latency, Metrics, write_json
from edge_runtime.watchdog import Notifier, Watchdog


def test_latency_percentiles_over_a_ring():
    lat = Latency(keep=100)
    assert lat.summary()["p50_us"] is None
    for i in range(1, 201):
        lat.add(i * 1e-6)
    s = lat.summary()
    assert s["n"] == 200 and 150 <= s["p50_us"] <= 151 and 198 <= s["p99_us"] <= 200


def test_status_line_and_snapshot_are_content_free_and_say_ungated():
    m = Metrics(ungated=True)
    m.add("windows", 3)
    m.section("decoder", lambda: {"frames": 10, "crc": 2, "gaps": 1})
    m.section("sinks", lambda: {"memory://": {"sent": 3, "dropped": 0}})
    line = m.status_line()
    assert line.startswith("UNGATED ") and "frames=10" in line and "drops=crc:2" in line
    assert "windows=3" in line and "memory://=3/0" in line and "\n" not in line
    snap = m.snapshot()
    assert snap["ungated"] and snap["decoder"]["crc"] == 2 and json.dumps(snap)


def test_write_json_is_atomic_and_leaves_no_temp(tmp_path):
    p = tmp_path / "metrics.json"
    write_json(p, {"a": 1})
    write_json(p, {"a": 2})
    assert json.loads(p.read_text()) == {"a": 2}
    assert os.listdir(tmp_path) == ["metrics.json"]


def _listener(tmp_path):
    path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(2)
    return s, path


def test_notifier_speaks_to_a_real_notify_socket(tmp_path):
    s, path = _listener(tmp_path)
    n = Notifier({"NOTIFY_SOCKET": path})
    assert n.notify("READY=1")
    assert s.recv(100) == b"READY=1"
    assert not Notifier({}).notify("READY=1")
    n.close()
    s.close()


def test_watchdog_pings_only_when_every_loop_progressed(tmp_path):
    s, path = _listener(tmp_path)
    now = [0.0]
    wd = Watchdog(Notifier({"NOTIFY_SOCKET": path}), env={"WATCHDOG_USEC": "2000000"}, clock=lambda: now[0])
    assert wd.interval_s == 1.0
    wd.beat("reader"), wd.beat("processor")
    now[0] = 0.5
    assert not wd.tick()  # not due yet
    now[0] = 1.2
    wd.beat("reader"), wd.beat("processor")
    assert wd.tick() and s.recv(100) == b"WATCHDOG=1"
    now[0] = 2.5
    wd.beat("reader")  # the processor froze
    assert not wd.tick()
    now[0] = 2.6
    wd.beat("processor")
    assert wd.tick() and wd.pings == 2
    wd.notifier.close()
    s.close()


def test_watchdog_disabled_without_systemd():
    wd = Watchdog(Notifier({}), env={})
    wd.beat("x")
    assert not wd.enabled and not wd.tick()


def test_status_line_before_any_window_and_sink_extras():
    m = Metrics()
    m.section("sinks", lambda: {
        "unix:///s.sock": {"sent": 69, "dropped": 0, "errors": 0, "last_error": "", "clients": 0},
        "udp://127.0.0.1:9": {"sent": 5, "dropped": 1, "errors": 2, "last_error": "OSError: x"},
    })  # fmt: skip
    line = m.status_line()
    assert "None" not in line and "invoke_us p50=- p99=-" in line and "window_us p50=- p99=-" in line
    assert "unix:///s.sock=69/0[clients=0]" in line  # a socket nobody read is visible as such
    assert "udp://127.0.0.1:9=5/1[errors=2]" in line and "OSError" not in line
