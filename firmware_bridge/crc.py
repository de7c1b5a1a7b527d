"""CRC-32 (ISO-HDLC, the zlib/Ethernet polynomial) over header+payload of every frame.

``crc32`` is zlib's C implementation, used on the hot path. ``crc32_reference`` is an
independent table-driven pure-Python version; tests check both against each other and against
the nibble-table C implementation in ``firmware/crc32.c``. Why CRC-32 and not CRC-16: see
PROTOCOL.md (a random candidate passes CRC-16 with p = 2^-16, CRC-32 with p = 2^-32).
"""

from __future__ import annotations

import zlib

__all__ = ["POLY_REFLECTED", "TABLE", "crc32", "crc32_reference"]

POLY_REFLECTED = 0xEDB88320  # 0x04C11DB7 bit-reversed; init 0xFFFFFFFF, final xor 0xFFFFFFFF


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        c = byte
        for _ in range(8):
            c = (c >> 1) ^ POLY_REFLECTED if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


TABLE = _make_table()


def crc32(data: bytes, value: int = 0) -> int:
    """CRC-32 of ``data`` continuing from ``value`` (0 to start), as an unsigned 32-bit int."""
    return zlib.crc32(data, value) & 0xFFFFFFFF


def crc32_reference(data: bytes, value: int = 0) -> int:
    """Same result as :func:`crc32`, byte-at-a-time with a 256-entry table (slow; for cross-checks)."""
    c = value ^ 0xFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF
