"""Streaming sliding windows over contiguous runs of samples; a window never spans a gap.

``Windower.push(start, samples)`` takes blocks with their device sample index and returns every
window that became complete, starting at the run's first sample and every ``stride`` after, the
same windows ``contract.sliding_windows`` cuts from the run at once. A jump in ``start`` of at
most ``max_interp`` samples is filled by linear interpolation and the windows containing it are
flagged; a longer jump, or ``restart()``, starts a new run.

Window ``data`` are read-only views into one buffer, valid until the next ``push``/``restart``:
the pipeline consumes them at once, so the hot path copies nothing.

With a ``view`` (``for_spec``) the windower takes canonical ``(n, 6)`` samples and converts them to
the view's channels only when a window needs them: one ``contract.to_view`` per window instead of
one per 5-sample frame (9 of a frame's 41 µs on the live path). The view is computed row by row, so
the values are those of converting each block as it comes, bit for bit; a gap is bridged in the
view's values, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from .contract import CANONICAL_CHANNELS, WindowSpec, to_view
from .decoder import FLAG_INTERPOLATED, FLAG_NAMES, Block, Gap, StreamInfo

__all__ = ["Window", "Windower", "stream_windows"]


@dataclass(frozen=True)
class Window:
    """``data``: ``(length, C)`` float32 view; ``start``: device index of its first sample."""

    start: int
    t_us: int | None
    data: np.ndarray
    flags: int = 0

    @property
    def flag_names(self) -> tuple[str, ...]:
        if not self.flags:  # nearly every window: no generator per window
            return ()
        return tuple(name for bit, name in FLAG_NAMES.items() if self.flags & bit)


class Windower:
    """Push-style windowing of one stream.

    Args:
        length: samples per window (the manifest's W).
        stride: samples between window starts.
        channels: columns per sample.
        max_interp: longest gap [samples] bridged by linear interpolation (0 = never).
        period_us: device sample period, used to give interpolated samples a time [µs].
        view: ``push`` takes canonical samples and windows hold this view's ``channels`` (lazily).
    """

    def __init__(self, length: int, stride: int, channels: int, *, max_interp: int = 5, period_us: float = 0.0,
                 view: str | None = None) -> None:  # fmt: skip
        if length < 1 or stride < 1 or channels < 1 or max_interp < 0:
            raise ValueError("length, stride, channels must be >= 1 and max_interp >= 0")
        self.length, self.stride, self.channels = length, stride, channels
        self.max_interp, self.period_us, self.view = max_interp, period_us, view
        self._in = len(CANONICAL_CHANNELS) if view is not None else channels  # columns of a pushed block
        self._t_offsets: dict[int, np.ndarray] = {}
        self._alloc(4 * length + stride + 64)
        self.counts = {"windows": 0, "restarts": 0, "interpolated_samples": 0, "discarded_samples": 0}
        self.restart()

    @classmethod
    def for_spec(cls, spec: WindowSpec, max_interp: int) -> Windower:
        """The windower of a stream cut to ``spec`` (length, stride, view channels, rate)."""
        return cls(spec.length, spec.stride, len(spec.channels), max_interp=max_interp, period_us=1e6 / spec.rate_hz,
                   view=spec.view)  # fmt: skip

    def _alloc(self, cap: int) -> None:
        self._buf = np.zeros((cap, self.channels), np.float32)
        self._raw = np.zeros((cap, self._in), np.float32) if self.view is not None else self._buf  # pushed, not yet viewed
        self._flags = np.zeros(cap, np.uint8)
        self._t = np.zeros(cap, np.int64)

    def restart(self) -> None:
        """Begin a new run: buffered samples that never made a whole window are discarded."""
        if getattr(self, "_running", False):
            self._end_run()
        self._base = 0  # device index of _buf[0]
        self._n = 0  # filled rows
        self._viewed = 0  # rows below it are in _buf; from it to _n only in _raw (view channels not computed yet)
        self._next = 0  # device index of the next window start
        self._covered = 0  # device index after the last sample that made it into a window
        self._running = False

    def _end_run(self) -> None:
        self.counts["restarts"] += 1
        self.counts["discarded_samples"] += max(self._base + self._n - self._covered, 0)

    @property
    def next_index(self) -> int | None:
        """Device index the next pushed sample should have, or None at the start of a run."""
        return self._base + self._n if self._running else None

    def push(self, start: int, samples: np.ndarray, flags: int = 0, t_us: int | None = None,
             frames_t_us: np.ndarray | None = None) -> list[Window]:  # fmt: skip
        """Append ``samples`` (``(n, C)``) whose first sample has device index ``start``.

        ``frames_t_us``: the block joins ``len(frames_t_us)`` equal frames with these device times.

        Raises:
            ValueError: ``start`` goes backwards, or the block has the wrong shape.
        """
        x = np.asarray(samples, np.float32)
        if x.ndim != 2 or x.shape[1] != self._in:
            raise ValueError(f"expected samples of shape (n, {self._in}), got {x.shape}")
        self._compact()
        if self._running:
            missing = start - (self._base + self._n)
            if missing < 0:
                raise ValueError("samples go backwards; the decoder must drop late frames")
            if missing > self.max_interp or (missing and self._n == 0):
                self._begin(start)
            elif missing:
                self._interpolate(missing, x[0] if len(x) else None, t_us)
        else:
            self._begin(start)
        self._append(x, flags, t_us, None if frames_t_us is None else self._frame_times(frames_t_us, len(x)))
        return self._collect()

    def _frame_times(self, frames_t_us: np.ndarray, n: int) -> np.ndarray:
        offsets = np.round(np.arange(n // len(frames_t_us)) * self.period_us).astype(np.int64)
        return (np.asarray(frames_t_us, np.int64)[:, None] + offsets).ravel()

    def _begin(self, start: int) -> None:
        if self._running:
            self._end_run()
        self._base, self._n, self._next, self._covered, self._running = start, 0, start, start, True
        self._viewed = 0

    def _interpolate(self, missing: int, nxt: np.ndarray | None, t_next: int | None) -> None:
        if nxt is None:
            return
        if self.view is not None:  # bridged in the view's values: the rows so far and the next sample viewed
            self._to_view(self._n)
            nxt = to_view(nxt[None, :], self.view)[0]
        last, t_last = self._buf[self._n - 1].copy(), int(self._t[self._n - 1])
        frac = (np.arange(1, missing + 1, dtype=np.float32) / np.float32(missing + 1))[:, None]
        fill = last + (nxt - last) * frac  # (missing, C)
        times = None
        if t_next is not None:
            times = [round(t_last + (t_next - t_last) * float(f)) for f in frac[:, 0]]
        self._append(fill, FLAG_INTERPOLATED, None, times, viewed=True)
        self.counts["interpolated_samples"] += missing

    def _append(self, x: np.ndarray, flags: int, t_us: int | None, times: list[int] | np.ndarray | None = None,
                viewed: bool = False) -> None:  # fmt: skip
        n = len(x)
        if self._n + n > len(self._buf):
            self._grow(self._n + n)
        i = self._n
        if viewed:  # interpolated rows, already in the view's channels
            self._buf[i : i + n] = x
            self._viewed = i + n
        else:
            self._raw[i : i + n] = x
        self._flags[i : i + n] = flags
        if times is not None:
            self._t[i : i + n] = times
        elif t_us is not None:
            offsets = self._t_offsets.get(n)
            if offsets is None:  # the same few block lengths all the time: compute each once
                offsets = self._t_offsets[n] = np.round(np.arange(n) * self.period_us).astype(np.int64)
            np.add(offsets, t_us, out=self._t[i : i + n])
        else:
            self._t[i : i + n] = -1
        self._n += n

    def _to_view(self, end: int) -> None:
        """Rows ``[_viewed, end)`` from ``_raw`` into ``_buf`` in the view's channels."""
        if self.view is not None and end > self._viewed:
            self._buf[self._viewed : end] = to_view(self._raw[self._viewed : end], self.view)
            self._viewed = end

    def _collect(self) -> list[Window]:
        out: list[Window] = []
        if self._next + self.length <= self._base + self._n:
            self._to_view(self._n)
        while self._next + self.length <= self._base + self._n:
            i = self._next - self._base
            data = self._buf[i : i + self.length]
            data.flags.writeable = False
            flags = int(np.bitwise_or.reduce(self._flags[i : i + self.length]))
            t = int(self._t[i])
            out.append(Window(self._next, t if t >= 0 else None, data, flags))
            self._covered = self._next + self.length
            self._next += self.stride
        self.counts["windows"] += len(out)
        return out

    def _compact(self) -> None:
        """Drop rows no future window needs (only here, so returned views stay valid until the next push)."""
        keep_from = min(self._next - self._base, self._n)
        if keep_from <= 0 or self._n + 64 < len(self._buf) // 2:
            return
        rest = self._n - keep_from
        if self.view is None:
            self._buf[:rest] = self._buf[keep_from : self._n]
        else:  # viewed rows in _buf, the rest in _raw
            viewed, lo = max(self._viewed - keep_from, 0), max(self._viewed, keep_from)
            self._buf[:viewed] = self._buf[keep_from : self._viewed]
            self._raw[lo - keep_from : rest] = self._raw[lo : self._n]
            self._viewed = viewed
        self._flags[:rest] = self._flags[keep_from : self._n]
        self._t[:rest] = self._t[keep_from : self._n]
        self._base += keep_from
        self._n = rest

    def _grow(self, need: int) -> None:
        buf, flags, t, raw = self._buf, self._flags, self._t, self._raw
        self._alloc(max(need, 2 * len(buf)))
        if self.view is not None:
            self._raw[self._viewed : self._n] = raw[self._viewed : self._n]
        self._buf[: self._n], self._flags[: self._n], self._t[: self._n] = (
            buf[: self._n],
            flags[: self._n],
            t[: self._n],
        )


def stream_windows(events: Iterable[StreamInfo | Block | Gap], windower: Windower, view: str,
                   on_info: Callable[[StreamInfo], None]) -> Iterator[Window]:
    """The decoder's events -> complete windows, for the live pipeline and the batch job alike.

    A sequence gap is the windower's to bridge (short) or restart on (long); any other gap (clock
    jump, reconnect, new HELLO) restarts it, so no window mixes samples across it. ``on_info`` sees
    each HELLO first (the caller checks it against the manifest and may raise).
    """
    if windower.view is not None and windower.view != view:
        raise ValueError(f"the windower cuts view {windower.view!r}, not {view!r}")
    lazy = windower.view is not None
    for ev in events:
        if isinstance(ev, Block):
            yield from windower.push(ev.start, ev.samples if lazy else to_view(ev.samples, view), ev.flags, ev.t_us,
                                     ev.frames_t_us)  # fmt: skip
        elif isinstance(ev, Gap):
            if ev.reason != "seq":
                windower.restart()
        else:
            on_info(ev)
