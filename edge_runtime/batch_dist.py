"""Where ``edge-anonymize batch`` runs: this process (``--jobs 1``), N local processes (``--jobs N``)
or the workers of a Dask cluster (``--scheduler tcp://host:8786``).

Each recording is one task (``run_task``). A worker verifies and loads the bundle once, at its first
task (``load`` with the trusted keys, exactly as the gateway does; one interpreter per worker
thread), and writes each output atomically; a ``Result`` (windows, seconds, error) comes back to
the client for every task, and a failing one, even a worker that dies, never stops the others.
``--jobs N`` is this process (warm: imports done, bundle loaded) plus N - 1 local processes, which
are *spawned*, not forked: a worker never inherits the client's interpreter.
With Dask the bundle, the inputs and ``--out`` must be at the same paths on every worker (a shared
file system).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from queue import SimpleQueue
from typing import Any

from .batch_inputs import Task
from .batch_output import anonymize_file
from .errors import ConfigError, EdgeError
from .manifest import Manifest

__all__ = ["Options", "Result", "run_task", "run_tasks", "preload", "output_path"]


@dataclass(frozen=True)
class Options:
    """Everything a worker needs for a task (picklable).

    Args:
        bundle: the bundle folder; trusted_keys: extra ``.pub`` files (besides the built-in and
            ``$EDGE_ANONYMIZE_TRUSTED_KEYS`` ones).
        out: output folder; format: "jsonl" or "parquet".
        stride: samples between windows (0: the manifest's); batch: windows per interpreter call.
        rate, acc_unit, gyro_unit: how CSV rows are read.
        t_gateway: every record's ``t_gateway`` [s since epoch]; None: when its file was started.
    """

    bundle: str
    trusted_keys: tuple[str, ...] = ()
    out: str = "."
    format: str = "jsonl"
    stride: int = 0
    batch: int = 256
    rate: float = 50.0
    acc_unit: str = "m/s^2"
    gyro_unit: str = "rad/s"
    t_gateway: float | None = None


@dataclass(frozen=True)
class Result:
    """What comes back for one task; ``error`` is a one-line message, None when the output was written."""

    rel: str
    dest: str
    windows: int = 0
    seconds: float = 0.0
    error: str | None = None
    worker: str = ""  # "pid/thread/loadN": which worker ran it, with which load of the bundle


_local = threading.local()  # per worker thread: (key, manifest, anonymizer, worker id)
_loads = itertools.count(1)  # bundle loads in this process, numbering the worker ids


def output_path(task: Task, opts: Options) -> Path:
    return Path(opts.out) / f"{task.rel}.{opts.format}"


def preload(opts: Options, manifest: Manifest, anonymizer: Any) -> None:
    """Hand this thread an already verified and loaded bundle (``--jobs 1``: the client's own)."""
    worker = f"{os.getpid()}/{threading.get_ident()}/load{next(_loads)}"
    _local.loaded = ((opts.bundle, opts.trusted_keys), manifest, anonymizer, worker)


def _loaded(opts: Options) -> tuple[Manifest, Any, str]:
    key = (opts.bundle, opts.trusted_keys)
    got = getattr(_local, "loaded", None)
    if got is None or got[0] != key:
        from .interpreter import Anonymizer
        from .manifest import load
        from .native_log import native_info_filtered
        from .signing import trusted_keys

        manifest = load(Path(opts.bundle), keys=trusted_keys(list(opts.trusted_keys)))
        with native_info_filtered(True):
            anonymizer = Anonymizer(manifest)
        preload(opts, manifest, anonymizer)
        got = _local.loaded
    return got[1], got[2], got[3]


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror + (f": {Path(exc.filename).name}" if exc.filename else "")
    if isinstance(exc, EdgeError):
        return str(exc)
    first = (str(exc).strip().splitlines() or [""])[0][:160]  # a bug: its type and first line
    return f"unexpected {type(exc).__name__}" + (f": {first}" if first else "")


def run_task(task: Task, opts: Options) -> Result:
    """One recording -> its output; never raises (the error comes back in the ``Result``)."""
    dest, t0 = output_path(task, opts), time.perf_counter()
    try:
        manifest, anonymizer, worker = _loaded(opts)
    except Exception as exc:
        return Result(task.rel, str(dest), error=f"bundle refused on this worker: {_message(exc)}")
    try:
        n = anonymize_file(task, dest, anonymizer, manifest, opts)
    except Exception as exc:
        return Result(task.rel, str(dest), error=_message(exc), worker=worker)
    return Result(task.rel, str(dest), n, time.perf_counter() - t0, worker=worker)


def _pool_result(fut: Future[Result], task: Task, opts: Options) -> Result:
    try:
        return fut.result()
    except Exception as exc:  # BrokenProcessPool: a worker died (killed, out of memory)
        return Result(task.rel, str(output_path(task, opts)), error=f"worker failed: {_message(exc)}")


def _processes(tasks: list[Task], opts: Options, jobs: int) -> Iterator[Result]:
    """``jobs - 1`` spawned processes and this one, which is warm already (imports, bundle), all taking
    the next task from one queue; a helper thread keeps each spawned process one task busy."""
    todo, done = deque(tasks), SimpleQueue[Result | None]()

    def take() -> Task | None:
        try:
            return todo.popleft()  # atomic: each task is taken once
        except IndexError:
            return None

    def feed(pool: ProcessPoolExecutor) -> None:
        running: dict[Future[Result], Task] = {}
        try:
            while True:
                while len(running) < jobs - 1 and (t := take()) is not None:
                    running[pool.submit(run_task, t, opts)] = t
                if not running:
                    return
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    done.put(_pool_result(fut, running.pop(fut), opts))
        finally:
            done.put(None)

    with ProcessPoolExecutor(max_workers=jobs - 1, mp_context=multiprocessing.get_context("spawn")) as pool:
        feeder = threading.Thread(target=feed, args=(pool,), name="batch-feeder", daemon=True)
        feeder.start()
        fed = False
        while (t := take()) is not None:
            yield run_task(t, opts)
            while not done.empty():
                r = done.get()
                fed |= r is None
                if r is not None:
                    yield r
        while not fed:
            r = done.get()
            fed = r is None
            if r is not None:
                yield r
        feeder.join()


def _dask(tasks: list[Task], opts: Options, address: str) -> Iterator[Result]:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise ConfigError("--scheduler needs Dask: pip install 'edge-anonymize[batch]'") from None
    try:
        client = Client(address, timeout=10, set_as_default=False)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"cannot reach the Dask scheduler at {address}: {why}") from None
    with client:
        futures = {client.submit(run_task, t, opts, pure=False): t for t in tasks}
        for fut in dask_completed(list(futures), loop=client.loop):  # type: ignore[no-untyped-call]
            try:
                yield fut.result()
            except Exception as exc:  # KilledWorker, a lost connection
                t = futures[fut]
                yield Result(t.rel, str(output_path(t, opts)), error=f"worker failed: {_message(exc)}")


def run_tasks(tasks: Iterable[Task], opts: Options, *, jobs: int = 1, scheduler: str | None = None) -> Iterator[Result]:
    """Every task's ``Result``, in the order they finish.

    Raises:
        ConfigError: ``scheduler`` given but Dask missing or the scheduler unreachable.
    """
    todo = list(tasks)
    if scheduler:
        yield from _dask(todo, opts, scheduler)
    elif jobs > 1 and len(todo) > 1:
        yield from _processes(todo, opts, min(jobs, len(todo)))
    else:
        for t in todo:
            yield run_task(t, opts)
