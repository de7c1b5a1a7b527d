"""``aae`` — train, evaluate and export the anonymizer.

    aae train --config trainer/configs/hapt.toml --data ../shared/datasets/uci-hapt --out runs/hapt
    aae evaluate --run runs/hapt --data ../shared/datasets/uci-hapt
    aae evaluate --run runs/hapt --data ../shared/datasets --cross sisfall     (attack suite, other people)
    aae evaluate --baselines-only --data ../shared/datasets --cross sisfall --out reports/
    aae export --run runs/hapt --data ../shared/datasets/uci-hapt --out bundle/ --signing-key KEY
    aae generate train --data ../shared/datasets --out runs/gen   (synthetic motion generator; docs/generator.md)
    aae keygen ~/.config/aae/signing.key      (Ed25519 pair to sign bundles with; needs no TensorFlow)
    aae grid --config trainer/configs/hapt.toml --data ../shared/datasets/uci-hapt --out runs/grid \
        --axis beta_id=0.5,1 --axis beta_dist=0.5,1.5 --cross sisfall   (one gated bundle per point; frontier)
    aae estimator --data ../shared/datasets --out bundle-activity/ --signing-key KEY   (on-device activity estimate)

Every trainer error prints one line and exits 2, also a command whose extra is not installed
(``aae train`` in an edge-only install: "pip install 'edge-anonymize[train]'"); ``--debug`` shows
the traceback.
"""

from __future__ import annotations

import argparse
import importlib.util
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
    eval_data: list[str]
    cross: str | None
    baselines_only: bool
    taxonomy: str | None
    stride: int | None


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


# command -> (extra, modules it cannot run without): checked before any data is loaded
_NEEDS = {"train": ("train", ("tensorflow", "keras")), "evaluate": ("train", ("tensorflow", "keras", "aeon", "sklearn")),
          "export": ("export", ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime")),
          "estimator": ("train", ("tensorflow", "keras")), "generate": ("train", ("tensorflow", "keras")),
          "grid": ("export", ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "aeon", "sklearn"))}  # fmt: skip


def _missing(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):  # a blocked or half-installed module
        return True


def _preflight(args: Args) -> None:
    """The one-line errors a newcomer hits first: a missing extra, a config file that is not text."""
    extra, modules = _NEEDS.get(args.command, ("", ()))
    for name in modules:
        if _missing(name):
            raise TrainerError(f"aae {args.command} needs the [{extra}] extra (no module named {name!r}): "
                               f"pip install 'edge-anonymize[{extra}]' (from a checkout: pip install '.[{extra}]')")  # fmt: skip
    config = getattr(args, "config", None)
    if config is not None:
        try:
            Path(config).read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TrainerError(f"config file {config} is not UTF-8 text (byte {exc.start}): not a TOML file?") from None
        except OSError:
            pass  # load_config names a missing or unreadable file


def build_parser() -> argparse.ArgumentParser:
    from edge_runtime.cli_args import version

    p = argparse.ArgumentParser(prog="aae", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train an anonymizer (paper Fig. 6 + adaptive attackers)")
    t.add_argument("--config", help="TOML file with overrides of trainer/config.py defaults")
    t.add_argument("--data", required=True, help="dataset folder (HAPT: the folder holding RawData/)")
    t.add_argument("--out", required=True, help="run folder to write")
    t.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config key")
    e = sub.add_parser("evaluate", help="raw vs anonymized: activity F1, identity (raw-trained and retrained attackers); "
                       "--cross DATASET: the attack suite on other datasets' people")
    e.add_argument("--run", default=None, help="run folder (not with --baselines-only)")
    e.add_argument("--data", dest="eval_data", action="append", default=[], metavar="DIR|NAME=DIR",
                   help="dataset root, a parent folder of the roots, or NAME=DIR (repeatable)")
    e.add_argument("--out", default=None, help="report folder (default <run>/eval, or <run>/eval-cross-NAME with --cross)")
    e.add_argument("--quick", action="store_true", help="small evaluators (smoke test)")
    e.add_argument("--activity-seeds", type=int, default=None, metavar="N",
                   help="activity classifiers per release; F1 is their mean (default 3, --quick 1)")
    e.add_argument("--cross", default=None, metavar="DATASET[,DATASET]",
                   help="cross-dataset report per dataset (a dataset the run trained on: its unseen subjects only)")
    e.add_argument("--baselines-only", action="store_true", help="with --cross and --out: only raw, 10/5 Hz, label-only")
    e.add_argument("--taxonomy", choices=("fine", "coarse"), default=None, help="activity labels of --cross targets")
    e.add_argument("--stride", type=int, default=None, help="evaluation window stride (default: the run's, or 64)")
    a = sub.add_parser("estimator", help="train and export the on-device activity estimator (runtime views: label, "
                       "delete, switch); needs the [train] and [export] extras")
    a.add_argument("--data", required=True, help="parent folder of the dataset roots (or NAME=DIR, repeatable)",
                   action="append", dest="eval_data", metavar="DIR|NAME=DIR")
    a.add_argument("--datasets", default="hapt,sisfall", help="datasets to train on, coarse taxonomy (comma separated)")
    a.add_argument("--bundle", default=None, help="anonymizer bundle whose window it must share (default: the shipped one)")
    a.add_argument("--out", required=True, help="bundle folder to write")
    a.add_argument("--signing-key", default=None, help="Ed25519 private key to sign the bundle with")
    a.add_argument("--quick", action="store_true", help="3,000 training windows, 2 epochs (smoke test)")
    try:
        from export.cli import build_parser as build_export

        build_export(sub)
    except ImportError:  # export extra not installed: the subcommand explains itself
        x = sub.add_parser("export", help="needs: pip install 'edge-anonymize[export]'")
        x.add_argument("rest", nargs=argparse.REMAINDER)
    from export.keygen import build_parser as build_keygen  # cryptography only, imported when a key is made

    build_keygen(sub)
    from .gencli import build_parser as build_generate

    build_generate(sub)
    from .grid import build_parser as build_grid

    build_grid(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv, namespace=Args())
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        _preflight(args)
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
        return _evaluate(args)
    if args.command == "estimator":
        return _estimator(args)
    if args.command == "grid":
        from .grid import run as run_grid

        return run_grid(args)
    if args.command == "generate":
        from .gencli import run as run_generate

        return run_generate(args)
    if args.command == "keygen":
        from export.keygen import run as run_keygen

        return int(run_keygen(args))
    if args.command == "export":
        from export.cli import run as run_export

        return int(run_export(args))
    raise TrainerError(f"unknown command {args.command}")


def _estimator(args: Args) -> int:
    from edge_runtime.cli import DEFAULT_BUNDLE
    from edge_runtime.errors import EdgeError
    from edge_runtime.manifest import load
    from edge_runtime.signing import load_private_key
    from export.convert import ExportError
    from export.estimator import export_estimator

    from .crosscli import parse_data
    from .data.catalog import dataset_list
    from .estimator import EstimatorConfig, train_estimator

    try:
        key = load_private_key(args.signing_key) if args.signing_key else None  # a wrong key fails before training
        window = load(args.bundle or DEFAULT_BUNDLE).window
        cfg = EstimatorConfig(datasets=dataset_list([d.strip() for d in args.datasets.split(",") if d.strip()]), **({"max_train": 3000, "epochs": 2} if args.quick else {}))
        trained = train_estimator(parse_data(args.eval_data), window, cfg, log=lambda line: print(line, flush=True))
        m = export_estimator(trained, args.out, signing_key=key, log=lambda line: print(line, flush=True))
    except (EdgeError, ExportError) as exc:
        raise TrainerError(str(exc)) from None
    print(f"aae estimator: {m.model_version} -> {m.root} ({'gate passed' if m.gate_passed else 'gate FAILED'})")
    return 0 if m.gate_passed else 1


def _evaluate(args: Args) -> int:
    from dataclasses import replace

    from .evaluators import EvalConfig

    if args.activity_seeds is not None and args.activity_seeds < 1:
        raise TrainerError(f"--activity-seeds must be >= 1, got {args.activity_seeds}")
    if args.stride is not None and args.stride < 1:
        raise TrainerError(f"--stride must be >= 1, got {args.stride}")
    if args.baselines_only and args.run is not None:
        raise TrainerError("--baselines-only evaluates no run: drop --run")
    if args.run is None and not args.baselines_only:
        raise TrainerError("aae evaluate needs --run RUN (or --baselines-only --cross DATASET --out DIR)")
    if args.cross is None and (args.baselines_only or args.taxonomy or args.stride):
        raise TrainerError("--baselines-only, --taxonomy and --stride go with --cross DATASET")
    if args.cross is None:  # the run's own dataset, as before
        from .crosscli import parse_data
        from .report import run_evaluation

        run_evaluation(args.run, parse_data(args.eval_data), args.out, cfg=EvalConfig.quick() if args.quick else None,
                       activity_seeds=args.activity_seeds)
        return 0
    from .crosscli import cross_evaluate, parse_data, parse_targets, print_summary

    cfg = EvalConfig.quick() if args.quick else EvalConfig()
    if args.activity_seeds is not None:
        cfg = replace(cfg, activity_seeds=args.activity_seeds)
    done = cross_evaluate(data=parse_data(args.eval_data), targets=parse_targets(args.cross), run_dir=args.run,
                          out=args.out, cfg=cfg, taxonomy=args.taxonomy, stride=args.stride,
                          log=lambda line: print(line, file=sys.stderr, flush=True))
    print_summary(done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
