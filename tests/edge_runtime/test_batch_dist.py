"""``edge-anonymize batch`` beyond one process: ``--jobs 2`` (spawned local processes) and a Dask
cluster (``--scheduler``, a real ``LocalCluster`` here) write byte for byte what one process writes,
a bad file is one error line among written others, and each worker verifies and loads the bundle once."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from edge_runtime.batch_dist import Options, Result, run_task, run_tasks
from edge_runtime.batch_inputs import Task, find_tasks
from edge_runtime.cli import main

from .conftest import sample_frames, walk_counts, wire
from .test_batch import _csv


@pytest.fixture()
def inputs(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    for i in range(3):
        (src / f"r{i}.imu").write_bytes(wire(sample_frames(walk_counts(50 * (10 + 5 * i), seed=i))))
    _csv(src / "sub" / "w.csv", walk_counts(50 * 15, seed=7))
    (src / "zz_bad.csv").write_text("ax,ay,az,gx,gy,gz\n1,2,3\n")  # last: the spawned worker gets a good file first
    return src


def _outputs(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _run(src: Path, out: Path, bundle: Path, capsys, *extra: str) -> str:  # type: ignore[no-untyped-def]
    rc = main(["batch", str(src), "--out", str(out), "--bundle", str(bundle), "--acc-unit", "g", "--gyro-unit", "deg/s",
               "--t-gateway", "1700000000", *extra])  # fmt: skip
    err: str = capsys.readouterr().err
    assert rc == 1, err  # zz_bad.csv
    lines = [ln for ln in err.splitlines() if ln.startswith("batch: ")]
    assert len(lines) == 5 and sum(": error: " in ln for ln in lines) == 1, err
    assert "batch: zz_bad.csv: error: CSV: rows must hold at least 6 values" in err and "Traceback" not in err
    return err


WANT = ["r0.imu.{f}", "r1.imu.{f}", "r2.imu.{f}", "sub/w.csv.{f}"]


def test_jobs_2_writes_the_bytes_one_process_writes(inputs: Path, bundle: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    _run(inputs, tmp_path / "one", bundle, capsys)
    _run(inputs, tmp_path / "two", bundle, capsys, "--jobs", "2")
    one = _outputs(tmp_path / "one")
    assert sorted(one) == [w.format(f="jsonl") for w in WANT] and all(len(b) > 1000 for b in one.values())
    assert _outputs(tmp_path / "two") == one
    # this process and one spawned worker share the tasks, each with its own single bundle load
    tasks = [t for t in find_tasks([str(inputs)]) if isinstance(t, Task)]
    results = list(run_tasks(tasks, Options(str(bundle), out=str(tmp_path / "three")), jobs=2))
    assert sorted(r.rel for r in results) == sorted(t.rel for t in tasks)
    workers = {r.worker.split("/")[0]: r.worker for r in results}
    assert len(workers) == 2 and str(os.getpid()) in workers
    assert any(r.error is None and not r.worker.startswith(f"{os.getpid()}/") for r in results)  # it wrote one


def test_a_dask_local_cluster_writes_the_bytes_one_process_writes(inputs: Path, bundle: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("pyarrow")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                                  dashboard_address=None) as cluster:  # fmt: skip
        address = cluster.scheduler_address
        assert address.startswith("tcp://")
        for fmt in ("jsonl", "parquet"):
            _run(inputs, tmp_path / f"local-{fmt}", bundle, capsys, "--format", fmt)
            _run(inputs, tmp_path / f"dask-{fmt}", bundle, capsys, "--format", fmt, "--scheduler", address)
            local = _outputs(tmp_path / f"local-{fmt}")
            assert sorted(local) == [w.format(f=fmt) for w in WANT]
            assert _outputs(tmp_path / f"dask-{fmt}") == local
        # each worker (thread) verified and loaded the bundle once, however many tasks it ran
        opts = Options(str(bundle), out=str(tmp_path / "direct"))
        tasks = [t for t in find_tasks([str(inputs)]) if isinstance(t, Task)] * 2
        results = list(run_tasks(tasks, opts, scheduler=address))
    assert len(results) == 10 and sum(r.error is not None for r in results) == 2
    loads: dict[str, set[str]] = {}
    for r in results:
        worker, load = r.worker.rsplit("/", 1)
        loads.setdefault(worker, set()).add(load)
    assert 1 <= len(loads) <= 2 and all(len(v) == 1 for v in loads.values()), loads
    assert f"{os.getpid()}/{threading.get_ident()}" not in loads  # the cluster's worker threads ran them, not this one


def test_a_worker_verifies_the_bundle_itself(inputs: Path, bundle: Path, tmp_path: Path) -> None:
    task = next(t for t in find_tasks([str(inputs)]) if isinstance(t, Task))
    opts = Options(str(bundle), out=str(tmp_path / "out"))
    model = next(bundle.glob("*.tflite"))
    model.write_bytes(model.read_bytes()[:-1] + b"\x00")  # changed after the client checked it
    got: list[Result] = []
    t = threading.Thread(target=lambda: got.append(run_task(task, opts)))  # a fresh worker thread: nothing loaded yet
    t.start()
    t.join(60)
    assert got and got[0].error is not None and got[0].error.startswith("bundle refused on this worker:")
    assert "sha256" in got[0].error and not (tmp_path / "out").exists()


def test_jobs_and_scheduler_exclude_each_other(inputs: Path, bundle: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exc:
        main(["batch", str(inputs), "--out", str(tmp_path), "--jobs", "2", "--scheduler", "tcp://127.0.0.1:8786"])
    assert exc.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
