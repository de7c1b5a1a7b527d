"""``edge-anonymize-consume URL``: a gateway's MQTT windows as JSON lines, in order, each once.

    edge-anonymize-consume 'mqtt://127.0.0.1:1883/imu/windows?client_id=app1' --start earliest
    edge-anonymize-consume 'mqtt://broker/site/+/+/windows?partition=0/3&state=/var/lib/app'  # 1 of 3, a fleet

One record per line on stdout (``seq``/``epoch``/``topic`` included); at exit one counter line on stderr.
Exit codes: 0 done (SIGINT/SIGTERM, ``--count`` reached, or ``--idle`` s without a window),
2 bad URL or option.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from dataclasses import asdict
from types import FrameType

from ..errors import SinkError
from .client import Consumer

__all__ = ["main"]


class Args(argparse.Namespace):
    url: str
    start: str | None
    count: int
    idle: float


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge-anonymize-consume", description=__doc__.split("\n\n")[0])
    p.add_argument("url", help="mqtt[s]://[user:pass@]host[:port]/topic-or-filter"
                   "[?client_id=ID&partition=K/N&state=DIR...]")  # fmt: skip
    p.add_argument("--start", choices=("latest", "earliest"), default=None,
                   help="latest (default): from now; earliest: everything the gateway's spool still holds")  # fmt: skip
    p.add_argument("--count", type=int, default=0, help="exit after this many windows (0: run until stopped)")
    p.add_argument("--idle", type=float, default=0.0, help="exit after this many seconds without a window (0: never)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv, namespace=Args())
    try:
        consumer = Consumer.from_url(args.url, start=args.start)
    except SinkError as exc:
        print(f"edge-anonymize-consume: {exc}", file=sys.stderr)
        return 2
    stop = False

    def _stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    last, delivered = time.monotonic(), 0
    try:
        while not stop:
            for record in consumer.poll():
                sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
                last = time.monotonic()
                delivered += 1
                if args.count and delivered >= args.count:
                    stop = True
            sys.stdout.flush()
            if args.idle and time.monotonic() - last > args.idle:
                break
    except BrokenPipeError:  # `| head`: the reader left
        pass
    finally:
        consumer.close()
        print(" ".join(f"{k}={v}" for k, v in asdict(consumer.stats).items()), file=sys.stderr)
    return 0
