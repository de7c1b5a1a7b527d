"""The emulator over a real pty read with pyserial: byte-exact delivery, and each fault shows up as
its expected counter. Plus the ``imu-emulator`` CLI onto a file, a pty and TCP."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import serial

from firmware_bridge.cli import main
from firmware_bridge.emulator import Emulator, Faults, PtyLink
from firmware_bridge.protocol import Frame, FrameDecoder, Hello, Samples
from firmware_bridge.recording import synthetic

ROOT = Path(__file__).resolve().parents[2]
REC = synthetic(20, seed=1)  # 1000 samples -> 200 SAMPLES + 4 HELLO frames


def emu(**faults: object) -> Emulator:
    return Emulator(REC, Faults(seed=9, **faults), samples_per_frame=5)  # type: ignore[arg-type]


def over_pty(e: Emulator, timeout: float = 60.0) -> tuple[list[Frame], dict[str, int], list[float], Exception | None]:
    """Run ``e`` onto a pty at full speed; read it with pyserial until the emulator is done.

    Reads ask for ``in_waiting`` bytes: a ``read(4096)`` still waiting for more when the port
    goes away raises and discards what it had already read (pyserial's unplug behaviour)."""
    frames: list[Frame] = []
    arrivals: list[float] = []
    dec, error = FrameDecoder(), None
    with PtyLink() as link, serial.Serial(link.path, timeout=0.1) as port:
        worker = threading.Thread(target=e.run_pty, args=(link,), kwargs={"speed": 0.0}, daemon=True)
        worker.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = port.read(max(1, port.in_waiting))
            except serial.SerialException as exc:
                error = exc
                break
            if data:
                arrivals.append(time.monotonic())
                frames += dec.feed(data)
            elif not worker.is_alive():
                break
        worker.join(timeout=10)
    return frames + dec.flush(), dec.stats, arrivals, error


def drops(stats: dict[str, int]) -> int:
    return sum(v for k, v in stats.items() if k != "frames")


def test_clean_stream_over_pty() -> None:
    expected = list(emu().frames())
    frames, stats, _, error = over_pty(emu())
    assert error is None and frames == expected and drops(stats) == 0
    assert len(expected) == 204


def check_drop(e: Emulator, got: list[Frame], stats: dict[str, int], clean: list[Frame]) -> None:
    assert drops(stats) == 0 and len(got) == len(clean) - e.stats.dropped > 0


def check_corrupt(e: Emulator, got: list[Frame], stats: dict[str, int], clean: list[Frame]) -> None:
    assert drops(stats) == e.stats.corrupted > 0 and len(got) == len(clean) - e.stats.corrupted
    assert all(f in clean for f in got)


def check_garbage(e: Emulator, got: list[Frame], stats: dict[str, int], clean: list[Frame]) -> None:
    assert e.stats.garbage_bursts > 0 and drops(stats) >= e.stats.garbage_bursts
    assert len(clean) - e.stats.garbage_bursts <= len(got) <= len(clean)  # <= 1 frame lost per burst
    assert all(f in clean for f in got)


def check_duplicate(e: Emulator, got: list[Frame], stats: dict[str, int], clean: list[Frame]) -> None:
    dupes = sum(1 for a, b in zip(got, got[1:], strict=False) if a == b)
    assert dupes == e.stats.duplicated > 0 and len(got) == len(clean) + dupes


def check_reorder(e: Emulator, got: list[Frame], stats: dict[str, int], clean: list[Frame]) -> None:
    order = [clean.index(f) for f in got]
    inversions = sum(1 for a, b in zip(order, order[1:], strict=False) if b < a)
    assert sorted(order) == list(range(len(clean))) and inversions == e.stats.reordered > 0


def check_clock_jump(e: Emulator, got: list[Frame], stats: dict[str, int], clean: list[Frame]) -> None:
    samples = [f for f in got if isinstance(f, Samples)]
    steps = {(b.t_us - a.t_us) % 2**32 for a, b in zip(samples, samples[1:], strict=False)}
    assert steps == {100_000, 100_000 + 3_000_000} and e.stats.clock_jumps == 1


def check_hello_rate(e: Emulator, got: list[Frame], stats: dict[str, int], clean: list[Frame]) -> None:
    assert {f.rate_hz for f in got if isinstance(f, Hello)} == {25.0} and len(got) == len(clean)


def check_jitter(e: Emulator, got: list[Frame], stats: dict[str, int], clean: list[Frame]) -> None:
    assert got == clean and drops(stats) == 0


FAULTS: dict[str, tuple[dict[str, object], Callable[..., None]]] = {
    "drop": ({"drop": 0.1}, check_drop),
    "corrupt": ({"corrupt": 0.1}, check_corrupt),
    "garbage": ({"garbage": 0.1}, check_garbage),
    "duplicate": ({"duplicate": 0.1}, check_duplicate),
    "reorder": ({"reorder": 0.1}, check_reorder),
    "clock_jump": ({"clock_jump_at": 50, "clock_jump_us": 3_000_000}, check_clock_jump),
    "hello_rate": ({"hello_rate_hz": 25.0}, check_hello_rate),
    "jitter": ({"jitter_s": 0.05}, check_jitter),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault_over_pty(name: str) -> None:
    kwargs, check = FAULTS[name]
    e = emu(**kwargs)
    clean = list(emu(clock_jump_at=None, hello_rate_hz=None).frames())
    got, stats, _, error = over_pty(e)
    assert error is None
    offline = FrameDecoder()
    assert got == offline.feed(emu(**kwargs).wire_bytes()) + offline.flush()  # the pty is byte-exact
    assert stats == offline.stats
    check(e, got, stats, clean if name not in ("clock_jump", "hello_rate") else clean)


def test_stall_over_pty() -> None:
    got, stats, arrivals, error = over_pty(emu(stall_after=100, stall_s=0.6))
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert error is None and len(got) == 204 and max(gaps) >= 0.45


def test_disconnect_is_an_unplug() -> None:
    e = emu(disconnect_after=30)
    got, stats, _, error = over_pty(e)
    assert isinstance(error, serial.SerialException)
    assert e.stats.disconnected and len(got) == 30 and drops(stats) == 0


def test_paced_replay_takes_real_time() -> None:
    e = Emulator(synthetic(1.0), samples_per_frame=10)
    chunks: list[bytes] = []
    t0 = time.monotonic()
    e.run(chunks.append, speed=2.0)
    assert 0.4 <= time.monotonic() - t0 < 5.0 and len(chunks) == 6


def test_cli_file_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.imu"
    assert main(["--synthetic", "10", "--out", str(out), "--drop", "0.2", "--seed", "3"]) == 0
    err = capsys.readouterr().err
    assert "dropped=" in err
    dec = FrameDecoder()
    assert 50 < len(dec.feed(out.read_bytes())) < 102


def test_cli_bad_input_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--hapt", str(tmp_path), "--exp", "3", "--out", str(tmp_path / "x.imu")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("imu-emulator: error:") and err.count("\n") == 1
    assert main(["--synthetic", "1", "--drop", "2", "--out", str(tmp_path / "x.imu")]) == 1


def test_cli_pty_subprocess() -> None:
    with subprocess.Popen([sys.executable, "-m", "firmware_bridge.cli", "--synthetic", "4", "--speed", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT) as proc:  # fmt: skip
        try:
            assert proc.stdout is not None
            path = proc.stdout.readline().strip()
            assert path.startswith("/dev/pts/")
            dec, frames = FrameDecoder(), []
            with serial.Serial(path, timeout=0.2) as port:  # pyserial flushes what arrived before open
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    try:
                        frames += dec.feed(port.read(max(1, port.in_waiting)))
                    except serial.SerialException:  # the emulator finished and closed the pty
                        break
            assert 30 <= len(frames) <= 41 and frames[-1] == Samples(195, 3_900_000, frames[-1].payload)
            assert drops(dec.stats) <= 1  # at most the frame cut by opening the port mid-stream
            assert proc.wait(timeout=30) == 0
        finally:
            proc.kill()
            proc.wait()


def test_cli_tcp_subprocess() -> None:
    with subprocess.Popen([sys.executable, "-m", "firmware_bridge.cli", "--synthetic", "2", "--speed", "0", "--tcp", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT) as proc:  # fmt: skip
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            host, port = url.removeprefix("tcp://").split(":")
            data = b""
            with socket.create_connection((host, int(port)), timeout=10) as conn:
                while chunk := conn.recv(65536):
                    data += chunk
            dec = FrameDecoder()
            assert len(dec.feed(data)) == 21 and proc.wait(timeout=30) == 0
        finally:
            proc.kill()
            proc.wait()


def test_cli_tcp_port_out_of_range_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--synthetic", "1", "--tcp", "99999"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "port must be 0..65535" in err and "Traceback" not in err


def test_cli_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"imu-emulator {version('edge-anonymize')}"


def test_cli_help_hapt_example_runs_from_the_repo(hapt_root: Path, tmp_path: Path) -> None:
    import re

    import firmware_bridge.cli as cli_mod

    (example,) = re.findall(r"--hapt (\S+)", cli_mod.__doc__ or "")
    assert (ROOT / example).resolve() == hapt_root.resolve()  # the path the Makefile's DATA uses too
    (data,) = re.findall(r"^DATA\s*\?=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert example == f"{data}/uci-hapt"  # the Makefile's DATA holds one folder per dataset
    out = tmp_path / "exp1.imu"
    assert main(["--hapt", str(ROOT / example), "--exp", "1", "--out", str(out)]) == 0
    assert len(FrameDecoder().feed(out.read_bytes())) > 100
