"""edge_runtime never imports TensorFlow/Keras (nor modules that only cost memory), even while running the
model; cold start is measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from firmware_bridge.emulator import Emulator
from firmware_bridge.recording import synthetic

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys, time
t0 = time.perf_counter()
import edge_runtime.cli, edge_runtime.pipeline, edge_runtime.interpreter, edge_runtime.decoder
import edge_runtime.windower, edge_runtime.config, edge_runtime.metrics, edge_runtime.watchdog
import edge_runtime.sources.serial, edge_runtime.sources.replay, edge_runtime.sources.tcp, edge_runtime.sinks
t_import = time.perf_counter() - t0
rc = edge_runtime.cli.main(["--replay", sys.argv[1], "--speed", "0", "--bundle", sys.argv[2],
                            "--sink", "memory://", "--status-interval", "0"])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
# each of these costs 2-4 MB of resident memory for good, in a 60 MB budget, for nothing the gateway needs
fat = sorted(m for m in ("numpy.ma", "ai_edge_litert.schema_py_generated", "importlib.metadata") if m in sys.modules)
print(json.dumps({"rc": rc, "heavy": heavy, "fat": fat, "import_s": t_import, "total_s": time.perf_counter() - t0,
                  "rss_mb": next(int(ln.split()[1]) / 1024 for ln in open("/proc/self/status")
                                 if ln.startswith("VmHWM:"))}))
"""


def test_no_tensorflow_and_cold_start(bundle, tmp_path, capsys):
    trace = tmp_path / "t.imu"
    trace.write_bytes(Emulator(synthetic(10.0)).wire_bytes())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", PROBE, str(trace), str(bundle)], capture_output=True, text=True,
                       cwd=ROOT, env=env, timeout=120)  # fmt: skip
    wall = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["rc"] == 0 and res["heavy"] == [] and res["fat"] == []
    with capsys.disabled():
        print(
            f"\n[cold start] imports {res['import_s']:.2f} s, imports+model+10 s replay {res['total_s']:.2f} s, "
            f"process wall {wall:.2f} s, peak RSS {res['rss_mb']:.0f} MB"
        )
    assert wall < 60 and res["rss_mb"] < 1024  # generous: a loaded 2-core machine
