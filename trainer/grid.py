"""``aae grid`` — one anonymizer per point of a grid of config values, each gated and exported (DySan's sweep).

    aae grid --config trainer/configs/hapt.toml --data ../shared/datasets/uci-hapt --out runs/grid \\
        --axis beta_id=0.5,1 --axis beta_dist=0.5,1.5 [--cross sisfall] [--signing-key KEY] [--quick]

    <out>/runs/<point>/          the point's training run (``train(..., resume=True)`` after an interruption)
    <out>/bundles/<point>/       its bundle, or <point>.rejected/ when the release gate refused it
    <out>/grid.json              every point: overrides, bundle, gate verdict, the gate's int8 numbers (atomic)
    <out>/grid.md, frontier.png  the table and the privacy-utility frontier (``trainer.gridreport``)

A point is named by its values (``beta_id=0.5,beta_dist=1.5``). A point whose bundle (or rejected
bundle) exists is not redone, so running the same command again continues an interrupted grid.
Every point goes through ``load_config`` before anything trains: a typo in the last value must not
surface after hours of training the others. Exit codes: 0 every point has a bundle (passed or
rejected by the gate), 1 some points failed (one line each in grid.json), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import TrainConfig, dataset_names, load_config
from .errors import TrainerError

__all__ = ["Point", "parse_axis", "point_name", "plan_points", "run_grid", "build_parser", "run"]

CLAIM = "grid_point.json"  # in a point's run folder: the config it was started with
_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+-]")
_MAX_NAME = 120  # a folder name stays well under the file systems' 255 bytes, with room for ".rejected"


@dataclass(frozen=True)
class Point:
    """One grid point: its folder name, its axis values (after ``load_config``'s coercion) and config."""

    name: str
    overrides: dict[str, Any]
    config: TrainConfig


def parse_axis(item: str) -> tuple[str, list[Any]]:
    """``key=v1,v2`` -> ``(key, [v1, v2])``; values are TOML (``0.5,1``, ``["hapt"],["hapt","sisfall"]``),
    else comma-separated bare strings (``view=magnitude,axes``)."""
    import tomllib

    from .cli import _parse_override

    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise TrainerError(f"--axis expects KEY=V1,V2,..., got {item!r}")
    if not raw.strip():
        raise TrainerError(f"--axis {key} has no values")
    try:
        values = list(tomllib.loads(f"v = [{raw}]")["v"])
    except tomllib.TOMLDecodeError:
        parts = [p.strip() for p in raw.split(",")]
        if not all(parts):
            raise TrainerError(f"--axis {key} has an empty value in {raw!r}") from None
        values = [_parse_override(f"{key}={p}")[1] for p in parts]
    if not values:
        raise TrainerError(f"--axis {key} has no values")
    return key, values


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, list | tuple):
        return "+".join(_fmt(x) for x in v)
    return str(v)


def point_name(overrides: dict[str, Any]) -> str:
    """A stable folder name from the values: ``beta_id=0.5,beta_dist=1.5`` (1.0 and 1 both give ``1``)."""
    name = _UNSAFE.sub("_", ",".join(f"{k}={_fmt(v)}" for k, v in overrides.items()))
    if len(name) > _MAX_NAME:  # long lists of axes: keep a readable head, stay unique with a hash
        name = f"{name[:_MAX_NAME - 11]}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"
    return name


def _jsonable(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def plan_points(config: str | Path | None, axes: list[tuple[str, list[Any]]], fixed: dict[str, Any]) -> list[Point]:
    """The Cartesian product of ``axes`` (first axis slowest), each checked by ``load_config``.

    Raises:
        TrainerError: no axis, a key given twice, an unknown key or a value of the wrong type, two
            points that would share a folder.
    """
    if not axes:
        raise TrainerError("aae grid needs at least one --axis KEY=V1,V2,...")
    keys = [k for k, _ in axes]
    twice = sorted({k for k in keys if keys.count(k) > 1} | (set(keys) & set(fixed)))
    if twice:
        raise TrainerError(f"config key {twice[0]} is given twice (--axis and --set name each key once)")
    points: list[Point] = []
    for combo in itertools.product(*(values for _, values in axes)):
        cfg = load_config(config, **{**fixed, **dict(zip(keys, combo, strict=True))})
        overrides = {k: _jsonable(getattr(cfg, k)) for k in keys}
        points.append(Point(point_name(overrides), overrides, cfg))
    seen: dict[str, Point] = {}
    for p in points:
        if p.name in seen:
            raise TrainerError(f"two points of the grid are the same point {p.name} (a value given twice, "
                               f"e.g. 1 and 1.0?): {seen[p.name].overrides} and {p.overrides}")
        seen[p.name] = p
    return points


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _same_config(stored: dict[str, Any], p: Point, where: Path) -> None:
    """Refuse to reuse ``where`` when it was made from another config (a changed --config or --set)."""
    want = {k: _jsonable(v) for k, v in p.config.to_dict().items()}
    diff = [k for k in want if k in stored and stored[k] != want[k]]  # keys added since: not a difference
    if diff:
        k = diff[0]
        raise TrainerError(f"{where} was made with another config ({k} {stored[k]!r}, now {want[k]!r}); "
                           "remove it or choose another --out")


def _train_point(p: Point, data: str | Path, run_dir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Train (or resume, or reuse) the point's run and evaluate it when its config asks; returns run.json."""
    from .checkpoint import MODEL_NAME, RUN_JSON, save_run_json

    claim, meta_path = run_dir / CLAIM, run_dir / RUN_JSON
    if claim.is_file():
        _same_config(json.loads(claim.read_text(encoding="utf-8")).get("config", {}), p, run_dir)
    if not (meta_path.is_file() and (run_dir / MODEL_NAME).is_file()):
        run_dir.mkdir(parents=True, exist_ok=True)
        claim.write_text(json.dumps({"point": p.name, "config": p.config.to_dict()}, indent=1) + "\n", encoding="utf-8")
        from .train import train

        resuming = (run_dir / "state" / "progress.json").is_file()
        log("resuming the interrupted training" if resuming else "training")
        train(p.config, data, run_dir, resume=True, log=log)
    meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
    _same_config(meta.get("config") or {}, p, run_dir)
    if p.config.evaluate and not meta.get("evaluation"):
        from .report import run_evaluation

        log("evaluating the run (raw and resampling baselines)")
        run_evaluation(run_dir, data)  # honours the run's eval_quick, as aae train does
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    coords = {"point": p.name, "coordinates": p.overrides}
    if meta.get("grid") != coords:  # export copies it into the manifest's training block (signed with it)
        meta["grid"] = coords
        save_run_json(run_dir, meta)
    return meta


def _point(p: Point, data: str | Path, out: Path, *, cross: str | None, signing_key: str | Path | None,
           eval_cfg: Any, log: Callable[[str], None]) -> dict[str, Any]:
    """One point end to end; a finished bundle (or rejected one) is read back, never redone."""
    from edge_runtime.manifest import load
    from export.install import is_bundle, rejected_path

    from .gridreport import point_entry

    bundle, run_dir = out / "bundles" / p.name, out / "runs" / p.name
    for where in (bundle, rejected_path(bundle)):
        if is_bundle(where):
            m = load(where, allow_ungated=True)
            _same_config((m.training or {}).get("config") or {}, p, where)
            log(f"{where.relative_to(out)} exists: not retrained")
            return point_entry(m, out, run_dir, reused=True)
    _train_point(p, data, run_dir, log)
    from export.cli import export_run

    m, _ = export_run(run_dir, data, bundle, signing_key=signing_key, cross=cross, eval_cfg=eval_cfg, log=log)
    return point_entry(m, out, run_dir, reused=False)


def _prefixed(log: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    return lambda line: log(prefix + line)


def run_grid(points: list[Point], data: str | Path, out: str | Path, *, cross: str | None = None,
             signing_key: str | Path | None = None, eval_cfg: Any = None, meta: dict[str, Any] | None = None,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train, gate and export every point; a point's failure is recorded and the others go on.

    Writes ``<out>/grid.json`` after every point, then grid.md and frontier.png. Returns grid.json's content.
    """
    from edge_runtime.errors import EdgeError
    from export.convert import ExportError

    from .gridreport import finish, new_doc, write_doc

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    doc = new_doc(points, cross=cross, eval_cfg=eval_cfg, meta=meta)
    t0, n = time.monotonic(), len(points)
    for i, p in enumerate(points, 1):
        tp = time.monotonic()
        log(f"point {i}/{n} {p.name}: start ({(tp - t0) / 60:.1f} min into the grid)")
        try:
            entry = _point(p, data, out, cross=cross, signing_key=signing_key, eval_cfg=eval_cfg,
                           log=_prefixed(log, f"  [{i}/{n}] "))
        except (TrainerError, ExportError, EdgeError) as exc:
            entry = {"status": "failed", "error": f"{type(exc).__name__}: {_one_line(exc)}"}
        entry["minutes"] = round((time.monotonic() - tp) / 60, 2)
        doc["points"][i - 1].update(entry)
        write_doc(doc, out)
        what = entry.get("bundle") or entry.get("error")
        log(f"point {i}/{n} {p.name}: {entry['status']} {what} ({entry['minutes']:.1f} min; "
            f"{(time.monotonic() - t0) / 60:.1f} min so far)")
    return finish(doc, out)


class Args(argparse.Namespace):
    config: str | None
    data: str
    out: str
    axis: list[str]
    set: list[str]
    cross: str | None
    signing_key: str | None
    quick: bool


def build_parser(subparsers: Any) -> argparse.ArgumentParser:
    """The ``grid`` subcommand on ``aae``'s subparsers."""
    g: argparse.ArgumentParser = subparsers.add_parser(
        "grid", help="train, gate and export one anonymizer per point of a config grid; privacy-utility frontier",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g.add_argument("--config", help="TOML file with overrides of trainer/config.py defaults (every point)")
    g.add_argument("--data", required=True, help="dataset folder (HAPT: the folder holding RawData/)")
    g.add_argument("--out", required=True, help="grid folder: runs/, bundles/, grid.json, grid.md, frontier.png")
    g.add_argument("--axis", action="append", default=[], metavar="KEY=V1,V2",
                   help="a config key and its values (repeatable: the grid is the Cartesian product)")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one key for every point")
    g.add_argument("--cross", default=None, metavar="DATASET",
                   help="the release gate's cross-dataset check on a dataset no point trains on (e.g. sisfall)")
    g.add_argument("--signing-key", metavar="FILE", default=os.environ.get("AAE_SIGNING_KEY") or None,
                   help="Ed25519 private key to sign every bundle with (default $AAE_SIGNING_KEY)")
    g.add_argument("--quick", action="store_true", help="small gate evaluators (smoke test)")
    return g


def run(args: argparse.Namespace) -> int:
    """Run the parsed ``grid`` command: 0 all points have a bundle, 1 some failed (bad arguments raise)."""
    from .cli import _parse_override

    a: Args = args  # type: ignore[assignment]
    points = plan_points(a.config, [parse_axis(s) for s in a.axis], dict(_parse_override(s) for s in a.set))
    if not Path(a.data).exists():
        raise TrainerError(f"dataset folder {a.data} does not exist")
    if a.signing_key:
        from edge_runtime.errors import EdgeError
        from edge_runtime.signing import load_private_key

        try:
            load_private_key(a.signing_key)  # a wrong key fails before hours of training
        except EdgeError as exc:
            raise TrainerError(str(exc)) from None
    if a.cross is not None:
        from .data import dataset_list

        dataset_list(a.cross)  # unknown: DatasetError, one line
        trained = [p.name for p in points if a.cross in dataset_names(p.config)]
        if trained:
            raise TrainerError(f"--cross {a.cross}: point {trained[0]} trains on it; the check needs a dataset no point saw")
    eval_cfg = None
    if a.quick:
        from .evaluators import EvalConfig

        eval_cfg = EvalConfig.quick()
    meta = {"config": a.config, "fixed": dict(_parse_override(s) for s in a.set)}
    doc = run_grid(points, a.data, a.out, cross=a.cross, signing_key=a.signing_key, eval_cfg=eval_cfg, meta=meta,
                   log=lambda s: print(f"aae grid: {s}", flush=True))
    s = doc["summary"]
    print(f"aae grid: {s['bundle']} bundles, {s['rejected']} rejected by the gate, {s['failed']} failed "
          f"-> {Path(a.out) / 'grid.md'}", flush=True)
    return 1 if s["failed"] else 0
