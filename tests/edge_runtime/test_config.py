from __future__ import annotations

from pathlib import Path

import pytest

from edge_runtime.config import RuntimeConfig, default_sink_url, from_dict, load_config, with_overrides
from edge_runtime.errors import ConfigError

DEPLOY = Path(__file__).resolve().parents[2] / "edge_runtime" / "deploy" / "config.toml"


def test_defaults_and_a_delta_file(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text(
        '[source]\nurl = "serial:///dev/imu0"\nreconnect_max_s = 10\n[window]\nstride = 32\n'
        '[sinks]\nurls = ["memory://", "stdout://"]\n'
    )
    cfg = load_config(p)
    assert cfg.source.url == "serial:///dev/imu0" and cfg.source.reconnect_max_s == 10.0
    assert isinstance(cfg.source.reconnect_max_s, float)
    assert cfg.window.stride == 32 and cfg.window.max_interp == 5
    assert cfg.sinks.urls == ["memory://", "stdout://"]
    assert load_config(None) == RuntimeConfig()


def test_shipped_example_config_loads():
    cfg = load_config(DEPLOY)
    assert cfg.source.url and cfg.source.wait and cfg.sinks.urls


@pytest.mark.parametrize("doc,key", [
    ({"window": {"strid": 3}}, "window.strid"),
    ({"nope": {}}, "nope"),
    ({"window": {"stride": "64"}}, "window.stride"),
    ({"window": {"stride": 1.5}}, "window.stride"),
    ({"model": {"allow_ungated": 1}}, "model.allow_ungated"),
    ({"sinks": {"urls": "memory://"}}, "sinks.urls"),
    ({"sinks": {"urls": [1]}}, "sinks.urls"),
    ({"source": 3}, "source"),
    ({"source": {"reconnect_min_s": -1}}, "source.reconnect_min_s"),
    ({"stream": {"device_id": "xyz"}}, "stream.device_id"),
])  # fmt: skip
def test_unknown_key_or_wrong_type_names_the_key(doc, key):
    with pytest.raises(ConfigError) as e:
        from_dict(doc)
    assert key in str(e.value) and "\n" not in str(e.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[window\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    binary = tmp_path / "latin1.toml"
    binary.write_bytes('[stream]\nname = "café"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(binary)


def test_cli_overrides_skip_none_and_are_checked():
    cfg = with_overrides(RuntimeConfig(), {"window.stride": 16, "runtime.metrics_file": None})
    assert cfg.window.stride == 16 and cfg.runtime.metrics_file == ""
    with pytest.raises(ConfigError, match="window.stride"):
        with_overrides(cfg, {"window.stride": -1})


def test_default_sink_follows_xdg_runtime_dir(monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    assert default_sink_url() == "unix:///run/user/1000/edge-anonymize/windows.sock"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert default_sink_url() == "unix:///run/edge-anonymize/windows.sock"
