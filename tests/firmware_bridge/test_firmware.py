"""The C firmware built with gcc: golden vectors (host and Cortex-M3 under QEMU), the simulated
board's UART and BLE output decoded by the Python decoder, and a short sanitizer fuzz run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from firmware_bridge.protocol import FrameDecoder, Hello, Samples

from .conftest import FIRMWARE, need_gcc


def make(*targets: str, timeout: float = 180, **env: str) -> subprocess.CompletedProcess[str]:
    need_gcc()
    args = ["make", "-s", "-C", str(FIRMWARE), *targets, *(f"{k}={v}" for k, v in env.items())]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


def test_c_golden_vectors() -> None:
    proc = make("test")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK:" in proc.stdout and " 0 failures" in proc.stdout


def test_c_golden_test_can_fail(tmp_path: Path) -> None:
    assert make("build/test_vectors").returncode == 0
    bad = tmp_path / "frames.json"
    text = (FIRMWARE.parent / "vectors" / "frames.json").read_text()
    bad.write_text(text.replace('"reason": "crc"', '"reason": "type"', 1).replace('"n": 32', '"n": 31', 1))
    proc = subprocess.run(
        [str(FIRMWARE / "build" / "test_vectors"), str(bad)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1, proc.stdout
    assert "FAIL samples_n32:" in proc.stdout and "FAIL payload_bit_flip:" in proc.stdout


@pytest.mark.parametrize("mtu", [23, 64, 247])
def test_simulated_board_uart_and_ble(tmp_path: Path, mtu: int) -> None:
    assert make("build/imu_host").returncode == 0
    ble = tmp_path / "ble.bin"
    proc = subprocess.run([str(FIRMWARE / "build" / "imu_host"), "12", str(mtu), str(ble), "300"],
                          capture_output=True, timeout=60, check=True)  # fmt: skip
    uart = proc.stdout
    dec = FrameDecoder()
    frames = dec.feed(uart) + dec.flush()
    assert dec.stats == {**dict.fromkeys(dec.stats, 0), "frames": len(frames)}
    hellos = [f for f in frames if isinstance(f, Hello)]
    samples = [f for f in frames if isinstance(f, Samples)]
    assert len(hellos) == 3 and hellos[0].rate_hz == 50.0 and hellos[0].channels == 6  # t = 0, 5, 10 s
    # consecutive seq, t_us 20 ms apart (wrapping at 2^32), except one gap from the 300 ms stall
    gaps = []
    for a, b in zip(samples, samples[1:], strict=False):
        assert a.n == 5
        missing = b.seq - (a.seq + a.n)
        assert (b.t_us - a.t_us) % 2**32 == (a.n + missing) * 20_000
        if missing:
            gaps.append(missing)
    assert len(gaps) == 1 and 10 <= gaps[0] <= 20
    assert any(b.t_us < a.t_us for a, b in zip(samples, samples[1:], strict=False))  # the clock wrapped
    for h in hellos[1:]:  # HELLO.seq is the first sample of the next SAMPLES frame
        nxt = frames[frames.index(h) + 1]
        assert isinstance(nxt, Samples) and nxt.seq == h.seq
    # BLE: notifications of at most MTU-3 bytes that concatenate to the UART stream
    raw, pos, chunks = ble.read_bytes(), 0, []
    while pos < len(raw):
        n = raw[pos]
        chunks.append(raw[pos + 1 : pos + 1 + n])
        pos += 1 + n
    assert max(map(len, chunks)) == min(mtu - 3, 78) and b"".join(chunks) == uart  # SAMPLES n=5: 78 B


def test_qemu_cortex_m3_golden_vectors() -> None:
    missing = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm") if shutil.which(t) is None]
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)"
        )
    proc = make("qemu")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK:" in proc.stdout and " 0 failures" in proc.stdout


def test_c_fuzz_short_run() -> None:
    proc = make("fuzz", FUZZ_SECONDS="2", FUZZ_BODIES="200000")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 crashes" in proc.stdout and "false accepts: 0 of 200000" in proc.stdout
