"""File sink rotation: numbered files, renames only, and the one deletion (past ``keep``) counted."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from edge_runtime.errors import SinkError
from edge_runtime.sinks import open_sink
from edge_runtime.sinks.file import KEEP, FileSink

from .conftest import window as _window


def window(i: int):  # type: ignore[no-untyped-def]
    """Windows of one size (ids 100...), so a file holds a known number of records."""
    return _window(0)._replace(window_id=100 + i)


RECORD = len(window(0).to_json()) + 1


def ids(path: Path) -> list[int]:
    return [json.loads(x)["window_id"] - 100 for x in path.read_bytes().splitlines()]


def test_rotation_keeps_numbered_files_and_loses_nothing_uncounted(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, "edge_anonymize")
    path = tmp_path / "w.jsonl"
    s = open_sink(f"file://{path}?max_bytes={3 * RECORD}&keep=3")  # 3 records per file
    assert isinstance(s, FileSink) and s.keep == 3
    for i in range(20):
        s.send(window(i))
    s.close()
    files = [path.with_name(f"w.jsonl.{k}") for k in (3, 2, 1)] + [path]
    kept = [i for f in files for i in ids(f)]
    assert not path.with_name("w.jsonl.4").exists()
    assert kept == list(range(kept[0], 20))  # oldest file first, whole records, in order
    assert all(len(ids(f)) == 3 for f in files[:-1])
    # what rotation deleted is exactly what is missing, and it was said
    assert s.stats.removed == kept[0] == 20 - len(kept) and s.stats.dropped == 0
    deletions = [r.getMessage() for r in caplog.records if "rotation deleted" in r.getMessage()]
    assert len(deletions) == 3 and all("w.jsonl.3" in m and "(3 window(s))" in m for m in deletions)


def test_rotation_never_overwrites_an_older_file(tmp_path: Path) -> None:
    """Before: every rotation replaced ``.1``, silently deleting the windows in it."""
    path = tmp_path / "w.jsonl"
    s = FileSink(path, max_bytes=2 * RECORD)  # default keep
    for i in range(8):
        s.send(window(i))
    s.close()
    assert s.keep == KEEP and s.stats.removed == 0
    assert [i for k in (3, 2, 1) for i in ids(path.with_name(f"w.jsonl.{k}"))] + ids(path) == list(range(8))


def test_a_record_larger_than_max_bytes_never_rotates_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "w.jsonl"
    s = FileSink(path, max_bytes=RECORD // 2, keep=2)
    for i in range(3):
        s.send(window(i))
    s.close()
    assert ids(path.with_name("w.jsonl.2")) == [0] and ids(path.with_name("w.jsonl.1")) == [1] and ids(path) == [2]
    assert s.stats.removed == 0


def test_rotation_resumes_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "w.jsonl"
    for run in range(2):
        s = FileSink(path, max_bytes=2 * RECORD, keep=2)
        for i in range(4):
            s.send(window(10 * run + i))
        s.close()
    # run 0: [0,1] [2,3]; run 1 appends nothing to the full file: it rotates it first
    assert ids(path.with_name("w.jsonl.2")) == [2, 3] and ids(path.with_name("w.jsonl.1")) == [10, 11]
    assert ids(path) == [12, 13] and s.stats.removed == 2  # [0, 1] deleted, counted


@pytest.mark.parametrize("query", ["keep=0", "keep=x", "max_bytes=-1"])
def test_bad_rotation_options_are_one_line_errors(tmp_path: Path, query: str) -> None:
    with pytest.raises(SinkError) as e:
        open_sink(f"file://{tmp_path}/w.jsonl?{query}")
    assert "\n" not in str(e.value)


def test_the_sink_creates_a_missing_folder_only_when_asked(tmp_path: Path) -> None:
    """Before: ``FileSink`` itself always created missing parents, whatever the URL said."""
    target = tmp_path / "a" / "b" / "w.jsonl"
    with pytest.raises(SinkError, match=r"does not exist .*\?mkdir=1") as e:
        FileSink(target)
    assert "\n" not in str(e.value) and not (tmp_path / "a").exists()
    s = FileSink(target, mkdir=True)
    s.send(window(0))
    s.close()
    assert ids(target) == [0]
    s = FileSink.from_url(f"file://{tmp_path}/c/w.jsonl?mkdir=1")  # the URL option reaches the sink
    s.close()
    assert (tmp_path / "c").is_dir()
