"""``aae`` on a newcomer's machine: an edge-only install (no TensorFlow/Keras) and a config file that
is not text get one line, exit 2, and the pip hint; never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trainer.cli import main

ROOT = Path(__file__).resolve().parents[2]

# what an edge-only install looks like to Python: the heavy training modules cannot be imported
_BLOCK = textwrap.dedent("""
    import sys
    from importlib.abc import MetaPathFinder

    class NotInstalled(MetaPathFinder):
        names = {"tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime"}

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.names:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())
    from trainer.cli import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.parametrize("command,extra", [("train", "train"), ("export", "export")])
def test_edge_only_install_names_the_extra(tmp_path, command, extra):
    args = {"train": ["train", "--data", str(tmp_path), "--out", str(tmp_path / "run")],
            "export": ["export", "--run", str(tmp_path), "--data", str(tmp_path), "--out", str(tmp_path / "b")]}[command]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", _BLOCK, *args], capture_output=True, text=True, timeout=120,
                       cwd=ROOT, env=env)  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"pip install 'edge-anonymize[{extra}]'" in r.stderr and r.stderr.startswith(f"aae: error: aae {command}")


def test_non_utf8_config_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_bytes('rounds = 3 # réglage\n'.encode("latin-1"))
    assert main(["train", "--config", str(cfg), "--data", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aae: error: config file") and "not UTF-8 text" in err and err.count("\n") == 1


def test_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"aae {version('edge-anonymize')}"
