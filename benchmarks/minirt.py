"""A stand-in gateway for the end-to-end benchmark while ``edge_runtime.cli`` is not there.

    python -m benchmarks.minirt --port /dev/pts/N --work DIR --model F.tflite --sink udp://127.0.0.1:P

Same stages as the runtime, built from the shared pieces: ``FrameDecoder`` -> counts x HELLO scales
-> ``contract.to_view`` -> sliding windows (``WindowSpec`` from ``DIR/norm.json``) -> the
per-window pipeline of ``benchmarks.latency`` -> one JSON datagram per ``AnonymizedWindow``. A
sequence gap restarts the window. Never imports TensorFlow. SIGTERM ends it.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import sys
import termios
import tty
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import numpy as np

from edge_runtime.contract import WindowSpec, to_view
from edge_runtime.normalizer import Normalization
from firmware_bridge.protocol import FrameDecoder, Hello, Samples

from .latency import make_pipeline, open_runner

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.minirt", description=__doc__.splitlines()[0])
    p.add_argument("--port", required=True)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--sink", required=True, help="udp://HOST:PORT")
    a = p.parse_args(argv)
    meta = json.loads((a.work / "norm.json").read_text(encoding="utf-8"))
    spec = WindowSpec(float(meta["rate_hz"]), int(meta["length"]), int(meta["stride"]), str(meta["view"]))
    norm = Normalization.from_dict(meta["normalization"])
    fn, _ = make_pipeline(open_runner(a.model), norm, "ours", spec.rate_hz, spec.channels, spec.units)
    url = urlsplit(a.sink)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dest = (url.hostname or "127.0.0.1", int(url.port or 9870))

    stop = False

    def on_term(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    fd = os.open(a.port, os.O_RDONLY | os.O_NOCTTY)
    if os.isatty(fd):
        tty.setraw(fd, termios.TCSANOW)
    dec = FrameDecoder()
    scales: tuple[float, float] | None = None
    pending = np.empty((0, len(spec.channels)), np.float32)
    start = next_seq = -1
    while not stop:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 1 << 16)
        except OSError:
            break
        if not chunk:
            break
        for frame in dec.feed(chunk):
            if isinstance(frame, Hello):
                scales = (frame.acc_scale, frame.gyro_scale)
                continue
            if not isinstance(frame, Samples) or scales is None:
                continue
            if frame.seq != next_seq:  # gap (or first frame): restart the window here
                pending, start = pending[:0], frame.seq
            next_seq = frame.seq + frame.n
            x = np.frombuffer(frame.payload, "<i2").reshape(-1, 6).astype(np.float32)
            x[:, :3] *= scales[0]
            x[:, 3:] *= scales[1]
            pending = np.concatenate([pending, to_view(x, spec.view)])
            while len(pending) >= spec.length:
                w = fn(pending[: spec.length])
                rec = w.to_dict() | {"start_sample": start, "stream": "bench"}
                sock.sendto(json.dumps(rec, separators=(",", ":")).encode(), dest)
                pending, start = pending[spec.stride :], start + spec.stride
    os.close(fd)
    sock.close()
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
