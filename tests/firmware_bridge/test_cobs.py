"""COBS: predefined encodings, error cases, a sweep across the 254-byte block boundary, and
agreement with the independent cobs-python package."""

from __future__ import annotations

import pytest
from cobs import cobs as cobs_python
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge import cobs

PREDEFINED = [
    (b"", b"\x01"),
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"12345\x006789", b"\x0612345\x056789"),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255))),
    (bytes(range(0, 255)), b"\x01\xff" + bytes(range(1, 255))),
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
]
BAD = [b"\x00", b"\x05\x01\x02", b"\x02", b"\x03\x01\x00\x01", b"\x01\x00"]


@pytest.mark.parametrize(("plain", "encoded"), PREDEFINED)
def test_predefined(plain: bytes, encoded: bytes) -> None:
    assert cobs.encode(plain) == encoded
    assert cobs.decode(encoded) == plain


@pytest.mark.parametrize("bad", BAD)
def test_decode_errors(bad: bytes) -> None:
    with pytest.raises(cobs.CobsError):
        cobs.decode(bad)


def test_str_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        cobs.encode("abc")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cobs.decode("abc")  # type: ignore[arg-type]


@pytest.mark.parametrize("fill", [0x00, 0x01, 0xFF])
def test_length_sweep_across_block_boundary(fill: int) -> None:
    for n in range(0, 800):
        data = bytes([fill]) * n
        enc = cobs.encode(data)
        assert enc == cobs_python.encode(data), n
        assert 0 not in enc
        assert len(enc) <= cobs.max_encoded_length(n)
        assert cobs.decode(enc) == data
    # the bound is tight for zero-free data
    assert len(cobs.encode(b"\x01" * 400)) == cobs.max_encoded_length(400) == 402


@given(st.binary(max_size=1200))
def test_roundtrip_and_agreement(data: bytes) -> None:
    enc = cobs.encode(data)
    assert enc == cobs_python.encode(data)
    assert cobs.decode(enc) == data
    assert len(enc) <= cobs.max_encoded_length(len(data))


@given(st.binary(max_size=600))
def test_decode_arbitrary_raises_only_cobs_error(data: bytes) -> None:
    try:
        out = cobs.decode(data)
    except cobs.CobsError:
        with pytest.raises(cobs_python.DecodeError):
            cobs_python.decode(data)
    else:
        assert out == cobs_python.decode(data)
