"""IMU emulator: replays a recording as wire frames, with seeded fault injection.

``Emulator(rec, Faults(drop=0.1, seed=3)).chunks()`` yields what goes on the wire and when;
``run(write)`` paces it at ``speed`` x real time; ``run_fd`` writes to a file descriptor such as the
master end of a :class:`PtyLink`. Device faults (clock jump, wrong HELLO rate) change the frames;
link faults (drop, corrupt, garbage, duplicate, reorder, jitter, stall, disconnect) change delivery.
"""

from __future__ import annotations

import dataclasses
import os
import random
import select
import termios
import threading
import time
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from . import recording
from .protocol import Frame, Hello, Samples, encode_frame

__all__ = ["Faults", "EmulatorStats", "Chunk", "Emulator", "PtyLink", "write_all"]


@dataclass(frozen=True)
class Faults:
    """Seeded fault plan. Probabilities are per frame; frame indices count frames generated.

    Args:
        drop: frame not sent. corrupt: one byte replaced by another non-zero byte (framing survives).
        garbage: a burst of 1..garbage_max random bytes (zeros possible) before the frame.
        duplicate: frame sent twice. reorder: frame swapped with the next one.
        jitter_s: uniform extra send delay [s, device time]. stall_after/stall_s: pause [s, wall
        time, also at --speed 0] after that many frames. disconnect_after: close after that many frames.
        clock_jump_at/clock_jump_us: from that frame on, device t_us jumps by clock_jump_us.
        hello_rate_hz: rate announced in HELLO instead of the true one.
    """

    seed: int = 0
    drop: float = 0.0
    corrupt: float = 0.0
    garbage: float = 0.0
    garbage_max: int = 64
    duplicate: float = 0.0
    reorder: float = 0.0
    jitter_s: float = 0.0
    stall_after: int | None = None
    stall_s: float = 0.0
    disconnect_after: int | None = None
    clock_jump_at: int | None = None
    clock_jump_us: int = 0
    hello_rate_hz: float | None = None

    def __post_init__(self) -> None:
        for name in ("drop", "corrupt", "garbage", "duplicate", "reorder"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"fault probability {name} must be in 0..1")
        if self.jitter_s < 0 or self.stall_s < 0 or self.garbage_max < 1:
            raise ValueError("jitter_s and stall_s must be >= 0, garbage_max >= 1")


@dataclass
class EmulatorStats:
    """Content-free counters of what the emulator did (frames = generated, sent = written)."""

    frames: int = 0
    sent: int = 0
    dropped: int = 0
    corrupted: int = 0
    garbage_bursts: int = 0
    garbage_bytes: int = 0
    duplicated: int = 0
    reordered: int = 0
    stalls: int = 0
    clock_jumps: int = 0
    bytes: int = 0
    disconnected: bool = False


@dataclass(frozen=True)
class Chunk:
    """Bytes to write at ``at_s`` [s of device time from start], after a wall-time ``pause_s``."""

    at_s: float
    data: bytes
    frame: Frame | None = field(default=None, repr=False)
    pause_s: float = 0.0


class Emulator:
    """Replays ``source`` as protocol v1 frames with the ``faults`` plan; one-shot, like a stream."""

    def __init__(
        self,
        source: recording.Recording,
        faults: Faults | None = None,
        *,
        samples_per_frame: int = 5,
        hello_every_s: float = 5.0,
        start_seq: int = 0,
        start_us: int = 0,
        loop: bool = False,
    ) -> None:
        self.source, self.faults = source, faults or Faults()
        self.samples_per_frame, self.hello_every_s = samples_per_frame, hello_every_s
        self.start_seq, self.start_us, self.loop = start_seq, start_us, loop
        self.stats = EmulatorStats()

    def frames(self) -> Iterator[Frame]:
        """The device's frames: clean, except for the device faults (clock jump, HELLO rate)."""
        f = self.faults
        stream = recording.frames(self.source, samples_per_frame=self.samples_per_frame,
                                  hello_every_s=self.hello_every_s, start_seq=self.start_seq,
                                  start_us=self.start_us, loop=self.loop)  # fmt: skip
        for i, frame in enumerate(stream):
            if f.clock_jump_at is not None and i >= f.clock_jump_at:
                self.stats.clock_jumps += i == f.clock_jump_at
                frame = dataclasses.replace(frame, t_us=(frame.t_us + f.clock_jump_us) & 0xFFFFFFFF)
            if isinstance(frame, Hello) and f.hello_rate_hz is not None:
                frame = dataclasses.replace(frame, rate_hz=f.hello_rate_hz)
            yield frame

    def _send_time(self, frame: Frame) -> float:
        """Seconds from start at which the device sends ``frame`` (a full SAMPLES frame: its last sample)."""
        offset = (frame.seq - self.start_seq) & 0xFFFFFFFF
        if isinstance(frame, Samples):
            offset += frame.n
        return offset / self.source.rate_hz

    def chunks(self) -> Iterator[Chunk]:
        """Wire chunks after the link faults, in send order."""
        f, st = self.faults, self.stats
        rng = random.Random(f.seed)
        held: Chunk | None = None
        last_at = 0.0
        for i, frame in enumerate(self.frames()):
            if f.disconnect_after is not None and st.sent >= f.disconnect_after:
                st.disconnected = True
                return
            st.frames += 1
            at = max(last_at, self._send_time(frame) + (rng.uniform(0, f.jitter_s) if f.jitter_s else 0.0))
            last_at = at
            pause = 0.0
            if f.stall_after is not None and i == f.stall_after:
                st.stalls += 1
                pause = f.stall_s
            if rng.random() < f.drop:
                st.dropped += 1
                continue
            data = encode_frame(frame)
            if rng.random() < f.corrupt:
                st.corrupted += 1
                buf = bytearray(data)
                k = rng.randrange(len(buf) - 1)  # never the delimiter
                buf[k] = rng.choice([b for b in range(1, 256) if b != buf[k]])
                data = bytes(buf)
            if rng.random() < f.garbage:
                burst = bytes(rng.randrange(256) for _ in range(rng.randint(1, f.garbage_max)))
                st.garbage_bursts += 1
                st.garbage_bytes += len(burst)
                data = burst + data
            chunk = Chunk(at, data, frame, pause)
            copies = [chunk, chunk] if rng.random() < f.duplicate else [chunk]
            st.duplicated += len(copies) - 1
            if held is not None:  # emit the newer frame first, then the held one
                copies.append(dataclasses.replace(held, at_s=at))
                held = None
            elif rng.random() < f.reorder:
                st.reordered += 1
                held = chunk
                continue
            for c in copies:
                st.sent += 1
                st.bytes += len(c.data)
                yield c
        if held is not None:
            st.sent += 1
            st.bytes += len(held.data)
            yield held

    def __iter__(self) -> Iterator[bytes]:
        return (c.data for c in self.chunks())

    def wire_bytes(self) -> bytes:
        """The whole faulted stream at once (what a ``.imu`` file holds)."""
        return b"".join(self)

    def run(
        self,
        write: Callable[[bytes], object],
        *,
        speed: float = 1.0,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> EmulatorStats:
        """Write chunks paced at ``speed`` x real time (0 = as fast as possible) until done or ``stop``."""
        if speed < 0:
            raise ValueError("speed must be >= 0 (0 = as fast as possible)")
        stop = stop or threading.Event()
        start, paused = clock(), 0.0
        for chunk in self.chunks():
            if chunk.pause_s and stop.wait(chunk.pause_s):
                break
            paused += chunk.pause_s
            if speed > 0:
                delay = start + paused + chunk.at_s / speed - clock()
                if delay > 0 and stop.wait(delay):
                    break
            if stop.is_set():
                break
            write(chunk.data)
        return self.stats

    def run_fd(self, fd: int, *, speed: float = 1.0, stop: threading.Event | None = None,
               on_disconnect: Callable[[], object] | None = None) -> EmulatorStats:  # fmt: skip
        """``run`` onto a file descriptor. The disconnect fault calls ``on_disconnect`` (default:
        ``os.close(fd)``); on a pty master that is an unplug."""
        stop = stop or threading.Event()
        stats = self.run(lambda data: write_all(fd, data, stop), speed=speed, stop=stop)
        if stats.disconnected:
            (on_disconnect or (lambda: os.close(fd)))()
        return stats

    def run_pty(self, link: PtyLink, *, speed: float = 1.0, stop: threading.Event | None = None) -> EmulatorStats:
        """``run_fd`` onto ``link.master``. The disconnect fault lets the reader take what was sent
        (up to 2 s), then closes the master end, so "after N frames" is exact."""

        def unplug() -> None:
            link.drain(2.0)
            link.close_master()

        return self.run_fd(link.master, speed=speed, stop=stop, on_disconnect=unplug)


def write_all(fd: int, data: bytes, stop: threading.Event | None = None, poll_s: float = 0.1) -> None:
    """Write all of ``data`` to a possibly non-blocking fd, waiting while it is full, until ``stop``."""
    view = memoryview(data)
    while view:
        if stop is not None and stop.is_set():
            return
        _, writable, _ = select.select([], [fd], [], poll_s)
        if writable:
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                continue


class PtyLink:
    """A pseudo-terminal pair in raw mode: the emulator writes the master, readers open ``path``.

    The slave stays open here too, so writes never fail before a reader arrives; ``close_master``
    is an unplug: a pyserial reader then gets the same error as on a USB disconnect.
    """

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self._closed: set[int] = set()

    def unread(self) -> int:
        """Bytes written but not yet read by the other side."""
        import fcntl
        import struct

        if self.slave in self._closed:
            return 0
        return int(struct.unpack("i", fcntl.ioctl(self.slave, termios.FIONREAD, b"\0\0\0\0"))[0])

    def drain(self, timeout_s: float = 5.0) -> bool:
        """Wait until a reader has taken everything written (or ``timeout_s``); True if drained."""
        deadline, settled = time.monotonic() + timeout_s, 0
        while settled < 5 and time.monotonic() < deadline:  # bytes reach the slave queue asynchronously
            time.sleep(0.02)
            settled = 0 if self.unread() else settled + 1
        return settled >= 5

    def close_master(self) -> None:
        self._close(self.master)

    def _close(self, fd: int) -> None:
        if fd not in self._closed:
            self._closed.add(fd)
            os.close(fd)

    def close(self) -> None:
        self._close(self.master)
        self._close(self.slave)

    def __enter__(self) -> PtyLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
