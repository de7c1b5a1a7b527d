"""The gateway's model stage: the windows of many streams -> one ``run_batch`` per model -> each view's records -> sinks.

Window ids are taken per stream before the model runs, so every view's record of a window has the
same id. A model swap (SIGHUP) is taken between two batches, never inside one.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .bundleset import ModelSet
from .contract import WindowSpec
from .gateway_sinks import StreamSinks
from .gateway_streams import Stream
from .metrics import Metrics
from .sinks.base import send_counted
from .views import Views
from .windower import Window

__all__ = ["Batcher"]


class Batcher:
    """Runs ready windows through ``models`` in batches of at most ``max_batch``."""

    def __init__(
        self, models: ModelSet, spec: WindowSpec, sinks: StreamSinks, metrics: Metrics, max_batch: int
    ) -> None:
        self.models, self.spec, self.sinks, self.metrics, self.max_batch = models, spec, sinks, metrics, max_batch
        self.manifest = models.primary[0]
        self.sizes: dict[int, int] = {}  # batch size -> how many batches had it
        self.swaps = 0
        self._pending: ModelSet | None = None
        self.views = Views.for_specs(models, sinks.views())

    def swap(self, new: ModelSet | tuple[Any, Any]) -> None:
        """Run ``new`` from the next batch on; same rules as ``Pipeline.swap`` (ManifestError)."""
        models = new if isinstance(new, ModelSet) else ModelSet.single(*new)
        models.check_window(self.manifest.window)
        self.sinks.check(models)
        self._pending = models  # one reference assignment: atomic for the loop thread

    def run(self, ready: list[tuple[Stream, Window]]) -> None:
        if self._pending is not None:
            self.models, self._pending = self._pending, None
            self.manifest = self.models.primary[0]
            views, self.views = self.views, Views.for_specs(self.models, self.sinks.views())
            self.views.carry_counts(views)  # counters stay monotonic across a swap
            self.swaps += 1
        for i in range(0, len(ready), self.max_batch):
            self._batch(ready[i : i + self.max_batch])

    def _batch(self, chunk: list[tuple[Stream, Window]]) -> None:
        t0, now = time.perf_counter(), time.time()
        ids = []
        for st, _ in chunk:
            ids.append(st.window_id)
            st.window_id += 1
        x = np.stack([w.data for _, w in chunk])
        spec = self.spec
        commons = [(wid, st.name, w.start, w.t_us, now, spec.rate_hz, spec.channels, spec.units, w.flag_names)
                   for (st, w), wid in zip(chunk, ids, strict=True)]  # views.Common
        by_spec = self.views.batch(commons, x, self.metrics)
        one = len(by_spec) == 1
        for i, (st, _) in enumerate(chunk):
            sinks = self.sinks.of(st.name)
            for view, recs in by_spec.items():
                rec = recs[i]
                if rec is not None:  # None: this view deleted the window (counted by the views)
                    send_counted(sinks if one else [s for s in sinks if s.view == view], rec)
        n = len(chunk)
        self.sizes[n] = self.sizes.get(n, 0) + 1
        self.metrics.add("windows", n)
        self.metrics.window.add((time.perf_counter() - t0) / n)
