"""One stream of the gateway: its decoder, windower, window ids and counters; and how it is named.

A listener's connection is named only after its HELLO: ``{listener}-{hmac8}``, the first 8 hex of
HMAC-SHA256(gateway secret, device id). Why not the device id: it identifies the wearer, and it
would reach every consumer in every record and topic. Why not a plain hash: device ids are short
and often sequential, so anyone could hash them all and reverse it; with a secret key they cannot.
Why the same every time: a reconnecting (or re-plugged) device continues its stream (its window
ids go on), and consumers keep one topic per wearer. The secret comes from the config or is made
once and kept in a state file (0600), so names survive restarts; a new secret renames every stream.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import GatewayConfig, StreamConfig
from .contract import WindowSpec
from .decoder import StreamDecoder, StreamInfo, check_stream
from .manifest import Manifest
from .windower import Window, Windower, stream_windows

__all__ = ["Stream", "stream_secret", "listener_stream_name", "default_state_file"]

log = logging.getLogger("edge_anonymize")
COUNTERS = ("chunks", "bytes", "windows", "connections", "closed")


def default_state_file() -> Path:
    """``$STATE_DIRECTORY`` (systemd StateDirectory=) else ``~/.local/state/edge-anonymize``."""
    base = os.environ.get("STATE_DIRECTORY")
    folder = Path(base) if base else Path.home() / ".local" / "state" / "edge-anonymize"
    return folder / "gateway.secret"


def stream_secret(cfg: GatewayConfig) -> bytes:
    """The configured secret, else the one in the state file, made there (0600) on first use."""
    if cfg.secret:
        return cfg.secret.encode()
    path = Path(cfg.state_file) if cfg.state_file else default_state_file()
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (FileNotFoundError, ValueError):
        pass
    key = secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key.hex() + "\n")
    os.replace(tmp, path)
    log.info("gateway: new stream-name secret in %s (keep it: listener stream names derive from it)", path)
    return key


def listener_stream_name(listener: str, secret: bytes, device_id: int) -> str:
    """``{listener}-{first 8 hex of HMAC-SHA256(secret, device id as 8 bytes LE)}``."""
    mac = hmac.new(secret, device_id.to_bytes(8, "little"), hashlib.sha256).hexdigest()
    return f"{listener}-{mac[:8]}"


class Stream:
    """Bytes of one device link in, complete windows out; no I/O.

    Args:
        name: the stream's name ("" for a listener connection until its HELLO names it).
        spec, manifest: the running window and model (``check_stream`` on every HELLO).
        cfg: this stream's decoder settings.
        on_hello: called with the StreamInfo after it passed the check; may rename the stream.
    """

    def __init__(self, name: str, spec: WindowSpec, manifest: Manifest, cfg: StreamConfig, *, max_interp: int,
                 label: str = "", clock: Callable[[], float] = time.monotonic,
                 on_hello: Callable[[Stream, StreamInfo], None] | None = None) -> None:  # fmt: skip
        self.name, self.label, self.spec, self.manifest, self.cfg = name, label or name, spec, manifest, cfg
        self.decoder = StreamDecoder(cfg)
        self.windower = Windower.for_spec(spec, max_interp)
        self.window_id = 0
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.counts["connections"] = 1
        self.state = "connected"
        self.reason = ""  # why it was closed
        self._on_hello = on_hello
        self._clock = clock
        self.opened = self.last_frame = clock()
        self._frames = 0
        self._totals: dict[str, int] = {}  # decoder/windower counts of earlier links of this stream

    def feed(self, data: bytes) -> list[Window]:
        """Decode ``data``; windows are copies (several streams' windows wait for one batch).

        Raises:
            StreamMismatchError: the HELLO does not match the model (the caller closes this stream).
        """
        self.counts["chunks"] += 1
        self.counts["bytes"] += len(data)
        events = self.decoder.feed(data)
        frames = self.decoder.frames.stats["frames"]
        if frames != self._frames:
            self._frames, self.last_frame = frames, self._clock()
        if not events:
            return []
        out = [Window(w.start, w.t_us, w.data.copy(), w.flags)
               for w in stream_windows(events, self.windower, self.spec.view, self._hello)]  # fmt: skip
        self.counts["windows"] += len(out)
        return out

    def reset(self) -> list[Window]:
        """The link was lost and came back (reader's reconnect): forget partial frames and the HELLO."""
        self.counts["connections"] += 1
        return list(stream_windows(self.decoder.reset(), self.windower, self.spec.view, self._hello))

    def _hello(self, info: StreamInfo) -> None:
        check_stream(info, self.manifest, self.cfg)
        self.state = "streaming"
        if self._on_hello is not None:
            self._on_hello(self, info)

    def take_over(self, old: Stream) -> None:
        """This link continues ``old`` (same device reconnected): window ids and totals go on."""
        self.window_id = old.window_id
        self._totals = {k: v for k, v in old.stats().items() if isinstance(v, int) and k != "next_window_id"}

    def close(self, reason: str) -> None:
        if self.state != "closed":
            self.state, self.reason = "closed", reason
            self.counts["closed"] += 1

    def stats(self) -> dict[str, Any]:
        """Content-free counters of this stream over all its links (decoder, windower, own)."""
        now: dict[str, int] = {**self.decoder.stats(), **self.windower.counts, **self.counts}
        now.pop("pending", None)
        merged: dict[str, Any] = {k: v + self._totals.get(k, 0) for k, v in now.items()}
        merged["next_window_id"] = self.window_id
        merged["state"] = self.state
        if self.reason:
            merged["reason"] = self.reason
        return merged
