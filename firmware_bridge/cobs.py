"""Consistent Overhead Byte Stuffing: pure ``bytes -> bytes`` codecs, no framing state.

COBS removes every 0x00 from a body, so 0x00 can delimit frames on the wire and a receiver
resynchronises at the next delimiter after any fault. The caller appends the ``b"\\x00"``.
Same variant as cobs-python and ``firmware/cobs.c`` (a full 254-byte block is not followed by
an extra code byte), so the three agree byte for byte.
"""

from __future__ import annotations

__all__ = ["CobsError", "encode", "decode", "max_encoded_length"]


class CobsError(ValueError):
    """The input is not a valid COBS encoding (the message says why, never the data)."""


def max_encoded_length(n: int) -> int:
    """Upper bound of ``len(encode(data))`` for ``len(data) == n``: one code byte per 254 bytes."""
    if n < 0:
        raise ValueError("length must be >= 0")
    return n + (n + 253) // 254 if n else 1


def encode(data: bytes) -> bytes:
    """Encode ``data``; the result contains no 0x00 byte."""
    if isinstance(data, str):
        raise TypeError("encode() needs bytes, not str")
    data = bytes(data)
    mv = memoryview(data)
    out = bytearray()
    start, n = 0, len(mv)
    while True:
        zero = data.find(0, start, min(n, start + 254)) if n > start else -1
        if zero >= 0:  # block ends at a zero byte that the code byte replaces
            out.append(zero - start + 1)
            out += mv[start:zero]
            start = zero + 1
        elif n - start >= 254:  # full block without zero: 0xFF, no implied zero
            out.append(0xFF)
            out += mv[start : start + 254]
            start += 254
            if start == n:
                break
        else:  # last block
            out.append(n - start + 1)
            out += mv[start:n]
            break
    return bytes(out)


def decode(data: bytes) -> bytes:
    """Decode one COBS block sequence (without the trailing delimiter).

    Raises:
        CobsError: a zero byte in the input, or a code byte pointing past the end.
    """
    if isinstance(data, str):
        raise TypeError("decode() needs bytes, not str")
    if 0 in data:
        raise CobsError("zero byte found in input")
    out = bytearray()
    idx, n = 0, len(data)
    while idx < n:
        code = data[idx]
        end = idx + code
        if end > n:
            raise CobsError("not enough input bytes for length code")
        out += data[idx + 1 : end]
        idx = end
        if idx < n and code < 0xFF:
            out.append(0)
    return bytes(out)
