"""``edge-anonymize``: wire frames in, anonymized windows out; raw samples never leave the process.

    edge-anonymize --port /dev/ttyUSB0                     # default sink: unix socket, JSON lines
    edge-anonymize --ble AA:BB:CC:DD:EE:FF --sink mqtt://127.0.0.1/imu/windows?qos=1
    edge-anonymize --replay walk.imu --speed 0 --sink file:///tmp/windows.jsonl
    edge-anonymize --demo                                   # bundled model + sample trace -> stdout
    edge-anonymize --config gateway.toml                    # [[streams]]: many streams, docs/gateway.md
    edge-anonymize list-ports

Exit codes: 0 ok (also after SIGTERM/SIGINT), 2 usage/config, 3 bundle/model, 4 source (also a
replay file that is empty or holds no valid frame), 5 stream does not match the model, 6 sink.
Errors are one line; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

__all__ = ["Args", "build_parser", "version", "DEFAULT_BUNDLE", "ESTIMATOR_BUNDLE", "SAMPLE_TRACE"]

BUNDLED = Path(__file__).resolve().parent / "bundled"
DEFAULT_BUNDLE = BUNDLED / "hapt-magnitude"
ESTIMATOR_BUNDLE = BUNDLED / "activity"  # the on-device activity estimator a bundle set may include (views.py)
SAMPLE_TRACE = BUNDLED / "sample.imu"


class Args(argparse.Namespace):
    port: str | None
    ble: str | None
    replay: str | None
    tcp: str | None
    source: str | None
    demo: bool
    speed: float | None
    bundle: str | None
    sink: list[str] | None
    stride: int | None
    config: str | None
    allow_ungated: bool
    trusted_key: list[str] | None
    allow_unsigned: bool
    watch_bundle: float | None
    status_interval: float | None
    metrics_file: str | None
    wait: bool
    debug: bool


def version() -> str:
    """The installed distribution's version (``--version`` of all three CLIs)."""
    import importlib.metadata  # 3 MB of RSS: only when asked

    try:
        return importlib.metadata.version("edge-anonymize")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed; run from a checkout)"


def _nonneg_float(text: str) -> float:
    """argparse type: a finite number >= 0, so ``--speed -1`` is a usage error (exit 2)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


class _Version(argparse.Action):
    """``--version``, looked up only when given (the lookup costs 3 MB of RSS in every gateway otherwise)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kw: Any) -> None:
        super().__init__(option_strings, dest=dest, nargs=0, default=argparse.SUPPRESS, **kw)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"{parser.prog} {version()}")  # stdout, like argparse's own version action
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge-anonymize", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--version", action=_Version, help="show the version and exit")
    src = p.add_argument_group("source (one of)").add_mutually_exclusive_group()
    src.add_argument("--port", metavar="DEV", help="serial port, e.g. /dev/ttyUSB0 or /dev/imu0 (or a source URL)")
    src.add_argument("--ble", metavar="ADDR", help="BLE device address (needs the [ble] extra)")
    src.add_argument("--replay", metavar="FILE", help="a recorded .imu byte stream")
    src.add_argument("--tcp", metavar="HOST:PORT", help="frames over TCP, e.g. imu-emulator --tcp")
    src.add_argument("--source", metavar="URL", help="any source URL (serial:// ble:// replay:// tcp://)")
    src.add_argument("--demo", action="store_true", help="bundled model on the bundled sample trace, JSON to stdout")
    p.add_argument("--speed", type=_nonneg_float, help="replay/demo speed, x real time; 0 = as fast as possible")
    run = p.add_argument_group("model and output")
    run.add_argument("--bundle", metavar="DIR", help=f"model bundle (default {DEFAULT_BUNDLE})")
    run.add_argument("--sink", action="append", metavar="URL",
                     help="repeatable: unix:// udp:// stdout:// file:// mqtt:// (default: unix socket)")  # fmt: skip
    run.add_argument("--stride", type=_nonneg_int, metavar="N",
                     help="samples between windows, 1..window length (default/0: the manifest's)")  # fmt: skip
    run.add_argument("--allow-ungated", action="store_true", help="run a model that did not pass its release gate")
    run.add_argument("--trusted-key", action="append", metavar="FILE",
                     help="repeatable: also trust bundles signed by this Ed25519 .pub (or folder of them)")  # fmt: skip
    run.add_argument("--allow-unsigned", action="store_true", help="run a bundle whose signature is missing or wrong")
    run.add_argument(
        "--watch-bundle",
        type=_nonneg_float,
        metavar="S",
        help="hot-swap the bundle when its files change, checked every S seconds (SIGHUP always reloads)",
    )
    ops = p.add_argument_group("operation")
    ops.add_argument("--config", metavar="FILE", help="TOML config (see deploy/config.toml)")
    ops.add_argument("--status-interval", type=_nonneg_float, metavar="S",
                     help="status line period [s]; 0 = no periodic line, only the summary at exit")  # fmt: skip
    ops.add_argument("--metrics-file", metavar="FILE", help="write counters as JSON (atomically) at each status")
    ops.add_argument("--wait", action="store_true", help="keep retrying if the device is absent at start")
    ops.add_argument("--debug", action="store_true", help="debug logging and tracebacks")
    return p
