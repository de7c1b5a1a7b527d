"""Synthetic WindowSets with planted identity, gender and body size, for the attack-suite tests.

Every subject s walks and rests in ``trials`` continuous recordings. Channel 0 carries a sine at the
subject's own frequency (1.0 + 0.4 s Hz: identity); channel 1 the activity (amplitude). Subjects
with a frequency above 2.4 Hz are "M", the others "F", and height/weight grow with the frequency,
so a model that reads the frequency of a stranger can tell their gender and size.

``tiny_run`` writes a run folder with an untrained one-layer "anonymizer", for report/CLI tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.contract import WindowSpec
from edge_runtime.normalizer import Normalization
from trainer.checkpoint import MODEL_NAME, save_run_json
from trainer.data import SubjectInfo, WindowSet

SPEC = WindowSpec(rate_hz=50.0, length=128, stride=64)


def subject_freq(s: int) -> float:
    return 1.0 + 0.4 * s


def planted(*, n_subjects: int = 8, trials: int = 2, windows_per_bout: int = 10, identity_amp: float = 1.0,
            noise: float = 0.3, seed: int = 0, single_trial_activity: int | None = None) -> WindowSet:
    """Windows of ``n_subjects`` subjects x ``trials`` recordings x 2 activities (0 rest, 1 walk).

    ``single_trial_activity``: that activity appears in the first recording only (a single trial).
    """
    rng = np.random.default_rng(seed)
    w, stride, rate = SPEC.length, SPEC.stride, SPEC.rate_hz
    bout_len = (windows_per_bout - 1) * stride + w
    xs, acts, subs, trs, bts, starts = [], [], [], [], [], []
    info: dict[int, SubjectInfo] = {}
    bout = 0
    for s in range(n_subjects):
        f = subject_freq(s)
        info[s] = SubjectInfo("M" if f > 2.4 else "F", 25.0, 150.0 + 8.0 * f, 45.0 + 8.0 * f)
        for t in range(trials):
            acts_here = [a for a in (0, 1) if not (a == single_trial_activity and t > 0)]
            n = bout_len * len(acts_here)
            tt = np.arange(n) / rate
            ch0 = 9.8 + identity_amp * np.sin(2 * np.pi * f * tt + rng.uniform(0, 2 * np.pi)) + noise * rng.normal(size=n)
            level = np.repeat([0.2 + 1.0 * a for a in acts_here], bout_len)
            ch1 = level * np.sin(2 * np.pi * 1.5 * tt) + 0.1 * rng.normal(size=n)
            sig = np.stack([ch0, ch1], axis=1).astype(np.float32)
            for k, a in enumerate(acts_here):
                st = k * bout_len + np.arange(windows_per_bout) * stride
                xs.append(np.stack([sig[i : i + w] for i in st]))
                acts.append(np.full(len(st), a, np.int16))
                subs.append(np.full(len(st), s, np.int32))
                trs.append(np.full(len(st), 100 * s + t, np.int32))
                bts.append(np.full(len(st), bout, np.int32))
                starts.append(st.astype(np.int32))
                bout += 1
    return WindowSet(SPEC, np.concatenate(xs), np.concatenate(acts), np.concatenate(subs), np.concatenate(trs),
                     np.concatenate(bts), np.concatenate(starts), "synthetic", ("rest", "walk"),
                     subject_info=info)


def tiny_run(root: Path, spec: WindowSpec, meta_extra: dict[str, Any] | None = None,
             config: dict[str, Any] | None = None) -> Path:
    """A finished run folder whose model is one untrained Conv1D (normalized (W, C) -> (W, C))."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=spec.shape)
    out = keras.layers.Conv1D(spec.shape[1], 5, padding="same")(inp)
    root.mkdir(parents=True)
    keras.Model(inp, out).save(root / MODEL_NAME)
    meta = {
        "config": {"dataset": "hapt", "eval_stride": 64, "split_seed": 0, "test_fraction": 1 / 3, **(config or {})},
        "window": spec.to_dict(),
        "normalization": Normalization((10.0, 0.5), (1.0, 0.5)).to_dict(),
        "history": [{"round": 0}],
        **(meta_extra or {}),
    }
    save_run_json(root, meta)
    return root
