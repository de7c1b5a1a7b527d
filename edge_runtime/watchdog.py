"""systemd readiness and watchdog over ``$NOTIFY_SOCKET``, with the stdlib ``socket`` module only.

With ``Type=notify`` + ``WatchdogSec=`` in the unit, ``READY=1`` is sent once the model is loaded
and the source opened, and ``WATCHDOG=1`` every half interval, but only while both the reader
thread and the processing loop keep making progress. A frozen loop stops the pings and systemd
restarts the service within ``WatchdogSec``. An unplugged device is *not* a freeze: the reader
keeps beating while it backs off, and reconnecting is the pipeline's job, not systemd's.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping

__all__ = ["Notifier", "Watchdog"]


class Notifier:
    """Datagrams to ``$NOTIFY_SOCKET`` (path or ``@abstract``); a no-op when it is unset."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        addr = env.get("NOTIFY_SOCKET", "")
        self.address = "\0" + addr[1:] if addr.startswith("@") else addr
        self._sock: socket.socket | None = None
        if self.address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)  # a full notify queue must never stall the pipeline

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def notify(self, message: str) -> bool:
        """Send one state string, e.g. ``"READY=1"``; False when not under systemd or it failed."""
        if self._sock is None:
            return False
        try:
            self._sock.sendto(message.encode(), self.address)
            return True
        except OSError:  # includes BlockingIOError: systemd is not reading; the ping is lost, not waited for
            return False

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class Watchdog:
    """Pings ``WATCHDOG=1`` at half of ``$WATCHDOG_USEC`` while every registered heartbeat is fresh.

    Args:
        notifier: where pings go.
        interval_s: ping period; default half of ``$WATCHDOG_USEC`` (None when systemd set none).
        clock: monotonic time [s] (injectable).
    """

    def __init__(self, notifier: Notifier, *, env: Mapping[str, str] | None = None, interval_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        env = os.environ if env is None else env
        if interval_s is None and env.get("WATCHDOG_USEC", "").isdigit():
            pid = env.get("WATCHDOG_PID", "")
            if not pid or pid == str(os.getpid()):
                interval_s = int(env["WATCHDOG_USEC"]) / 2e6
        self.notifier, self.interval_s, self._clock = notifier, interval_s, clock
        self._beats: dict[str, float] = {}
        self._last_ping = clock()
        self.pings = 0

    @property
    def enabled(self) -> bool:
        return self.notifier.enabled and bool(self.interval_s)

    def beat(self, name: str) -> None:
        """Record progress of one loop (``reader``, ``processor``)."""
        self._beats[name] = self._clock()

    def tick(self) -> bool:
        """Ping if due and every loop beat since the last ping; returns True when it pinged."""
        if not self.enabled:
            return False
        now = self._clock()
        assert self.interval_s is not None
        if now - self._last_ping < self.interval_s:
            return False
        if not self._beats or any(t <= self._last_ping for t in self._beats.values()):
            return False  # some loop made no progress since the last ping: let systemd notice
        self._last_ping = now
        self.pings += 1
        return self.notifier.notify("WATCHDOG=1")
