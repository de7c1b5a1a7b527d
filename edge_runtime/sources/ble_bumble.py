"""BLE without BlueZ: a bumble central for ``BleSource`` and an emulated wearable peripheral.

``BumbleBleSource`` (``ble://ADDR?transport=<bumble spec>``) talks HCI itself over any bumble
transport (``tcp-client:host:port``, ``usb:0``, ``serial:/dev/ttyACM0``, ``vhci``), so the same
Source runs against a USB dongle on hosts without BlueZ and against ``BumbleWearable`` in tests.

``BumbleWearable`` is the firmware's GATT layout (``imu_main.h``) on an emulated controller: both
controllers live on one in-process ``bumble.link.LocalLink`` and the central's controller is
served on a loopback TCP HCI transport, so the central runs on its own thread exactly like the
bleak backend does. Only the bumble package is needed; no radio, no root.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

from ..errors import SourceError
from .ble import FRAMES_UUID, SERVICE_UUID, BleSource, _reason

__all__ = ["BumbleBleSource", "BumbleWearable"]

CENTRAL_ADDRESS = "C0:ED:6E:00:00:01"  # random static address of the gateway's bumble central


def _bumble() -> Any:
    try:
        import bumble.device
    except ImportError:
        raise SourceError("BLE bumble transport needs bumble: pip install bumble") from None
    return bumble


class BumbleBleSource(BleSource):
    """``BleSource`` whose central is a bumble host on ``transport`` instead of BlueZ/bleak."""

    backend = "bumble"

    def __init__(self, address: str, *, transport: str, timeout: float = 10.0, queue_size: int = 256) -> None:
        super().__init__(address, timeout=timeout, queue_size=queue_size)
        self.transport = transport
        self.url += f"&transport={transport}"
        self._hci: Any = None
        self._device: Any = None
        self._conn: Any = None

    async def _connect(self) -> None:
        _bumble()
        from bumble.device import Device, Peer
        from bumble.hci import Address
        from bumble.transport import open_transport

        try:
            self._hci = await open_transport(self.transport)
        except Exception as exc:  # noqa: BLE001 - transport errors vary (USB, TCP, serial)
            raise SourceError(f"cannot open bumble transport {self.transport!r}: {_reason(exc)}") from None
        self._device = Device.with_hci("edge-anonymize", Address(CENTRAL_ADDRESS), self._hci.source, self._hci.sink)
        await self._device.power_on()
        target = Address(self.address)
        try:
            # outer bound: an emulated controller may never answer the connection cancel
            conn = await asyncio.wait_for(self._device.connect(target, timeout=self.timeout), self.timeout + 1.0)
        except TimeoutError:
            raise SourceError(f"BLE device {self.address} not found within {self.timeout:g} s") from None
        except Exception as exc:  # noqa: BLE001
            raise SourceError(f"cannot connect to BLE device {self.address}: {_reason(exc)}") from None
        self._conn = conn
        if bytes(conn.peer_address) != bytes(target):  # never take frames from another device
            await conn.disconnect()
            raise SourceError(f"BLE peer {conn.peer_address} is not the configured device {self.address}")
        conn.on("disconnection", self._on_disconnect)
        peer = Peer(conn)
        await peer.request_mtu(247)
        from bumble.core import UUID

        await peer.discover_service(SERVICE_UUID)
        chars = []
        for service in peer.get_services_by_uuid(UUID(SERVICE_UUID)):
            await service.discover_characteristics()
            chars += service.get_characteristics_by_uuid(UUID(FRAMES_UUID))
        if not chars:
            await conn.disconnect()
            raise SourceError(f"BLE device {self.address} has no IMU frames characteristic {FRAMES_UUID}")
        await peer.subscribe(chars[0], self._on_data)

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.disconnect(), 2.0)
            except Exception:  # noqa: BLE001 - already gone
                pass
        hci, self._hci = self._hci, None
        if hci is not None:
            await hci.close()


class BumbleWearable:
    """An emulated wearable: advertises, serves the frames characteristic, notifies wire bytes.

    Runs its own event loop thread. ``start()`` returns the HCI transport spec a central uses
    (``tcp-client:127.0.0.1:PORT``); ``send(wire)`` cuts bytes into ATT_MTU - 3 notifications.
    """

    def __init__(self, address: str = "F0:11:22:33:44:55", *, name: str = "imu-wearable") -> None:
        self.address, self.name = address, name
        self.notifications = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bumble-wearable", daemon=True)
        self._connected = threading.Event()
        self._conn: Any = None
        self._hci: Any = None
        self._sock: socket.socket | None = None
        self.hci = ""  # the central's HCI transport spec, set by start()

    def start(self, timeout: float = 10.0, *, central_hci: str | None = None) -> str:
        """Power on and advertise; return the central's HCI transport spec.

        ``central_hci`` serves the central's controller on that bumble transport instead of
        loopback TCP, e.g. ``vhci`` so the kernel (BlueZ, bleak) sees it as an adapter.
        """
        self._thread.start()
        self.hci = asyncio.run_coroutine_threadsafe(self._start(central_hci), self._loop).result(timeout)
        return self.hci

    async def _start(self, central_hci: str | None) -> str:
        _bumble()
        from bumble.controller import Controller
        from bumble.core import AdvertisingData
        from bumble.device import Device
        from bumble.gatt import Characteristic, Service
        from bumble.hci import Address
        from bumble.host import Host
        from bumble.link import LocalLink
        from bumble.transport import open_transport
        from bumble.transport.common import AsyncPipeSink
        from bumble.transport.tcp_server import open_tcp_server_transport_with_socket

        link = LocalLink()  # type: ignore[no-untyped-call]
        if central_hci is None:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            self._sock = sock
            self._hci = await open_tcp_server_transport_with_socket(sock)
            spec = f"tcp-client:127.0.0.1:{sock.getsockname()[1]}"
        else:
            self._hci, spec = await open_transport(central_hci), central_hci
        Controller("central", host_source=self._hci.source, host_sink=self._hci.sink, link=link)
        ctrl = Controller("wearable", link=link)
        device = Device(self.name, Address(self.address), host=Host(ctrl, AsyncPipeSink(ctrl)))
        self.frames = Characteristic(
            FRAMES_UUID,
            Characteristic.Properties.READ | Characteristic.Properties.NOTIFY,
            Characteristic.Permissions.READABLE,
            b"",
        )
        device.add_service(Service(SERVICE_UUID, [self.frames]))
        device.advertising_data = bytes(AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode())]))
        device.on("connection", self._on_connection)
        await device.power_on()
        await device.start_advertising(auto_restart=True)
        self.device = device
        return spec

    @property
    def mtu(self) -> int:
        """ATT_MTU of the current connection (23 until the central exchanges a larger one)."""
        return int(self._conn.att_mtu) if self._conn is not None else 23

    @property
    def connected(self) -> bool:
        """Whether a central is connected now."""
        return self._connected.is_set()

    def _on_connection(self, conn: Any) -> None:
        self._conn = conn
        conn.on("disconnection", lambda *_: self._connected.clear())
        self._connected.set()

    def send(self, wire: bytes, timeout: float = 30.0) -> None:
        """Notify ``wire`` in ATT_MTU - 3 chunks, in order; blocks until all are handed to the link."""
        if not self._connected.wait(timeout):
            raise SourceError("no central connected to the emulated wearable")
        asyncio.run_coroutine_threadsafe(self._send(wire), self._loop).result(timeout)

    async def _send(self, wire: bytes) -> None:
        conn = self._conn
        step = self.mtu - 3
        for i in range(0, len(wire), step):
            await self.device.notify_subscriber(conn, self.frames, wire[i : i + step])
            self.notifications += 1

    def disconnect(self, timeout: float = 10.0) -> None:
        """Drop the link from the wearable's side (battery out, out of range)."""
        if self._conn is not None:
            asyncio.run_coroutine_threadsafe(self._conn.disconnect(), self._loop).result(timeout)

    def stop(self) -> None:
        async def _close() -> None:
            if self._hci is not None:
                await self._hci.close()
            if self._sock is not None:
                self._sock.close()

        if self._thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(_close(), self._loop).result(5.0)
            except Exception:  # noqa: BLE001 - best effort
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5.0)
        if not self._loop.is_running():
            self._loop.close()
