"""The C decoder (``firmware/libprotocol.so``) behind the Python decoder's interface, via ctypes.

Lets tests and benchmarks run both implementations on the same bytes. Each frame the C decoder
accepts comes back re-encoded by the C encoder and is parsed by :func:`protocol.decode_body`, so a
C field-parsing bug shows up as a mismatch with the Python decoder's frame.
"""

from __future__ import annotations

import ctypes
import shutil
import struct
import subprocess
from pathlib import Path

from .protocol import REASONS, Frame, decode_body

__all__ = ["FIRMWARE_DIR", "LIBRARY", "build_library", "NativeDecoder"]

FIRMWARE_DIR = Path(__file__).with_name("firmware")
LIBRARY = FIRMWARE_DIR / "build" / "libprotocol.so"
_SIZE_MAX = ctypes.c_size_t(-1).value


def build_library(timeout_s: float = 120.0) -> Path:
    """``make -C firmware lib``; returns the library path.

    Raises:
        RuntimeError: make or a C compiler is missing, or the build failed (message has make's last line).
    """
    if shutil.which("make") is None or shutil.which("cc") is None and shutil.which("gcc") is None:
        raise RuntimeError("building libprotocol.so needs make and a C compiler")
    proc = subprocess.run(["make", "-s", "-C", str(FIRMWARE_DIR), "lib"], capture_output=True, text=True,
                          timeout=timeout_s, check=False)  # fmt: skip
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"make lib failed: {last[0]}")
    return LIBRARY


def _load(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    size_t, p = ctypes.c_size_t, ctypes.c_void_p
    lib.fb_decoder_sizeof.restype = size_t
    lib.fb_decoder_init.argtypes = [p, size_t]
    lib.fb_decoder_feed.argtypes = [p, ctypes.c_char_p, size_t, p, size_t]
    lib.fb_decoder_feed.restype = size_t
    lib.fb_decoder_finish.argtypes = [p, p, size_t]
    lib.fb_decoder_finish.restype = size_t
    lib.fb_decoder_stat.argtypes = [p, ctypes.c_int]
    lib.fb_decoder_stat.restype = ctypes.c_uint32
    lib.fb_decoder_buffered.argtypes = [p]
    lib.fb_decoder_buffered.restype = size_t
    return lib


class NativeDecoder:
    """Same ``feed``/``flush``/``stats``/``buffered`` surface as :class:`protocol.FrameDecoder`."""

    def __init__(self, library: Path | str = LIBRARY, max_body: int = 400) -> None:
        self._lib = _load(Path(library))
        self._state = ctypes.create_string_buffer(self._lib.fb_decoder_sizeof())
        self._lib.fb_decoder_init(self._state, max_body)
        self._out = ctypes.create_string_buffer(4096)

    def _frames(self, n: int) -> list[Frame]:
        if n == _SIZE_MAX:
            raise RuntimeError("output buffer too small")  # cannot happen with the sizing in feed()
        raw, pos, frames = self._out.raw, 0, []
        while pos < n:
            (length,) = struct.unpack_from("<H", raw, pos)
            frames.append(decode_body(raw[pos + 2 : pos + 2 + length]))
            pos += 2 + length
        return frames

    def feed(self, chunk: bytes) -> list[Frame]:
        need = len(chunk) + 1024  # a frame's re-encoded body is shorter than its wire bytes
        if len(self._out) < need:
            self._out = ctypes.create_string_buffer(need)
        return self._frames(self._lib.fb_decoder_feed(self._state, bytes(chunk), len(chunk), self._out, len(self._out)))

    def flush(self) -> list[Frame]:
        return self._frames(self._lib.fb_decoder_finish(self._state, self._out, len(self._out)))

    @property
    def stats(self) -> dict[str, int]:
        names = ("frames", *REASONS)
        return {name: int(self._lib.fb_decoder_stat(self._state, i)) for i, name in enumerate(names)}

    @property
    def buffered(self) -> int:
        return int(self._lib.fb_decoder_buffered(self._state))
