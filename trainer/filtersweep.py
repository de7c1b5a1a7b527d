"""Screen fixed release filters against the attack suite before exporting one (minutes, not hours).

    python -m trainer.filtersweep --data ../shared/datasets --dataset sisfall --filters raw,lp5,2.5,2.5c,2.5g0.24
    python -m trainer.filtersweep --data ../shared/datasets/uci-hapt --dataset hapt --full

A filter is ``raw``, ``lp5``/``lp10`` (the resampling baselines), or ``<cutoff Hz>`` with an optional
``c`` (centre every window's |acc| offset) or ``g<tau>`` (centre windows that move: ``trainer.baselines.
release_filter``'s ``keep_static_mad``), or ``A|B@ACTIVITY,...`` (dynamic: B where the shipped activity
estimator says one of them, else A). One JSON line per filter on stdout. The evaluator is
``EvalConfig.quick`` with 2 activity and 2 CNN seeds and 2,000 MiniRocket kernels unless ``--full``: these
are screening numbers, ranked against each other on one split; the release gate's are the measurement.
Why it exists: docs/results.md's choice of the shipped filter was made with it, on two datasets.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from typing import Any

from edge_runtime.contract import WindowSpec

from .baselines import release_filter
from .crosseval import baseline_transforms, evaluate_release, summary_row
from .data import load_windows
from .errors import TrainerError
from .evaluators import EvalConfig

__all__ = ["parse_filter", "main"]

_SPEC = re.compile(r"^(\d+(?:\.\d+)?)(c|g(\d+(?:\.\d+)?))?$")
KEYS = ("identity_max", "identity_max_attacker", "identity_session", "gender_max", "gender_loso_windows",
        "activity_f1", "chance")  # fmt: skip


def _dynamic(text: str, ws: Any, estimator: str | None) -> Any:
    """``"A|B@walk,jog"``: release A, and B on windows the shipped activity estimator calls walk or jog
    (edge_runtime/views.py's ``switch``, measured offline on the same windows)."""
    first, _, rest = text.partition("|")
    second, at, labels = rest.partition("@")
    if not at:
        raise TrainerError(f"filter {text!r}: a dynamic filter is A|B@ACTIVITY[,ACTIVITY]")
    a, b = parse_filter(first, ws), parse_filter(second, ws)
    from edge_runtime.cli import ESTIMATOR_BUNDLE
    from edge_runtime.errors import EdgeError
    from edge_runtime.estimator import Estimator
    from edge_runtime.manifest import load

    try:
        est = Estimator(load(estimator or ESTIMATOR_BUNDLE))
    except EdgeError as exc:
        raise TrainerError(f"filter {text!r}: activity estimator: {exc}") from exc
    want = set(labels.split(","))
    if want - set(est.labels):
        raise TrainerError(f"filter {text!r}: unknown activity; the estimator knows {', '.join(est.labels)}")

    def release(x: Any) -> Any:
        import numpy as np

        pick = np.array([est.estimate(w)[0] in want for w in x])
        out = np.array(x if a is None else a(x), np.float32, copy=True)
        out[pick] = x[pick] if b is None else b(x[pick])
        return out

    return release


def parse_filter(text: str, ws: Any, estimator: str | None = None) -> Any:
    """``"2.5g0.24"`` -> the release callable (None for raw); ``estimator``: bundle for ``A|B@...`` (default: shipped)."""
    if "|" in text:
        return _dynamic(text, ws, estimator)
    if text in ("raw", "lp5", "lp10"):
        return baseline_transforms(ws, (text,))[text]
    m = _SPEC.match(text)
    if m is None:
        raise TrainerError(f"filter {text!r}: expected raw, lp5, lp10 or CUTOFF[c|gTAU], e.g. 2.5g0.24")
    cutoff, mode, tau = float(m.group(1)), m.group(2) or "", float(m.group(3) or 0)
    rate = ws.spec.rate_hz
    center = 0 if mode else None
    return lambda x: release_filter(x, rate, cutoff, center=center, keep_static_mad=tau)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainer.filtersweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--data", required=True, help="a dataset root or the folder holding the roots")
    p.add_argument("--dataset", required=True, help="hapt, sisfall, ...")
    p.add_argument("--filters", default="raw,lp5,2.5,2.5c,2.5g0.24", help="comma-separated (see above)")
    p.add_argument("--taxonomy", choices=("fine", "coarse"), default=None, help="default: fine for hapt, else coarse")
    p.add_argument("--full", action="store_true", help="the full evaluator (EvalConfig()) instead of the screening one")
    p.add_argument("--estimator", default=None, help="activity estimator bundle for A|B@... filters (default: the "
                   "shipped one); e.g. one trained without the screened dataset, so its gating is out of sample")
    a = p.parse_args(argv)
    try:
        ws = load_windows(a.dataset, a.data, WindowSpec(stride=64),
                          taxonomy=a.taxonomy or ("fine" if a.dataset == "hapt" else "coarse"))  # fmt: skip
        cfg = EvalConfig() if a.full else EvalConfig.quick(attack_seeds=2, activity_seeds=2, rocket_kernels=2000,
                                                            rocket_rank=512, max_train=8000)  # fmt: skip
        for text in a.filters.split(","):
            t0 = time.perf_counter()
            row = summary_row(evaluate_release(parse_filter(text.strip(), ws, a.estimator), ws, cfg=cfg))
            print(json.dumps({"dataset": a.dataset, "filter": text.strip(), **{k: row[k] for k in KEYS},
                              "seconds": round(time.perf_counter() - t0, 1), "quick": not a.full}), flush=True)  # fmt: skip
    except TrainerError as exc:
        print(f"filtersweep: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
