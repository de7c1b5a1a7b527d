"""Measure decoder fuzz rates and the CRC-32 false-accept count (prints numbers; not a test).

    python -m tests.firmware_bridge.measure_decoders [--seconds 5] [--bodies 2000000]

Same input mix as firmware/fuzz_decoder.c: 1/3 random bytes, 2/3 mutated valid frame streams.
"""

from __future__ import annotations

import argparse
import random
import struct
import subprocess
import time

from firmware_bridge import native
from firmware_bridge.crc import crc32
from firmware_bridge.protocol import FrameDecoder, FrameError, Samples, decode_body, encode_frame


def inputs(rng: random.Random, count: int) -> list[bytes]:
    out = []
    for _ in range(count):
        if rng.random() < 1 / 3:
            out.append(bytes(0 if rng.random() < 1 / 16 else rng.randrange(256) for _ in range(rng.randrange(1200))))
            continue
        wire = bytearray()
        for _ in range(rng.randint(1, 4)):
            n = rng.randint(1, 32)
            counts = [[rng.randint(-32768, 32767) for _ in range(6)] for _ in range(n)]
            wire += encode_frame(Samples.from_counts(rng.getrandbits(32), rng.getrandbits(32), counts))
        for _ in range(rng.randint(1, 8)):
            wire[rng.randrange(len(wire))] = rng.randrange(256)
        out.append(bytes(wire))
    return out


def rate(decoder: FrameDecoder | native.NativeDecoder, data: list[bytes], seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for chunk in data:
            decoder.feed(chunk)
        done += len(data)
    return done / (time.perf_counter() - start)


def false_accepts(bodies: int, rng: random.Random) -> int:
    accepted = 0
    for _ in range(bodies):
        plen = 12 * rng.randint(1, 32)
        body = struct.pack("<BBH", 1, 2, plen) + rng.randbytes(8 + plen + 4)
        try:
            decode_body(body)
            accepted += 1
        except FrameError:
            pass
    return accepted


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--bodies", type=int, default=2_000_000)
    args = parser.parse_args()
    rng = random.Random(1)
    data = inputs(rng, 2000)
    print(f"python FrameDecoder: {rate(FrameDecoder(), data, args.seconds):,.0f} inputs/s")
    lib = native.build_library()
    print(f"C decoder via ctypes: {rate(native.NativeDecoder(lib), data, args.seconds):,.0f} inputs/s")
    proc = subprocess.run(["make", "-s", "-C", str(native.FIRMWARE_DIR), "fuzz", f"FUZZ_SECONDS={args.seconds}",
                           "FUZZ_BODIES=4000000"], capture_output=True, text=True, check=False)  # fmt: skip
    print("C fuzz_decoder (ASan+UBSan):", proc.stdout.strip().replace("\n", "\n  "))
    start = time.perf_counter()
    n = false_accepts(args.bodies, rng)
    print(
        f"python false accepts: {n} of {args.bodies:,} random well-formed bodies ({time.perf_counter() - start:.1f} s)"
    )
    assert crc32(b"123456789") == 0xCBF43926


if __name__ == "__main__":
    main()
