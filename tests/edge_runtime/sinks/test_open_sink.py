"""``open_sink``'s URL checks: a bad port or a missing file-sink folder is one ``SinkError`` at start."""

from __future__ import annotations

import pytest

from edge_runtime.errors import SinkError
from edge_runtime.sinks import open_sink


@pytest.mark.parametrize("url,needle", [
    ("udp://127.0.0.1:99999", "Port out of range 0-65535"),
    ("udp://127.0.0.1:nine", "Port could not be cast to integer"),
    ("mqtt://127.0.0.1:70000/imu/windows", "Port out of range"),
])  # fmt: skip
def test_bad_port_is_a_sink_error(url, needle):
    with pytest.raises(SinkError, match=needle) as e:
        open_sink(url)
    assert "\n" not in str(e.value)


def test_file_sink_refuses_a_missing_folder_unless_asked(tmp_path):
    target = tmp_path / "a" / "b" / "w.jsonl"
    with pytest.raises(SinkError, match=r"file sink folder .*/a/b does not exist .*\?mkdir=1"):
        open_sink(f"file://{target}")
    assert not (tmp_path / "a").exists()
    sink = open_sink(f"file://{target}?mkdir=1")
    sink.close()
    assert target.parent.is_dir()


def test_file_sink_in_an_existing_folder_opens(tmp_path):
    open_sink(f"file://{tmp_path}/w.jsonl").close()
    assert (tmp_path / "w.jsonl").exists()
