"""Sources chosen by URL, like ``serial_for_url``.

    serial:///dev/ttyUSB0?baud=115200     sources/serial.py (also a bare device path)
    ble://AA:BB:CC:DD:EE:FF               sources/ble.py (bleak; bumble transports for tests)
    replay:///path/rec.imu?speed=1        sources/replay.py (recorded wire bytes)
    tcp://127.0.0.1:7000                  sources/tcp.py (emulator over TCP)
    tcp-listen://0.0.0.0:7000?max=2000    sources/tcp_listen.py: many devices, gateway only (not a Source)
"""

from __future__ import annotations

import importlib
from urllib.parse import urlsplit

from ..errors import SourceError
from .base import Source

__all__ = ["Source", "open_source", "SCHEMES"]

# scheme -> "module:Class"; modules are imported lazily so a missing extra (bleak) only matters when used
SCHEMES: dict[str, str] = {
    "serial": "edge_runtime.sources.serial:SerialSource",
    "ble": "edge_runtime.sources.ble:BleSource",
    "replay": "edge_runtime.sources.replay:ReplaySource",
    "tcp": "edge_runtime.sources.tcp:TcpSource",
}


def open_source(url: str) -> Source:
    """Build (not open) the source for ``url``; a bare path means ``serial://``.

    Raises:
        SourceError: unknown scheme, or the backend's extra is not installed.
    """
    scheme = urlsplit(url).scheme if "://" in url else "serial"
    target = SCHEMES.get(scheme)
    if target is None:
        raise SourceError(f"unknown source scheme {scheme!r} in {url!r}; known: {', '.join(sorted(SCHEMES))}")
    module_name, cls_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = {"ble": "ble", "serial": "edge"}.get(scheme, "edge")
        raise SourceError(f"{scheme} source needs an extra: pip install 'edge-anonymize[{extra}]' ({exc.name} missing)") from exc
    cls: type[Source] = getattr(module, cls_name)
    return cls.from_url(url)  # type: ignore[attr-defined, no-any-return]
