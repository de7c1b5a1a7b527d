"""Capped exponential reconnect delay, one implementation for the source reader and the MQTT link/consumer."""

from __future__ import annotations

from collections import deque

__all__ = ["Backoff"]


class Backoff:
    """Delay after the n-th consecutive failure: ``min_s * 2**n``, capped at ``max_s`` (paho-style); ``reset()`` on success."""

    def __init__(self, min_s: float = 0.5, max_s: float = 30.0) -> None:
        if not 0 < min_s <= max_s:
            raise ValueError(f"need 0 < reconnect_min <= reconnect_max, got {min_s} and {max_s}")
        self.min_s, self.max_s, self.failures = min_s, max_s, 0
        self.recent: deque[float] = deque(maxlen=32)  # last delays, for status and tests

    def next_delay(self) -> float:
        delay = min(self.min_s * 2.0 ** min(self.failures, 62), self.max_s)
        self.failures += 1
        self.recent.append(delay)
        return delay

    def reset(self) -> None:
        self.failures = 0
