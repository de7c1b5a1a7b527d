"""``aae export`` — convert a trained run, run the release gate, write (and sign) the bundle.

    aae export --run runs/hapt --data ../shared/datasets/uci-hapt --out bundles/hapt --signing-key ~/.keys/aae.key
    python -m export.cli --run runs/hapt --data ../shared/datasets/uci-hapt --out bundles/hapt --quick

A failed gate never replaces a bundle: ``--out`` stays byte-identical and the new bundle is written
to ``<out>.rejected/`` for inspection. ``--skip-gate``/``--allow-failed`` write an ungated bundle to
``--out`` only if it holds no bundle yet (``--force`` replaces one). ``--out`` is checked before any
conversion. ``--signing-key`` (or ``$AAE_SIGNING_KEY``) signs the manifest (``aae keygen`` makes a key).

Exit codes: 0 bundle written and gate passed (or --skip-gate: written, marked ungated);
1 gate failed (bundle written with gate.passed=false to <out>.rejected, or to --out with
--allow-failed; the runtime refuses it unless --allow-ungated); 2 error (missing run or data,
unusable model, a refused --out, conversion failure). One line each; --debug shows tracebacks.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

__all__ = ["Args", "build_parser", "run", "main", "export_run"]


class Args(argparse.Namespace):
    run: str
    data: str
    out: str
    io: str
    skip_gate: bool
    allow_failed: bool
    force: bool
    signing_key: str | None
    quick: bool
    limit: list[str]
    representative: int
    opset: int
    cross: str | None
    cross_data: str | None
    debug: bool


def _add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("inputs and output")
    g.add_argument("--run", required=True, help="trained run folder (anonymizer.keras + run.json)")
    g.add_argument("--data", required=True, help="dataset folder the run was trained on (HAPT: folder with RawData/)")
    g.add_argument("--out", required=True, help="bundle folder to write (replaced atomically if the gate passes)")
    g.add_argument("--signing-key", metavar="FILE", default=os.environ.get("AAE_SIGNING_KEY") or None,
                   help="Ed25519 private key (PEM) to sign the manifest with (default $AAE_SIGNING_KEY; aae keygen)")
    g.add_argument("--force", action="store_true",
                   help="let an ungated or unsigned bundle replace the bundle in --out")
    c = p.add_argument_group("conversion")
    c.add_argument("--io", choices=("float", "int8"), default="float",
                   help="I/O of the runtime's int8 model: float32 around the int8 graph (default: (de)quantized "
                   "inside the model, the runtime only normalizes) or int8 (the runtime quantizes)")
    c.add_argument("--representative", type=int, default=300, help="calibration windows from the training split")
    c.add_argument("--opset", type=int, default=17, help="ONNX opset")
    r = p.add_argument_group("release gate")
    r.add_argument("--skip-gate", action="store_true", help="parity checks only; the bundle is marked ungated")
    r.add_argument("--allow-failed", action="store_true",
                   help="write a bundle whose gate failed to --out (not <out>.rejected); never over a bundle without --force")
    r.add_argument("--quick", action="store_true", help="small gate evaluators (smoke test)")
    r.add_argument("--cross", metavar="DATASET", default=None,
                   help="cross-dataset check on a dataset the run never trained on (e.g. sisfall): the int8 release "
                        "must Pareto-dominate the 5 Hz low-pass there (export/cross_gate.py)")
    r.add_argument("--cross-data", metavar="PATH", default=None,
                   help="that dataset's folder (default: resolved from --data's parent, e.g. ../shared/datasets)")
    r.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a gate limit (activity_f1_points, activity_retrained_f1_points, identity_points, "
        "float_tflite_max_abs, onnx_max_abs, int8_mse; none = report only)",
    )
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")


def build_parser(subparsers: Any = None) -> argparse.ArgumentParser:
    """The ``export`` subcommand on ``aae``'s subparsers, or a standalone parser when None."""
    if subparsers is None:
        p = argparse.ArgumentParser(
            prog="aae export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
    else:
        p = subparsers.add_parser(
            "export",
            help="int8/float TFLite + ONNX bundle with manifest and release gate",
            description=__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    _add_arguments(p)
    return p


def _limits(items: list[str]) -> Any:
    from .convert import ExportError
    from .gate import DEFAULT_LIMITS

    known = {f.name for f in fields(DEFAULT_LIMITS)}
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or key not in known:
            raise ExportError(f"--limit expects NAME=VALUE with NAME one of {', '.join(sorted(known))}, got {item!r}")
        try:
            values[key] = None if raw.strip().lower() == "none" else float(raw)
        except ValueError as exc:
            raise ExportError(f"--limit {key}: {raw!r} is not a number") from exc
    return replace(DEFAULT_LIMITS, **values)


def export_run(
    run_dir: str | Path,
    data_root: str | Path,
    out: str | Path,
    *,
    io: str = "float",
    skip_gate: bool = False,
    eval_cfg: Any = None,
    limits: Any = None,
    n_representative: int = 300,
    opset: int = 17,
    signing_key: str | Path | None = None,
    allow_failed: bool = False,
    force: bool = False,
    cross: str | None = None,
    cross_data: str | Path | None = None,
    log: Any = print,
) -> tuple[Any, Any]:
    """Convert ``run_dir``, gate it on ``data_root``, write the bundle. Returns ``(Manifest, GateResult)``;
    ``Manifest.root`` is where it landed (``out``, or ``<out>.rejected`` for a failed gate).

    Raises:
        CheckpointError, DatasetError: run or data unusable. ExportError: a refused ``out`` (before
        any work), conversion or bundle failure. ConfigError: an unusable signing key.
    """
    from edge_runtime.signing import load_private_key
    from trainer.checkpoint import load_run
    from trainer.errors import DatasetError

    from .bundle import write_bundle
    from .calibration import representative_windows
    from .convert import convert_all
    from .gate import DEFAULT_LIMITS, eval_data, run_gate
    from .install import plan

    allow_ungated = skip_gate or allow_failed
    key = load_private_key(signing_key) if signing_key else None
    plan(out, allow_ungated=allow_ungated, force=force, signed=key is not None)  # before minutes of work
    if key is None:
        log("no --signing-key: the bundle will be unsigned (the gateway refuses it unless --allow-unsigned)")
    if not Path(data_root).exists():
        raise DatasetError(f"dataset folder {data_root} does not exist")
    run = load_run(run_dir)
    ws, splits = eval_data(run, data_root)
    rep = representative_windows(
        ws.x, splits.ae_train, run.norm, n=n_representative, seed=int(run.config.get("seed", 0))
    )
    log(f"converting {run.root} ({len(rep)} calibration windows, io={io})")
    conv = convert_all(run.model, rep, io=io, opset=opset)
    log(
        f"int8 {len(conv.int8_tflite)} B, float {len(conv.float_tflite)} B, onnx {len(conv.onnx)} B "
        f"({conv.versions.get('onnx_converted_via')}); running the release gate"
        + (" (parity only)" if skip_gate else "")
    )
    target = None if cross is None or skip_gate else (cross, _cross_windows(run, cross, cross_data or data_root))
    gate = run_gate(
        run.model, conv, run.norm, ws, splits, cfg=eval_cfg, limits=limits or DEFAULT_LIMITS, skip_evaluation=skip_gate,
        cross=target, meta=run.meta,
    )
    manifest = write_bundle(out, conv, run, gate, signing_key=key, allow_ungated=allow_ungated, force=force)
    return manifest, gate


def _cross_windows(run: Any, name: str, data: str | Path) -> Any:
    """The cross-check dataset's windows, cut like the run's evaluation windows; refused if the run trained on it."""
    from trainer.checkpoint import run_datasets
    from trainer.data import load_windows
    from trainer.errors import DatasetError

    conf = run.config
    if name in run_datasets(conf):
        raise DatasetError(f"--cross {name}: the run trained on {name}; the cross-dataset check needs a dataset it never saw")
    root = Path(data)
    if not (root / name).exists() and (root.parent / name).exists():
        root = root.parent  # --data ../shared/datasets/uci-hapt -> ../shared/datasets/sisfall
    spec = run.spec.with_stride(max(int(conf.get("eval_stride", 32)), 64))
    return load_windows(name, root, spec, taxonomy=conf.get("taxonomy") or None)


def run(args: argparse.Namespace) -> int:
    """Run the parsed ``export`` command; returns the exit code (see the module docstring)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    debug = bool(getattr(args, "debug", False))
    try:
        from edge_runtime.errors import EdgeError
        from trainer.errors import TrainerError

        from .convert import ExportError
    except ImportError as exc:  # the export extra is missing
        print(f"aae export: error: {exc}; install with: pip install 'edge-anonymize[export]'", file=sys.stderr)
        return 2
    try:
        cfg = None
        if args.quick:
            from trainer.evaluators import EvalConfig

            cfg = EvalConfig.quick()
        manifest, gate = export_run(
            args.run,
            args.data,
            args.out,
            io=args.io,
            skip_gate=args.skip_gate,
            eval_cfg=cfg,
            limits=_limits(args.limit),
            n_representative=args.representative,
            opset=args.opset,
            signing_key=args.signing_key,
            allow_failed=args.allow_failed,
            force=args.force,
            cross=args.cross,
            cross_data=args.cross_data,
            log=lambda s: print(f"aae export: {s}", flush=True),
        )
    except (ExportError, TrainerError, EdgeError, OSError) as exc:
        if debug:
            raise
        print(f"aae export: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2
    where = manifest.root
    signed = f", signed by key {manifest.signed_by}" if manifest.signed_by else ", unsigned"
    if gate.failed:
        kept = "" if Path(where) == Path(args.out) else f"; {args.out} left unchanged"
        print(f"aae export: {gate.summary()}; bundle written to {where} with gate.passed=false{kept}", file=sys.stderr)
        return 1
    print(f"aae export: {gate.summary()}; bundle {where} ({manifest.model_version}{signed})")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv, namespace=Args()))


if __name__ == "__main__":
    sys.exit(main())
