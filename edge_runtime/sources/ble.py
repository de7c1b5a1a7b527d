"""BLE wearables through bleak: ``ble://AA:BB:CC:DD:EE:FF?timeout=10&queue=256``.

The firmware (``firmware_bridge/firmware/imu_main.h``) notifies the UART byte stream on one GATT
characteristic, cut into chunks of ATT_MTU - 3 bytes; this source only moves those bytes, the
frame decoder finds frame boundaries by the 0x00 delimiter.

bleak is asyncio-only while ``Source.read`` is blocking, so an event loop runs on a private daemon
thread. The notify callback does nothing but enqueue into a bounded queue (a full queue counts
``drops`` instead of blocking the BLE stack); a disconnect enqueues a sentinel so ``read`` raises
``SourceError`` once the bytes received before it are consumed. Only the configured address is
ever connected, and the connected peer is checked against it (RELIABILITY.md, Access).

``?transport=<bumble transport spec>`` (e.g. ``tcp-client:127.0.0.1:9000``, ``usb:0``) selects the
bumble central in ``ble_bumble.py`` instead of bleak: used by the tests (an emulated wearable)
and on hosts without BlueZ.
"""

from __future__ import annotations

import asyncio
import queue
import re
import threading
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import SourceError
from .base import Source

__all__ = ["BleSource", "SERVICE_UUID", "FRAMES_UUID"]

SERVICE_UUID = "7d2a0001-5c4e-4b8a-9f61-3e0b1c2d4f50"
FRAMES_UUID = "7d2a0002-5c4e-4b8a-9f61-3e0b1c2d4f50"

_MAC = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}(/P)?$")  # "/P": public address (bumble notation)
_UUID = re.compile(r"^[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}$")  # macOS CoreBluetooth identifiers
_LOST = None  # queue sentinel: the link is gone


class BleSource(Source):
    """Args:
    address: the one device accepted, ``AA:BB:CC:DD:EE:FF`` (a CoreBluetooth UUID on macOS).
    timeout: seconds to find and connect the device.
    queue_size: notifications buffered between the BLE thread and ``read``; overflow is counted.
    """

    backend = "bleak"

    def __init__(self, address: str, *, timeout: float = 10.0, queue_size: int = 256) -> None:
        address = address.strip().upper()
        if not (_MAC.match(address) or _UUID.match(address)):
            raise SourceError(f"BLE address {address!r} is not of the form AA:BB:CC:DD:EE:FF")
        if timeout <= 0 or queue_size < 1:
            raise SourceError("BLE timeout must be > 0 and queue >= 1")
        self.address, self.timeout, self.queue_size = address, timeout, queue_size
        self.url = f"ble://{address}?timeout={timeout:g}&queue={queue_size}"
        self.drops = 0  # notifications lost because the queue was full
        self.notifications = 0  # notifications accepted into the queue
        self._q: queue.Queue[bytes | None] = queue.Queue(maxsize=queue_size)
        self._lost = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Any = None

    @classmethod
    def from_url(cls, url: str) -> BleSource:
        parts = urlsplit(url)
        address = unquote(parts.netloc or parts.path.lstrip("/"))
        if not address:
            raise SourceError(f"BLE URL {url!r} names no device address")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"timeout", "queue", "transport"}
        if unknown:
            raise SourceError(f"BLE URL {url!r}: unknown option(s) {', '.join(sorted(unknown))}")
        try:
            timeout = float(query.get("timeout", "10"))
            queue_size = int(query.get("queue", "256"))
        except ValueError:
            raise SourceError(f"BLE URL {url!r}: timeout must be a number and queue an integer") from None
        if "transport" in query:
            from .ble_bumble import BumbleBleSource

            return BumbleBleSource(address, transport=query["transport"], timeout=timeout, queue_size=queue_size)
        return cls(address, timeout=timeout, queue_size=queue_size)

    # -- called on the BLE thread -------------------------------------------------------------
    def _on_data(self, data: bytes | bytearray) -> None:
        """Notify callback: enqueue only, never block the BLE stack."""
        try:
            self._q.put_nowait(bytes(data))
            self.notifications += 1
        except queue.Full:
            self.drops += 1

    def _on_disconnect(self, *_: Any) -> None:
        self._lost.set()
        try:
            self._q.put_nowait(_LOST)
        except queue.Full:
            pass  # read() sees the flag once the queue is drained

    async def _connect(self) -> None:
        """Connect to ``self.address`` and subscribe to the frames characteristic."""
        try:
            from bleak import BleakClient
            from bleak.exc import BleakDeviceNotFoundError
        except ImportError:
            raise SourceError("BLE source needs bleak: pip install 'edge-anonymize[ble]'") from None
        client = BleakClient(self.address, timeout=self.timeout, disconnected_callback=self._on_disconnect)
        try:
            await client.connect()
        except BleakDeviceNotFoundError:
            raise SourceError(f"BLE device {self.address} not found within {self.timeout:g} s") from None
        except TimeoutError:
            raise SourceError(f"BLE device {self.address} did not connect within {self.timeout:g} s") from None
        except FileNotFoundError:  # no system D-Bus socket
            raise SourceError(f"cannot connect to BLE device {self.address}: BlueZ/D-Bus not reachable") from None
        except Exception as exc:  # noqa: BLE001 - BlueZ/D-Bus/OS errors differ per platform
            raise SourceError(f"cannot connect to BLE device {self.address}: {_reason(exc)}") from None
        self._client = client
        if str(client.address).upper() != self.address:
            raise SourceError(f"BLE peer {client.address} is not the configured device {self.address}")
        try:
            await client.start_notify(FRAMES_UUID, lambda _c, data: self._on_data(data))
        except Exception as exc:  # noqa: BLE001
            raise SourceError(f"BLE device {self.address} has no IMU frames characteristic: {_reason(exc)}") from None

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.disconnect()
            except Exception:  # noqa: BLE001 - best effort on shutdown
                pass

    # -- Source API (caller's thread) ---------------------------------------------------------
    def open(self) -> None:
        self.close()
        self._lost.clear()
        self._q = queue.Queue(maxsize=self.queue_size)
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name=f"ble-{self.address}", daemon=True)
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._connect(), loop)
        try:
            fut.result(timeout=self.timeout + 10.0)
        except SourceError:
            self.close()
            raise
        except Exception as exc:  # noqa: BLE001 - includes the outer timeout
            fut.cancel()
            self.close()
            raise SourceError(f"cannot connect to BLE device {self.address}: {_reason(exc)}") from None

    def read(self, timeout: float) -> bytes:
        if self._loop is None:
            raise SourceError(f"BLE device {self.address} is not connected")
        if self._lost.is_set() and self._q.empty():
            raise SourceError(f"BLE device {self.address} disconnected")
        try:
            first = self._q.get(timeout=timeout) if timeout > 0 else self._q.get_nowait()
        except queue.Empty:
            if self._lost.is_set():
                raise SourceError(f"BLE device {self.address} disconnected") from None
            return b""
        if first is _LOST:
            raise SourceError(f"BLE device {self.address} disconnected")
        chunks = [first]
        size = len(first)
        while size < 4096:  # coalesce small notifications into one read
            try:
                more = self._q.get_nowait()
            except queue.Empty:
                break
            if more is _LOST:  # deliver what came before; the next read raises
                break
            chunks.append(more)
            size += len(more)
        return b"".join(chunks)

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._disconnect(), loop).result(timeout=5.0)
        except Exception:  # noqa: BLE001 - the link may already be gone
            pass
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=5.0)
        if not loop.is_running():
            loop.close()


def _reason(exc: BaseException) -> str:
    """First line of the backend's reason (never data)."""
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:160]
