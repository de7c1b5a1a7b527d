"""``imu-emulator``: replay a recording as wire-protocol frames onto a pty, a TCP socket or a file.

imu-emulator --synthetic 60                       # prints the pty path, e.g. /dev/pts/7
imu-emulator --hapt ../shared/datasets/uci-hapt --exp 1 --speed 4 --drop 0.01 --seed 3
imu-emulator --synthetic 600 --speed 0 --out walk.imu
imu-emulator --synthetic 60 --tcp 0               # prints tcp://127.0.0.1:PORT
imu-emulator --generated --schedule walk:30,sit:20 --out gen.imu   (the shipped generator; docs/generator.md)

Exit codes: 0 done, 1 error (unreadable recording, port in use; one line, --debug for the
traceback), 2 usage (bad option, e.g. --tcp 99999; a bad --generated file or --schedule).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import signal
import socket
import sys
import threading
from dataclasses import asdict
from types import FrameType

from . import recording
from .emulator import Emulator, EmulatorStats, Faults, PtyLink

__all__ = ["main", "build_parser"]


class Args(argparse.Namespace):
    hapt: str | None
    exp: int
    synthetic: float | None
    generated: str | None
    schedule: str
    temperature: float
    pty: bool
    tcp: int | None
    out: str | None
    speed: float
    samples_per_frame: int
    hello_every: float
    loop: bool
    linger: float
    debug: bool
    seed: int
    drop: float
    corrupt: float
    garbage: float
    duplicate: float
    reorder: float
    jitter: float
    stall_after: int | None
    stall: float
    disconnect_after: int | None
    clock_jump_at: int | None
    clock_jump_us: int
    hello_rate: float | None


def _version() -> str:
    try:
        return importlib.metadata.version("edge-anonymize")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed; run from a checkout)"


def _tcp_port(text: str) -> int:
    """argparse type: a TCP port 0..65535 (0 = any free one), so a typo is a usage error, not a traceback."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535 (0 = a free port), got {port}")
    return port


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="imu-emulator", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    src = p.add_argument_group("source (one of)")
    src.add_argument("--hapt", metavar="DIR", help="UCI HAPT folder (or its RawData folder)")
    src.add_argument("--exp", type=int, default=1, help="HAPT experiment number (default 1)")
    src.add_argument("--synthetic", type=float, metavar="SECONDS", help="deterministic synthetic walk")
    src.add_argument("--generated", metavar="MODEL", nargs="?", const="shipped",
                     help="generator.npz (default: the shipped one): sample motion (seeded by --seed)")
    src.add_argument("--schedule", default="walk:60", help="with --generated: ACTIVITY[@DATASET]:SECONDS,...")
    src.add_argument("--temperature", type=float, default=1.0, help="with --generated: sampling temperature (0, 2]")
    out = p.add_argument_group("output (default --pty)")
    out.add_argument("--pty", action="store_true", help="create a pseudo-terminal and print its path")
    out.add_argument("--tcp", type=_tcp_port, metavar="PORT", help="serve one client on 127.0.0.1:PORT (0 = free port)")
    out.add_argument("--out", metavar="FILE", help="write the byte stream to a .imu file")
    run = p.add_argument_group("replay")
    run.add_argument("--speed", type=float, default=1.0, help="x real time; 0 = as fast as possible")
    run.add_argument("--samples-per-frame", type=int, default=5, help="1..32 (default 5)")
    run.add_argument("--hello-every", type=float, default=5.0, metavar="S", help="HELLO period [s]")
    run.add_argument("--loop", action="store_true", help="repeat the recording forever")
    run.add_argument("--linger", type=float, default=5.0, metavar="S", help="pty: wait up to S for the reader to drain")
    run.add_argument("--debug", action="store_true", help="show tracebacks")
    f = p.add_argument_group("faults (seeded)")
    f.add_argument("--seed", type=int, default=0)
    for name, what in (("drop", "drop a frame"), ("corrupt", "replace one byte of a frame"),
                       ("garbage", "random burst before a frame"), ("duplicate", "send a frame twice"),
                       ("reorder", "swap a frame with the next")):  # fmt: skip
        f.add_argument(f"--{name}", type=float, default=0.0, metavar="P", help=f"probability per frame: {what}")
    f.add_argument("--jitter", type=float, default=0.0, metavar="S", help="uniform send delay up to S")
    f.add_argument("--stall-after", type=int, metavar="N", help="pause after N frames ...")
    f.add_argument("--stall", type=float, default=0.0, metavar="S", help="... for S seconds (wall time)")
    f.add_argument("--disconnect-after", type=int, metavar="N", help="close the link after N frames")
    f.add_argument("--clock-jump-at", type=int, metavar="N", help="device clock jumps at frame N ...")
    f.add_argument("--clock-jump-us", type=int, default=1_000_000, metavar="US", help="... by US microseconds")
    f.add_argument("--hello-rate", type=float, metavar="HZ", help="announce this rate in HELLO (wrong-rate fault)")
    return p


def _emulator(args: Args) -> Emulator:
    if sum(x is not None for x in (args.hapt, args.synthetic, args.generated)) != 1:
        raise ValueError("give exactly one source: --hapt DIR, --synthetic SECONDS or --generated MODEL")
    if args.generated:
        from .generated import SHIPPED, generated_recording  # numpy only here: the other sources stay stdlib-only

        model = SHIPPED if args.generated == "shipped" else args.generated
        rec = generated_recording(model, args.schedule, seed=args.seed, temperature=args.temperature)
    else:
        rec = recording.load_hapt(args.hapt, args.exp) if args.hapt else recording.synthetic(args.synthetic or 0.0)
    faults = Faults(seed=args.seed, drop=args.drop, corrupt=args.corrupt, garbage=args.garbage,
                    duplicate=args.duplicate, reorder=args.reorder, jitter_s=args.jitter,
                    stall_after=args.stall_after, stall_s=args.stall, disconnect_after=args.disconnect_after,
                    clock_jump_at=args.clock_jump_at, clock_jump_us=args.clock_jump_us,
                    hello_rate_hz=args.hello_rate)  # fmt: skip
    return Emulator(rec, faults, samples_per_frame=args.samples_per_frame, hello_every_s=args.hello_every,
                    loop=args.loop)  # fmt: skip


def _serve(emu: Emulator, args: Args, stop: threading.Event) -> EmulatorStats:
    if args.out:
        with open(args.out, "wb") as fh:
            return emu.run(fh.write, speed=0.0, stop=stop)
    if args.tcp is not None:
        with socket.create_server(("127.0.0.1", args.tcp)) as server:
            print(f"tcp://127.0.0.1:{server.getsockname()[1]}", flush=True)
            server.settimeout(0.2)
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                    break
                except TimeoutError:
                    continue
            else:
                return emu.stats
            with conn:
                try:
                    return emu.run(conn.sendall, speed=args.speed, stop=stop)
                except (BrokenPipeError, ConnectionResetError):
                    print("imu-emulator: client closed the connection", file=sys.stderr)
                    return emu.stats
    with PtyLink() as link:
        print(link.path, flush=True)
        stats = emu.run_pty(link, speed=args.speed, stop=stop)
        if not stats.disconnected and not stop.is_set():
            link.drain(args.linger)
        return stats


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv, namespace=Args())
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if sum((args.pty, args.tcp is not None, args.out is not None)) > 1:
            raise ValueError("give at most one output: --pty, --tcp PORT or --out FILE")
        stats = _serve(_emulator(args), args, stop)
    except (OSError, ValueError) as exc:
        if args.debug:
            raise
        print(f"imu-emulator: error: {exc}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 1))
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    counters = ", ".join(f"{k}={v}" for k, v in asdict(stats).items() if v)
    print(f"imu-emulator: done: {counters}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
