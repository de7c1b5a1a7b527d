"""What each receiver may see: a view per sink, over one bundle set, computed once per window.

A sink's ``?view=`` names what it gets (Psychoula et al.'s disclose / generalize / delete, per receiver)::

    view=strict                       the windows of set member ``strict`` (disclose, sanitized)
    view=label                        only the estimated activity and its probability: no samples at all
    view=default;rate=6.25            the default member's windows, generalized to 6.25 Hz (block means)
    view=default;delete=jog,static    windows estimated jog or static are dropped (counted, never sent)
    view=default;switch=strict@jog    dynamic: member ``strict`` while the estimate is jog, else default

Options combine (``view=default;switch=strict@jog;delete=static;rate=12.5``). The estimate is the
set's activity estimator (``estimator.py``) on the raw view window, on the device; a view that needs
none never runs it. Per window each model and the estimator run at most once however many sinks
share them; the windows themselves are the same for every view. What deletion does *not* hide: a
receiver still sees a gap in ``window_id`` and time where a window was dropped, so it learns *that*
something was withheld; ``switch`` hides that too (every window is sent, some more sanitized).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .bundleset import DEFAULT_VIEW, ModelSet
from .errors import ManifestError
from .sinks.base import AnonymizedWindow

__all__ = ["View", "parse_view", "Views", "LABEL", "Common"]

LABEL = "label"
_EMPTY = np.empty((0, 0), np.float32)  # a label-only record's data: no samples at all

Common = tuple[int, str, int, "int | None", float, float, tuple[str, ...], tuple[str, ...], tuple[str, ...]]
"""A window's record fields every view shares, in ``AnonymizedWindow`` order: window_id, stream,
start_sample, t_device_us, t_gateway, rate_hz, channels, units, then flags (after ``data`` there)."""

# a record from all 14 fields in order: ``tuple.__new__`` skips the named tuple's keyword parsing
# (0.17 µs instead of 0.54 per record, several records a window)
_record: Callable[[tuple[Any, ...]], AnonymizedWindow] = functools.partial(tuple.__new__, AnonymizedWindow)


@dataclass(frozen=True)
class View:
    """One receiver's view: ``member`` of the set (or ``label``), then the options."""

    member: str
    rate_hz: float = 0.0  # 0 = the stream's rate
    delete: frozenset[str] = frozenset()
    switch: str = ""  # member used while the estimate is in ``on``
    on: frozenset[str] = frozenset()

    @property
    def label_only(self) -> bool:
        return self.member == LABEL

    @property
    def needs_estimate(self) -> bool:
        return self.label_only or bool(self.delete) or bool(self.on)


def _no_estimator(what: str) -> ManifestError:
    return ManifestError(f"view option {what} needs an activity estimator in the bundle set (a member whose "
                         "manifest has labels, e.g. edge_runtime/bundled/activity)")  # fmt: skip


def _labels(text: str, what: str, known: tuple[str, ...]) -> frozenset[str]:
    names = frozenset(t.strip() for t in text.split(",") if t.strip())
    if not names:
        raise ManifestError(f"view option {what} names no activity")
    if not known:
        raise _no_estimator(what)
    unknown = sorted(names - set(known))
    if unknown:
        raise ManifestError(f"view option {what}: unknown activity {', '.join(unknown)}; the estimator knows {', '.join(known)}")
    return names


def parse_view(spec: str, models: ModelSet) -> View:
    """``spec`` (a sink's ``?view=``; "" = the default member) checked against ``models``.

    Raises:
        ManifestError: an unknown member, option or activity, a rate the window cannot be cut to,
            or an option that needs the estimator in a set without one (one line naming it).
    """
    base, *options = [p.strip() for p in (spec or "").split(";")]
    known = models.estimator[0].labels if models.estimator else ()
    member = LABEL if base == LABEL else models.view_of(base)
    if base == LABEL and not known:
        raise _no_estimator(LABEL)
    view = View(member)
    for opt in options:
        key, sep, value = opt.partition("=")
        if not sep or not value:
            raise ManifestError(f"view option {opt!r} must be key=value (rate, delete, switch)")
        if key == "rate":
            view = replace(view, rate_hz=_rate(value, models))
        elif key == "delete":
            view = replace(view, delete=_labels(value, "delete", known))
        elif key == "switch":
            target, at, labels = value.partition("@")
            if not at:
                raise ManifestError(f"view option switch={value} must be MEMBER@ACTIVITY[,ACTIVITY]")
            view = replace(view, switch=models.view_of(target), on=_labels(labels, "switch", known))
        else:
            raise ManifestError(f"unknown view option {key!r} (known: rate, delete, switch)")
    if view.label_only and (view.rate_hz or view.switch):
        raise ManifestError("a label view releases no samples: rate and switch do not apply to it")
    return view


def _rate(text: str, models: ModelSet) -> float:
    window = models.primary[0].window
    try:
        hz = float(text)
    except ValueError:
        raise ManifestError(f"view option rate={text} is not a number [Hz]") from None
    k = window.rate_hz / hz if hz > 0 else 0.0
    if not (k >= 2 and abs(k - round(k)) < 1e-9 and window.length // round(k) >= 1):
        raise ManifestError(f"view option rate={text}: must be the stream's {window.rate_hz:g} Hz divided by an "
                            f"integer >= 2 (e.g. {window.rate_hz / 2:g}, {window.rate_hz / 4:g}, {window.rate_hz / 8:g})")  # fmt: skip
    return hz


def generalize(data: np.ndarray, factor: int) -> np.ndarray:
    """``(L, C)`` -> ``(L // factor, C)`` block means (a trailing partial block is dropped)."""
    return np.matmul(_averaging(len(data), factor), data)  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=64)
def _averaging(length: int, factor: int) -> np.ndarray:
    """``(length // factor, length)``: row ``i`` holds ``1 / factor`` over block ``i``'s samples.

    Why a matrix: one ``matmul`` per window where a ``reduceat`` and a divide took two ufunc calls,
    and next to the interpreter every numpy call costs 1.5-2.5 µs of cold dispatch, not its 0.5 µs
    in a warm loop (measured in the views path: 4.6 µs instead of 6.0)."""
    n = length // factor
    w = np.zeros((n, length), np.float32)
    for i in range(n):
        w[i, i * factor : (i + 1) * factor] = np.float32(1.0 / factor)
    w.flags.writeable = False
    return w


@dataclass(frozen=True)
class _Spec:
    """A sink not opened yet, by its ``?view=`` text (the gateway's per-stream sinks)."""

    view: str


class Views:
    """The views of ``sinks`` over ``models``: ``records`` per window, ``batch`` for many at once.

    Raises:
        ManifestError: a sink's view does not parse against the set (``parse_view``).
    """

    def __init__(self, models: ModelSet, sinks: Sequence[Any]) -> None:
        self.models = models
        groups: dict[View, list[Any]] = {}
        self.spec_of: dict[View, str] = {}
        self.view_of: dict[str, View] = {}  # a sink's ?view= text -> its parsed view
        for sink in sinks:
            spec = getattr(sink, "view", "")
            view = self.view_of[spec] = parse_view(spec, models)
            groups.setdefault(view, []).append(sink)
            self.spec_of.setdefault(view, spec or DEFAULT_VIEW)
        self.groups = list(groups.items())
        window = models.primary[0].window
        self._version = {name: m.model_version for name, (m, _) in models.members.items()}
        # per group, what ``records`` needs, worked out once: per window only plain tuples are read
        # (a frozen dataclass's hash and properties cost more than the decisions themselves)
        self._plan = [(sinks, v.label_only, v.delete, v.on, v.switch, v.member, self.spec_of[v],
                       _averaging(window.length, round(window.rate_hz / v.rate_hz)) if v.rate_hz else None,
                       v.rate_hz, f"@{v.rate_hz:g}Hz" if v.rate_hz else "") for v, sinks in self.groups]  # fmt: skip
        self.estimate_needed = any(v.needs_estimate for v in groups)
        self.deleted = {self.spec_of[v]: 0 for v in groups if v.delete}  # windows withheld, per view
        self.calls: dict[str, int] = {}  # model runs per member (each at most once per window)

    @classmethod
    def for_specs(cls, models: ModelSet, specs: Iterable[str]) -> Views:
        """The views of sinks known by their ``?view=`` text only."""
        return cls(models, [_Spec(s) for s in sorted(set(specs))])

    def carry_counts(self, old: Views) -> None:
        """Add ``old``'s counters (the views before a hot swap) to these."""
        for spec, n in old.deleted.items():
            self.deleted[spec] = self.deleted.get(spec, 0) + n
        for name, n in old.calls.items():
            self.calls[name] = self.calls.get(name, 0) + n

    def _estimate(self, data: np.ndarray) -> tuple[str, float]:
        if not self.estimate_needed or self.models.estimator is None:
            return "", 0.0
        self.calls[LABEL] = self.calls.get(LABEL, 0) + 1
        return self.models.estimator[1].estimate(data)  # type: ignore[no-any-return]

    def _label(self, head: tuple[Any, ...], flags: tuple[str, ...], label: str, p: float) -> AnonymizedWindow:
        assert self.models.estimator is not None
        return _record((*head[:6], (), (), _EMPTY, flags, self.models.estimator[0].model_version, LABEL,
                        label, round(p, 4)))  # fmt: skip

    def _run(self, name: str, data: np.ndarray, metrics: Any) -> np.ndarray:
        model = self.models.members[name][1]
        y: np.ndarray = model.run(data)
        self.calls[name] = self.calls.get(name, 0) + 1
        if metrics is not None:
            metrics.interpreter.add(model.last_invoke_s)
        return y

    def _made(self, head: tuple[Any, ...], flags: tuple[str, ...], name: str, y: np.ndarray, avg: np.ndarray | None,
              hz: float, suffix: str) -> AnonymizedWindow:  # fmt: skip
        """The record of member ``name``'s output ``y``, generalized by ``avg`` to ``hz`` if given."""
        if avg is None:
            return _record((*head, y, flags, self._version[name], name, None, None))
        return _record((*head[:5], hz, *head[6:], np.matmul(avg, y), flags, self._version[name], name + suffix,
                        None, None))  # fmt: skip

    def records(self, common: Common, data: np.ndarray, metrics: Any = None) -> list[tuple[list[Any], AnonymizedWindow]]:
        """``(sinks, record)`` for every view that sends this window.

        ``common``: what every view's record of this window shares (``Common``); ``data``: the raw
        view window, which never goes into a record."""
        head, flags = common[:8], common[8]
        label, p = self._estimate(data)
        outputs: dict[str, np.ndarray] = {}
        out: list[tuple[list[Any], AnonymizedWindow]] = []
        for sinks, label_only, delete, on, switch, member, spec, avg, hz, suffix in self._plan:
            if label_only:
                out.append((sinks, self._label(head, flags, label, p)))
            elif label in delete:
                self.deleted[spec] += 1
            else:
                name = switch if label in on else member
                y = outputs.get(name)
                if y is None:  # each model at most once per window
                    y = outputs[name] = self._run(name, data, metrics)
                out.append((sinks, self._made(head, flags, name, y, avg, hz, suffix)))
        return out

    def batch(self, commons: list[Common], datas: np.ndarray,
              metrics: Any = None) -> dict[str, list[AnonymizedWindow | None]]:  # fmt: skip
        """``records`` for N windows at once, each model one ``run_batch`` over the windows that need
        it. Returns, per ``?view=`` text, one record per window (None where the view deleted it)."""
        estimates = [self._estimate(d) for d in datas]
        member: dict[View, list[str | None]] = {}
        need: dict[str, set[int]] = {}
        for view, _ in self.groups:
            names: list[str | None] = []
            for i, (label, _p) in enumerate(estimates):
                name = None if view.label_only or label in view.delete else view.switch if label in view.on else view.member
                names.append(name)
                if name is not None:
                    need.setdefault(name, set()).add(i)
            member[view] = names
        outputs: dict[str, dict[int, np.ndarray]] = {}
        for name, wanted in need.items():
            idx = sorted(wanted)
            model = self.models.members[name][1]
            outputs[name] = dict(zip(idx, model.run_batch(datas[idx]), strict=True))
            self.calls[name] = self.calls.get(name, 0) + len(idx)
            if metrics is not None:
                metrics.interpreter.add(model.last_invoke_s / len(idx))
        heads = [(c[:8], c[8]) for c in commons]  # each window's shared fields and flags, cut once
        by_view: dict[View, list[AnonymizedWindow | None]] = {}
        for (view, _), (_s, label_only, _d, _o, _w, _m, spec, avg, hz, suffix) in zip(self.groups, self._plan, strict=True):
            recs: list[AnonymizedWindow | None] = []
            for i, name in enumerate(member[view]):
                if label_only:
                    recs.append(self._label(*heads[i], *estimates[i]))
                elif name is None:
                    self.deleted[spec] += 1
                    recs.append(None)
                else:
                    recs.append(self._made(*heads[i], name, outputs[name][i], avg, hz, suffix))
            by_view[view] = recs
        return {spec: by_view[v] for spec, v in self.view_of.items()}
