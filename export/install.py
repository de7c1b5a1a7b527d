"""Where a new bundle may land, and landing it atomically: a failed gate never replaces a working bundle.

The rules, checked by ``plan`` *before* any conversion (so a refusal costs nothing) and applied by
``install`` once the gate has spoken:

* ``--out`` that exists and is not a bundle (a file, or a folder with other content): refused.
* gate passed: the new bundle replaces ``--out`` (an existing bundle is swapped out atomically).
* gate failed: ``--out`` is left byte-identical; the new bundle goes to ``<out>.rejected/`` for
  inspection (replacing an older rejected one), unless ``--allow-failed`` asks for it explicitly.
* an ungated bundle asked for explicitly (``--skip-gate``, ``--allow-failed``) lands in ``--out``
  only if that holds no bundle yet; replacing one needs ``--force``.
* an unsigned export never replaces a signed bundle without ``--force`` (the gateway would refuse it).

The swap is one ``renameat2(RENAME_EXCHANGE)`` on Linux, so a crash leaves either bundle, never
none; elsewhere two renames (a crash in between leaves the old one as ``.<name>.old-<pid>``).
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from edge_runtime.manifest import MANIFEST_NAME
from edge_runtime.signing import SIG_NAME

from .convert import ExportError

__all__ = ["Plan", "plan", "rejected_path", "is_bundle", "swap_in"]


@dataclass(frozen=True)
class Plan:
    """What the export was asked to do with ``out``."""

    out: Path
    allow_ungated: bool  # --skip-gate or --allow-failed: an ungated bundle may land in ``out``
    force: bool


def rejected_path(out: Path) -> Path:
    return out.with_name(out.name + ".rejected")


def is_bundle(p: Path) -> bool:
    return p.is_dir() and (p / MANIFEST_NAME).is_file()


def _check_target(p: Path, what: str) -> None:
    if p.exists() and (not p.is_dir() or (any(p.iterdir()) and not is_bundle(p))):
        raise ExportError(f"{what} {p} exists and is not a model bundle; refusing to overwrite it")


def plan(out: str | os.PathLike[str], *, allow_ungated: bool = False, force: bool = False,
         signed: bool = False) -> Plan:  # fmt: skip
    """Check ``out`` before any work is done.

    Raises:
        ExportError: one line naming the folder and the flag that would allow it.
    """
    p = Path(out)
    _check_target(p, "--out")
    _check_target(rejected_path(p), "the folder for a rejected bundle,")
    if is_bundle(p) and not force:
        if allow_ungated:
            raise ExportError(f"{p} holds a bundle and an ungated export (--skip-gate/--allow-failed) never replaces "
                              "one: choose another --out, or add --force")  # fmt: skip
        if not signed and (p / SIG_NAME).is_file():
            raise ExportError(f"{p} holds a signed bundle and this export is unsigned (the gateway would refuse it): "
                              "give --signing-key KEY, or add --force")  # fmt: skip
    return Plan(p, allow_ungated, force)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2`` with ``RENAME_EXCHANGE``); False where unsupported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def swap_in(tmp: Path, out: Path) -> None:
    """Replace ``out`` by the finished folder ``tmp`` (a sibling); the old bundle is removed after."""
    if not out.exists():
        os.rename(tmp, out)
    elif _exchange(tmp, out):
        shutil.rmtree(tmp, ignore_errors=True)  # ``tmp`` now holds the old bundle
    else:
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.rename(out, old)
        os.rename(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(out.parent)
