"""Serial ports (USB CDC, UART) through pyserial: ``serial:///dev/imu0?baud=115200`` or a bare path.

The port is opened ``exclusive=True`` (a second reader, e.g. ModemManager probing, gets a clear
error instead of stealing bytes) with a read timeout, so a quiet device never blocks shutdown.
An unplug surfaces as pyserial's ``SerialException``/``OSError`` and is turned into
``SourceError``; the pipeline then reconnects with backoff.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import SourceError
from .base import Source

__all__ = ["SerialSource"]

#: Standard line rates: anything else (``baud=12``, a typo for 115200) is refused, not tried.
BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000,
              921600, 1000000, 1152000, 1500000, 2000000, 2500000, 3000000, 3500000, 4000000)  # fmt: skip


class SerialSource(Source):
    """Args:
    port: device path, e.g. ``/dev/imu0`` (udev symlink) or ``/dev/serial/by-id/...``.
    baud: line rate; ignored by USB CDC devices but required by UARTs.
    """

    def __init__(self, port: str, *, baud: int = 115200, chunk: int = 4096) -> None:
        if baud not in BAUD_RATES:
            raise SourceError(f"baud {baud} is not a standard rate (9600, 57600, 115200, 230400, 921600, ...)")
        self.port, self.baud, self.chunk = port, baud, chunk
        self.url = f"serial://{port}?baud={baud}"
        self._ser: Any = None

    @classmethod
    def from_url(cls, url: str) -> SerialSource:
        if "://" not in url:
            return cls(url)
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        port = unquote(parts.netloc + parts.path)
        if not port:
            raise SourceError(f"serial URL {url!r} names no device")
        try:
            baud = int(query.get("baud", ["115200"])[0])
        except ValueError:
            raise SourceError(f"serial URL {url!r}: baud must be an integer") from None
        return cls(port, baud=baud)

    def open(self) -> None:
        try:
            import serial
        except ImportError:
            raise SourceError("serial source needs pyserial: pip install 'edge-anonymize[edge]'") from None
        try:
            self._ser = serial.Serial(self.port, self.baud, timeout=0.2, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise SourceError(f"cannot open serial port {self.port}: {_reason(exc)}") from None

    def read(self, timeout: float) -> bytes:
        ser = self._ser
        if ser is None:
            raise SourceError(f"serial port {self.port} is not open")
        import serial

        try:
            if ser.timeout != timeout:
                ser.timeout = timeout
            data: bytes = ser.read(max(ser.in_waiting, 1))
            if data and ser.in_waiting:
                data += ser.read(min(ser.in_waiting, self.chunk))
            return data
        except (serial.SerialException, OSError, TypeError) as exc:
            # TypeError: pyserial 3.5 can trip over a vanished fd during unplug
            raise SourceError(f"serial port {self.port} lost: {_reason(exc)}") from None

    def close(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except OSError:
                pass


def _reason(exc: BaseException) -> str:
    """First line of the OS/pyserial reason (never data)."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).splitlines()[0][:160]
