"""Bundle sets: one gateway, several models, each receiver (sink) reading the view it is allowed.

A set is a folder of bundles plus a ``default`` file naming the member that sinks without
``?view=`` get::

    /opt/edge-anonymize/models/
        default                 "hapt-magnitude"
        hapt-magnitude/         manifest.json, manifest.sig, anonymizer_int8.tflite, ...
        strict/                 another bundle (e.g. a stronger release filter)

Every member is verified exactly like a single bundle. Why the members must agree on the window
(rate, length, channels, units): the source, decoder and windower run once per stream, and each
model gets the same windows. A folder that holds ``manifest.json`` itself is a set of one, named
``default``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ManifestError, ModelError
from .manifest import Manifest

__all__ = ["ModelSet", "load_set", "DEFAULT_VIEW", "WINDOW_FIELDS"]

DEFAULT_VIEW = "default"
WINDOW_FIELDS = ("rate_hz", "length", "channels", "units")


@dataclass(frozen=True)
class ModelSet:
    """Loaded members by view name (each ``(Manifest, Anonymizer)``) and the default's name."""

    members: dict[str, tuple[Manifest, Any]]
    default: str
    estimator: tuple[Manifest, Any] | None = None  # the set's activity estimator (views.py), if any

    @property
    def primary(self) -> tuple[Manifest, Any]:
        return self.members[self.default]

    @property
    def ungated(self) -> bool:
        """Some member did not pass its release gate (every status line then says UNGATED)."""
        return not all(m.gate_passed for m, _ in self.members.values())

    @classmethod
    def single(cls, manifest: Manifest, anonymizer: Any) -> ModelSet:
        return cls({DEFAULT_VIEW: (manifest, anonymizer)}, DEFAULT_VIEW)

    def view_of(self, asked: str) -> str:
        """The member a sink asking for ``asked`` ("" = the default) reads; ManifestError if there is none."""
        name = asked or self.default
        if name == DEFAULT_VIEW and DEFAULT_VIEW not in self.members:
            name = self.default
        if name not in self.members:
            raise ManifestError(f"no view {asked!r} in the bundle set; it has {', '.join(sorted(self.members))}")
        return name

    def check_window(self, running: Any) -> None:
        """Every member's window must equal ``running`` (a WindowSpec). Raises ManifestError naming the field."""
        for name, (m, _) in [*self.members.items(), *([("estimator", self.estimator)] if self.estimator else [])]:
            for f in WINDOW_FIELDS:
                if getattr(m.window, f) != getattr(running, f):
                    raise ManifestError(f"bundle {name} has {f} {getattr(m.window, f)}, the stream runs "
                                        f"{getattr(running, f)}: all models of a set share one window")  # fmt: skip


def _members(folder: Path) -> list[Path]:
    try:
        return sorted(d for d in folder.iterdir() if d.is_dir() and (d / "manifest.json").is_file())
    except OSError as exc:
        raise ManifestError(f"cannot read bundle folder {folder}: {exc.strerror}") from None


def load_set(folder: str | Path, load_one: Callable[[Path], tuple[Manifest, Any]]) -> ModelSet:
    """Load ``folder`` (a bundle, or a set of them) with ``load_one`` for each member.

    Raises:
        ManifestError: no bundle in it, no or an unknown ``default``, members whose windows differ,
            or any member's own refusal (the message names the member).
    """
    root = Path(folder)
    dirs = [] if (root / "manifest.json").is_file() or not root.is_dir() else _members(root)
    if not dirs:  # a bundle (or not one: the bundle loader says what is missing)
        return ModelSet.single(*load_one(root))
    names = [d.name for d in dirs]
    marker = root / "default"
    if marker.is_file():
        default = marker.read_text(encoding="utf-8", errors="replace").strip()
        if default not in names:
            raise ManifestError(f"bundle set {root}: 'default' names {default!r}, the set has {', '.join(names)}")
    else:
        default = ""  # the one anonymizer of the set, once loaded (an estimator is never a default)
    members: dict[str, tuple[Manifest, Any]] = {}
    estimators: dict[str, tuple[Manifest, Any]] = {}
    for d in dirs:
        try:
            loaded = load_one(d)
        except (ManifestError, ModelError) as exc:
            raise type(exc)(f"bundle set member {d.name}: {exc}") from None
        (estimators if loaded[0].is_estimator else members)[d.name] = loaded
    if len(estimators) > 1:
        raise ManifestError(f"bundle set {root} has {len(estimators)} activity estimators ({', '.join(estimators)}); at most one")
    if not default and len(members) != 1:
        raise ManifestError(f"bundle set {root} has {len(members)} anonymizers ({', '.join(members)}) and no "
                            "'default' file naming the one sinks without ?view= get")  # fmt: skip
    default = default or next(iter(members))
    if default not in members:
        raise ManifestError(f"bundle set {root}: the default {default!r} is an activity estimator, not an anonymizer")
    out = ModelSet(members, default, next(iter(estimators.values()), None))
    out.check_window(out.primary[0].window)
    return out
