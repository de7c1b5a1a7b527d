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

    Each code byte after the first sits exactly where the decoded zero it stands for goes, so the
    output is the input without its first byte, those code bytes set to 0 (removed after a full
    0xFF block): the loop only walks the code chain, it copies nothing (a gateway decodes every frame).

    Raises:
        CobsError: a zero byte in the input, or a code byte pointing past the end.
    """
    if isinstance(data, str):
        raise TypeError("decode() needs bytes, not str")
    if 0 in data:
        raise CobsError("zero byte found in input")
    out = bytearray(data)
    full: list[int] = []  # code bytes after a 0xFF block: no zero there
    idx, prev, n = 0, 0, len(data)
    while idx < n:
        code = data[idx]
        if idx + code > n:
            raise CobsError("not enough input bytes for length code")
        if idx:
            if prev == 0xFF:
                full.append(idx)
            else:
                out[idx] = 0
        prev = code
        idx += code
    if not full:
        return bytes(out[1:])
    keep, start = [], 1
    for k in full:
        keep.append(out[start:k])
        start = k + 1
    keep.append(out[start:])
    return b"".join(keep)
