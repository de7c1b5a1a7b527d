"""CRC-32: check value, the pure-Python table reference vs zlib, and the C nibble table vs both."""

from __future__ import annotations

import ctypes
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.crc import crc32, crc32_reference


def test_check_value() -> None:
    assert crc32(b"123456789") == crc32_reference(b"123456789") == 0xCBF43926
    assert crc32(b"") == crc32_reference(b"") == 0


@given(st.binary(max_size=500), st.integers(0, 0xFFFFFFFF))
def test_reference_matches_zlib(data: bytes, start: int) -> None:
    assert crc32_reference(data, start) == crc32(data, start)


@given(st.lists(st.binary(max_size=400), min_size=1, max_size=20))
def test_c_crc_matches_python(native_lib: Path, blobs: list[bytes]) -> None:
    lib = ctypes.CDLL(str(native_lib))
    lib.crc32.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.crc32.restype = ctypes.c_uint32
    for blob in blobs:
        assert lib.crc32(blob, len(blob)) == crc32_reference(blob)
