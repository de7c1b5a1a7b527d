"""Recordings as int16 counts, and the canonical frame stream a device would send for them.

Sources: the UCI HAPT RawData layout (acc in g, gyro in rad/s, 50 Hz) and a deterministic
synthetic generator. Values become int16 counts with declared scales (clipped, and counted), so
the gateway recovers SI units as ``counts * scale`` from the HELLO frame.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .protocol import MAX_SAMPLES, Frame, Hello, Samples, encode_frame

__all__ = [
    "G", "ACC_SCALE_16G", "GYRO_SCALE_2000DPS", "Recording", "to_counts", "load_hapt", "synthetic",
    "frames", "hapt_frames", "write_imu",
]  # fmt: skip

G = 9.80665  # m/s² per g
ACC_SCALE_16G = G * 16 / 32768  # m/s² per LSB, ±16 g range
GYRO_SCALE_2000DPS = math.radians(2000) / 32768  # rad/s per LSB, ±2000 dps range
DEFAULT_DEVICE_ID = 0xED6E_0000_0001  # + HAPT user number


@dataclass(frozen=True)
class Recording:
    """Samples as int16 counts, flat ``array('h')`` of ``6 * n`` values (ax ay az gx gy gz).

    Args:
        counts: flat counts. rate_hz: sample rate [Hz].
        acc_scale: [m/s² per LSB]. gyro_scale: [rad/s per LSB].
        clipped: how many values were clipped to the int16 range on conversion.
    """

    counts: array[int]
    rate_hz: float = 50.0
    acc_scale: float = ACC_SCALE_16G
    gyro_scale: float = GYRO_SCALE_2000DPS
    device_id: int = DEFAULT_DEVICE_ID
    clipped: int = 0

    def __len__(self) -> int:
        return len(self.counts) // 6

    def sample(self, i: int) -> tuple[int, ...]:
        return tuple(self.counts[6 * i : 6 * i + 6])


def to_counts(value: float, scale: float) -> tuple[int, bool]:
    """``value / scale`` rounded and clipped to int16; returns ``(count, clipped)``."""
    c = round(value / scale)
    if c > 32767:
        return 32767, True
    if c < -32768:
        return -32768, True
    return c, False


def _read_xyz(path: Path) -> list[tuple[float, float, float]]:
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) != 3:
            raise ValueError(f"{path.name}: expected 3 columns per line")
        rows.append((float(parts[0]), float(parts[1]), float(parts[2])))
    return rows


def load_hapt(
    root: Path | str, exp: int, *, acc_scale: float = ACC_SCALE_16G, gyro_scale: float = GYRO_SCALE_2000DPS
) -> Recording:
    """Experiment ``exp`` of UCI HAPT: ``acc_expEE_userUU.txt`` [g] and ``gyro_expEE_userUU.txt`` [rad/s].

    Args:
        root: the dataset folder or its ``RawData`` folder.
    Raises:
        FileNotFoundError: no such experiment. ValueError: malformed or mismatched files.
    """
    raw = Path(root)
    if (raw / "RawData").is_dir():
        raw = raw / "RawData"
    acc_files = sorted(raw.glob(f"acc_exp{exp:02d}_user*.txt"))
    if len(acc_files) != 1:
        raise FileNotFoundError(f"no single acc_exp{exp:02d}_user*.txt in {raw}")
    gyro_file = acc_files[0].with_name(acc_files[0].name.replace("acc_", "gyro_", 1))
    acc, gyro = _read_xyz(acc_files[0]), _read_xyz(gyro_file)
    if len(acc) != len(gyro):
        raise ValueError(f"experiment {exp}: acc has {len(acc)} rows, gyro {len(gyro)}")
    counts: array[int] = array("h")
    clipped = 0
    for a, g in zip(acc, gyro, strict=True):
        for value, scale in ((a[0] * G, acc_scale), (a[1] * G, acc_scale), (a[2] * G, acc_scale),
                             (g[0], gyro_scale), (g[1], gyro_scale), (g[2], gyro_scale)):  # fmt: skip
            c, was_clipped = to_counts(value, scale)
            counts.append(c)
            clipped += was_clipped
    user = int(acc_files[0].stem.rsplit("user", 1)[1])
    return Recording(counts, 50.0, acc_scale, gyro_scale, DEFAULT_DEVICE_ID + user, clipped)


def synthetic(seconds: float, *, rate_hz: float = 50.0, seed: int = 0) -> Recording:
    """A deterministic walking-like signal: gravity on z, 2 Hz gait sway, seeded noise."""
    rng = random.Random(seed)
    counts: array[int] = array("h")
    for i in range(round(seconds * rate_hz)):
        t = i / rate_hz
        gait = math.sin(2 * math.pi * 2.0 * t)
        acc = (2.0 * gait, 1.0 * math.cos(2 * math.pi * 1.0 * t), G + 3.0 * gait * gait)
        gyro = (0.8 * math.sin(2 * math.pi * 1.0 * t), 0.5 * gait, 0.2 * math.cos(2 * math.pi * 0.5 * t))
        counts.extend(to_counts(v + rng.gauss(0, 0.05), ACC_SCALE_16G)[0] for v in acc)
        counts.extend(to_counts(v + rng.gauss(0, 0.01), GYRO_SCALE_2000DPS)[0] for v in gyro)
    return Recording(counts, rate_hz, ACC_SCALE_16G, GYRO_SCALE_2000DPS, DEFAULT_DEVICE_ID)


def frames(
    rec: Recording,
    *,
    samples_per_frame: int = 5,
    hello_every_s: float = 5.0,
    start_seq: int = 0,
    start_us: int = 0,
    loop: bool = False,
) -> Iterator[Frame]:
    """What the reference firmware sends: HELLO first and every ``hello_every_s`` (between SAMPLES
    frames, seq = next sample), SAMPLES of ``samples_per_frame``; a short last frame if needed.
    ``loop`` repeats the recording forever with seq/t_us running on (both wrap at 2^32)."""
    if not 1 <= samples_per_frame <= MAX_SAMPLES:
        raise ValueError(f"samples_per_frame must be 1..{MAX_SAMPLES}")
    if not len(rec):
        return
    period_us = 1e6 / rec.rate_hz
    hello_every_us = hello_every_s * 1e6
    last_hello = -math.inf
    i = 0  # device sample index since start

    def t_us(k: int) -> int:
        return (start_us + round(k * period_us)) & 0xFFFFFFFF

    while loop or i < len(rec):
        if i * period_us - last_hello >= hello_every_us:
            last_hello = i * period_us
            yield Hello((start_seq + i) & 0xFFFFFFFF, t_us(i), rec.rate_hz, rec.acc_scale, rec.gyro_scale,
                        rec.device_id, 6)  # fmt: skip
        n = samples_per_frame if loop else min(samples_per_frame, len(rec) - i)
        block = [rec.sample((i + k) % len(rec)) for k in range(n)]
        yield Samples.from_counts((start_seq + i) & 0xFFFFFFFF, t_us(i), block)
        i += n


def hapt_frames(root: Path | str, exp: int, **kwargs: object) -> Iterator[Frame]:
    """Canonical frames of one HAPT experiment (keyword arguments as for :func:`frames`)."""
    return frames(load_hapt(root, exp), **kwargs)  # type: ignore[arg-type]


def write_imu(path: Path | str, stream: Iterable[Frame]) -> int:
    """Write frames as a ``.imu`` recording (the raw wire byte stream); returns bytes written."""
    total = 0
    with open(path, "wb") as f:
        for frame in stream:
            total += f.write(encode_frame(frame))
    return total
