"""What every sample source is: a byte stream of wire frames that can be opened, read and lost.

Sources move bytes only; frame decoding lives in ``firmware_bridge.protocol`` and sample/gap
handling in ``edge_runtime.decoder``, so serial, BLE, TCP and replay share one parsing path.
"""

from __future__ import annotations

__all__ = ["Source"]


class Source:
    """A blocking byte source, used as a context manager.

    Subclasses implement ``open``, ``read`` and ``close``. ``read`` returns ``b""`` when nothing
    arrived within ``timeout`` and raises ``SourceError`` when the device is gone (unplug, BLE
    disconnect, end of a replay file raises ``EOFError``), so the pipeline can reconnect with backoff.
    """

    url: str = ""
    #: A recording can wait for the consumer, so the pipeline blocks on a full queue instead of
    #: dropping its bytes; a live device cannot wait (its overflow is dropped and counted).
    can_wait: bool = False

    def open(self) -> None:
        """Connect; raises ``SourceError`` with a one-line reason if the device cannot be used."""
        raise NotImplementedError

    def read(self, timeout: float) -> bytes:
        """Up to one chunk of bytes; ``b""`` on timeout [s]."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the device; safe to call twice."""

    def __enter__(self) -> Source:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
