"""Hot swap: reload the bundle on SIGHUP (or when its files change) without stopping the stream.

A reload runs beside the pipeline, on its own thread: the bundle is verified exactly as at start
(checksums, signature, gate, runtime and op versions) and its model fully loaded, then handed to
``Pipeline.swap``, which switches between two windows. Anything wrong leaves the running model in
place with one error line: a gateway never stops sending because a bad bundle was copied over.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import EdgeError

__all__ = ["Reloader", "bundle_stamp"]

log = logging.getLogger("edge_anonymize")


def bundle_stamp(folder: Path) -> tuple[int, ...] | None:
    """What changes when a bundle is replaced (``aae export`` swaps the folder; a copy rewrites files)."""
    try:
        st = [os.stat(folder), *(os.stat(folder / n) for n in ("manifest.json", "manifest.sig") if (folder / n).exists())]
    except OSError:
        return None
    return tuple(x for s in st for x in (s.st_ino, s.st_mtime_ns, s.st_size))


class Reloader:
    """Loads ``bundle`` with ``load`` (the CLI's own rules) and swaps it into ``pipeline``.

    Args:
        load: bundle folder -> ``ModelSet`` (``bundleset.load_set``); raises EdgeError on any refusal.
        pipeline: has ``swap(models)`` and ``manifest``.
        watch_s: poll the bundle's files this often [s] and reload when they change; 0 = SIGHUP only.
    """

    def __init__(self, bundle: Path, load: Callable[[Path], Any], pipeline: Any, *,
                 watch_s: float = 0.0) -> None:  # fmt: skip
        self.bundle, self._load, self.pipeline, self.watch_s = Path(bundle), load, pipeline, watch_s
        self.reloads = 0
        self.refused = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reload", daemon=True)
        self._thread.start()

    def request(self) -> None:
        """Ask for a reload (signal-handler safe: it only sets an event)."""
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(5)

    def reload_now(self) -> bool:
        """Load, verify and swap in the bundle; False (one error line) if it was refused."""
        running = self.pipeline.manifest.model_version
        try:
            models = self._load(self.bundle)
            self.pipeline.swap(models)
        except EdgeError as exc:
            self.refused += 1
            log.error("reload refused, model %s keeps running: %s", running, exc)
            return False
        self.reloads += 1
        names = ", ".join(m.model_version for m, _ in models.members.values())
        log.info("reload: model %s verified and loaded; it takes over at the next window", names)
        return True

    def _loop(self) -> None:
        stamp = bundle_stamp(self.bundle)
        timeout = self.watch_s if self.watch_s > 0 else None
        while not self._stop.is_set():
            asked = self._wake.wait(timeout)
            self._wake.clear()
            if self._stop.is_set():
                return
            now = bundle_stamp(self.bundle)
            if asked or (now is not None and now != stamp):
                stamp = now
                self.reload_now()
