"""``aae generate`` — train the SenseGen-style motion generator and measure its quality and privacy.

    aae generate train --data ../shared/datasets --out runs/gen            (HAPT + SisFall, ~15 min on 2 cores)
    aae generate train --data ../shared/datasets/uci-hapt --out /tmp/g --quick   (smoke: < 1 min)
    aae generate evaluate --model runs/gen/generator.npz --data ../shared/datasets --out runs/gen/eval
    imu-emulator --generated runs/gen/generator.npz --schedule walk:30,sit:20,stairs:30 --out gen.imu

Errors print one line and exit 2 (``aae --debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .errors import TrainerError

__all__ = ["build_parser", "run"]


def _temperature(text: str) -> float:
    """argparse type: a number that ``firmware_bridge.generated.check_temperature`` accepts."""
    from firmware_bridge.generated import GeneratedError, check_temperature

    try:
        return check_temperature(float(text))
    except ValueError as exc:  # GeneratedError is one
        raise argparse.ArgumentTypeError(str(exc) if isinstance(exc, GeneratedError) else f"{text!r} is not a number") from None


def _overrides(items: list[str]) -> dict[str, Any]:
    import tomllib

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise TrainerError(f"--set expects key=value, got {item!r}")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        out[key.strip()] = tuple(value) if isinstance(value, list) else value
    return out


def build_parser(subparsers: Any) -> argparse.ArgumentParser:
    """The ``generate`` subcommand (with ``train`` and ``evaluate``) on ``aae``'s subparsers."""
    p: argparse.ArgumentParser = subparsers.add_parser("generate", help="synthetic motion generator (LSTM + MDN): train | evaluate",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="gen_command", required=True)
    t = sub.add_parser("train", help="train on HAPT/SisFall (a third of the people held out), export generator.npz")
    t.add_argument("--data", required=True, help="parent folder of the dataset roots (or one dataset's root)")
    t.add_argument("--out", required=True, help="run folder: checkpoints/, generator.npz, generator.json")
    t.add_argument("--datasets", default=None, help="comma separated (default hapt,sisfall; --quick: hapt)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--minutes", type=float, default=None, help="wall-clock budget (default 15)")
    t.add_argument("--quick", action="store_true", help="tiny model, 4 HAPT people, 2 epochs (smoke test)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a GenConfig field")
    e = sub.add_parser("evaluate", help="discriminator, TSTR vs TRTR, spectra, identity and nearest-neighbour tests")
    e.add_argument("--model", required=True, help="generator.npz")
    e.add_argument("--data", required=True, help="the data it was trained on (same --data as train)")
    e.add_argument("--out", default=None, help="report folder (default: next to the model, eval/)")
    e.add_argument("--quick", action="store_true", help="small evaluators (smoke test)")
    e.add_argument("--temperature", type=_temperature, default=1.0,
                   help="sampling temperature: sigmas x T, weights sharpened (default 1; < 1 = less noise)")
    return p


def run(args: Any) -> int:
    if args.gen_command == "train":
        return _train(args)
    return _evaluate(args)


def _train(args: Any) -> int:
    from .generator import GenConfig, load_data, with_overrides
    from .generator_fit import train_generator

    if not Path(args.data).exists():
        raise TrainerError(f"dataset folder {args.data} does not exist")
    cfg = GenConfig.quick_config() if args.quick else GenConfig()
    kw = _overrides(args.set)
    if args.datasets:
        kw["datasets"] = tuple(d.strip() for d in args.datasets.split(",") if d.strip())
    if args.minutes is not None:
        kw["minutes"] = args.minutes
    cfg = with_overrides(cfg, seed=args.seed, **kw)
    print(f"generate: loading {', '.join(cfg.datasets)} from {args.data}", flush=True)
    gd = load_data(args.data, cfg)
    path = train_generator(gd, cfg, args.out, log=lambda line: print(line, flush=True))
    print(f"aae generate: {path}")
    return 0


def _evaluate(args: Any) -> int:
    from firmware_bridge.generated import GeneratedError, load_generator

    from .generator_eval import evaluate

    try:
        gen = load_generator(args.model)
    except GeneratedError as exc:
        raise TrainerError(str(exc)) from None
    out = Path(args.out) if args.out else Path(args.model).parent / "eval"
    report = evaluate(gen, args.model, args.data, out, quick=args.quick, temperature=args.temperature, log=lambda s: print(s, file=sys.stderr, flush=True))
    print(f"aae generate: report {out / 'report.md'}; discriminator {report['discriminator']['accuracy']} % "
          f"(target <= 60), TSTR F1 {report['tstr']['tstr_f1']} vs TRTR {report['tstr']['trtr_f1']}")  # fmt: skip
    return 0
