"""``aae`` — train, evaluate and export the anonymizer.

    aae train --config trainer/configs/hapt.toml --data ../shared/datasets/uci-hapt --out runs/hapt
    aae evaluate --run runs/hapt --data ../shared/datasets/uci-hapt
    aae export --run runs/hapt --data ../shared/datasets/uci-hapt --out bundle/

Every trainer error prints one line and exits 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .errors import TrainerError

__all__ = ["main", "build_parser"]


class Args(argparse.Namespace):
    command: str
    debug: bool
    config: str | None
    data: str
    out: str
    run: str
    resume: bool
    set: list[str]
    quick: bool
    activity_seeds: int | None


def _parse_override(item: str) -> tuple[str, object]:
    """``key=value`` with a TOML value (``rounds=3``, ``view="axes"``)."""
    import tomllib

    key, sep, raw = item.partition("=")
    if not sep:
        raise TrainerError(f"--set expects key=value, got {item!r}")
    try:
        return key.strip(), tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return key.strip(), raw  # bare strings


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aae", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train an anonymizer (paper Fig. 6 + adaptive attackers)")
    t.add_argument("--config", help="TOML file with overrides of trainer/config.py defaults")
    t.add_argument("--data", required=True, help="dataset folder (HAPT: the folder holding RawData/)")
    t.add_argument("--out", required=True, help="run folder to write")
    t.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config key")
    e = sub.add_parser("evaluate", help="raw vs anonymized: activity F1, identity (raw-trained and retrained attackers)")
    e.add_argument("--run", required=True)
    e.add_argument("--data", required=True)
    e.add_argument("--out", default=None, help="report folder (default <run>/eval)")
    e.add_argument("--quick", action="store_true", help="small evaluators (smoke test)")
    e.add_argument("--activity-seeds", type=int, default=None, metavar="N",
                   help="activity classifiers per release; F1 is their mean (default 3, --quick 1)")
    try:
        from export.cli import build_parser as build_export

        build_export(sub)
    except ImportError:  # export extra not installed: the subcommand explains itself
        x = sub.add_parser("export", help="needs: pip install 'edge-anonymize[export]'")
        x.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv, namespace=Args())
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return _dispatch(args)
    except TrainerError as exc:
        if args.debug:
            raise
        print(f"aae: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aae: interrupted (resume a training run with --resume)", file=sys.stderr)
        return 130


def _dispatch(args: Args) -> int:
    if args.command == "train":
        from .config import load_config

        overrides = dict(_parse_override(s) for s in args.set)
        cfg = load_config(args.config, **overrides)
        if not Path(args.data).exists():
            raise TrainerError(f"dataset folder {args.data} does not exist")
        from .train import train

        out = train(cfg, args.data, args.out, resume=args.resume, log=lambda s: print(s, flush=True))
        if cfg.evaluate:
            from .report import run_evaluation

            run_evaluation(out, args.data)  # honours the run's eval_quick
        return 0
    if args.command == "evaluate":
        from .evaluators import EvalConfig
        from .report import run_evaluation

        if args.activity_seeds is not None and args.activity_seeds < 1:
            raise TrainerError(f"--activity-seeds must be >= 1, got {args.activity_seeds}")
        run_evaluation(args.run, args.data, args.out, cfg=EvalConfig.quick() if args.quick else None,
                       activity_seeds=args.activity_seeds)
        return 0
    if args.command == "export":
        from export.cli import run as run_export

        return int(run_export(args))
    raise TrainerError(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
