"""SenseGen-style generator: an activity-conditioned LSTM with a mixture-density head over 6 axes.

Each step sees the previous (normalized) sample plus a one-hot (activity, dataset) condition and
outputs a K-component diagonal Gaussian mixture for the next sample (Alzantot et al., 2017, with
gyro axes added). Trained with teacher forcing on 2.56 s sequences of the *training* people only
(a seeded third of each dataset's people is held out for ``generator_eval``; ``generator_fit`` trains), early-stopped on a
bout-level validation slice, time-boxed. The export is a small ``.npz`` that
``firmware_bridge.generated`` samples in plain numpy (the emulator needs no TensorFlow).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.contract import WindowSpec
from firmware_bridge.generated import FORMAT

from .data import WindowSet, load_windows
from .data.catalog import load_dataset, resolve_roots
from .data.windows import make_windows
from .errors import TrainerError
from .splits import held_out

__all__ = ["GenConfig", "GenData", "load_data", "split_people", "build_model", "mdn_loss", "export_arrays",
           "save_npz", "conditions", "vocab", "teacher_inputs", "with_overrides", "D"]  # fmt: skip

LOG_SIGMA_MIN = -7.0  # the numpy sampler clamps the same way (Generator.log_sigma_min)
D = 6  # acc xyz, gyro xyz


@dataclass(frozen=True)
class GenConfig:
    """Defaults of ``aae generate train``; ``GenConfig.quick()`` is the smoke run.

    Args:
        datasets: what to train on (fine taxonomy; the dataset is part of the condition).
        seq_len, stride: training sequences [samples at 50 Hz] (128 = 2.56 s) and their spacing.
        units: LSTM widths, one per layer. components: mixture components (diagonal Gaussians).
        input_noise: Gaussian noise on the teacher-forced inputs (normalized units), so sampling
            from its own slightly-off outputs does not drift; off at inference.
        sampled_inputs, sampled_ramp: scheduled sampling against free-running drift: from epoch 2
            on, this share of the inputs (at most; reached linearly after ``sampled_ramp`` epochs) is
            the model's own draw for that step (one teacher-forced pass, Duckworth et al. 2019's
            parallel scheduled sampling); the targets stay real. 0 = teacher forcing only.
        holdout: share of each dataset's people kept out of training, for the quality tests.
        minutes: wall-clock budget; no epoch starts that would end past it.
        max_train: cap on training sequences (seeded subsample); None = all.
        init: a ``generator.npz`` to start from (its weights and normalization; same layers and
            conditions), e.g. to fine-tune the shipped model with scheduled sampling; "" = random.
    """

    datasets: tuple[str, ...] = ("hapt", "sisfall")
    seq_len: int = 128
    stride: int = 64
    units: tuple[int, ...] = (64, 64)
    components: int = 5
    epochs: int = 60
    batch_size: int = 128
    lr: float = 2e-3
    input_noise: float = 0.1
    sampled_inputs: float = 0.0
    sampled_ramp: int = 10
    patience: int = 6
    holdout: float = 1 / 3
    val_fraction: float = 0.1
    minutes: float = 15.0
    max_train: int | None = None
    init: str = ""
    seed: int = 0
    quick: bool = False

    @classmethod
    def quick_config(cls, **overrides: Any) -> GenConfig:
        base: dict[str, Any] = {"datasets": ("hapt",), "units": (16,), "components": 2, "epochs": 2,
                                "max_train": 256, "minutes": 1.0, "quick": True}  # fmt: skip
        return cls(**{**base, **overrides})


@dataclass(frozen=True)
class GenData:
    """Windows in the axes view with the people split; ``train``/``test`` index into ``ws``."""

    ws: WindowSet
    train: np.ndarray
    test: np.ndarray
    train_subjects: tuple[int, ...]
    test_subjects: tuple[int, ...]
    pairs: tuple[tuple[str, str], ...] = field(default=())


def split_people(ws: WindowSet, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hold out a seeded ``fraction`` of each dataset's people (at least one where a dataset has two)."""
    dsets = ws.dataset_of()
    groups = (np.unique(ws.subject[dsets == name]) for name in dict.fromkeys(dsets.tolist()))
    test = held_out(groups, fraction, np.random.default_rng(seed))
    is_test = np.isin(ws.subject, test)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def load_data(data: str | Path, cfg: GenConfig) -> GenData:
    """Load ``cfg.datasets`` (axes view, fine taxonomy) and split the people; ``quick``: HAPT people 1-4 only."""
    spec = WindowSpec(rate_hz=50.0, length=cfg.seq_len, stride=cfg.stride, view="axes")
    if cfg.quick:
        name = cfg.datasets[0]
        root = resolve_roots(name, data)[name]
        ws = make_windows(load_dataset(name, root, subjects={1, 2, 3, 4}), spec)
    else:
        ws = load_windows(list(cfg.datasets), data, spec, taxonomy="fine")
    return make_data(ws, cfg)


def make_data(ws: WindowSet, cfg: GenConfig) -> GenData:
    """The people split of already-loaded windows (tests build their own ``WindowSet``)."""
    if ws.x.shape[1:] != (cfg.seq_len, D):
        raise TrainerError(f"generator windows must be ({cfg.seq_len}, {D}) axes, got {ws.x.shape[1:]}")
    train, test = split_people(ws, cfg.holdout, cfg.seed)
    dsets = ws.dataset_of()
    pairs = tuple(sorted({(ws.activity_names[a], str(d)) for a, d in zip(ws.activity[train], dsets[train], strict=True)}))
    return GenData(ws, train, test, tuple(sorted(int(s) for s in np.unique(ws.subject[train]))),
                   tuple(sorted(int(s) for s in np.unique(ws.subject[test]))), pairs)  # fmt: skip


def vocab(gd: GenData) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Activities and datasets of the training windows, in taxonomy / training order."""
    acts = tuple(a for a in gd.ws.activity_names if any(p[0] == a for p in gd.pairs))
    dsets = tuple(dict.fromkeys(d for d in gd.ws.dataset_of()[gd.train].tolist()))
    return acts, dsets


def conditions(ws: WindowSet, idx: np.ndarray, acts: tuple[str, ...], dsets: tuple[str, ...]) -> np.ndarray:
    """``(len(idx), n_cond)`` one-hot activity + dataset of windows ``idx``."""
    c = np.zeros((len(idx), len(acts) + len(dsets)), np.float32)
    names = np.asarray(ws.activity_names)[ws.activity[idx]]
    for j, a in enumerate(acts):
        c[names == a, j] = 1.0
    for j, d in enumerate(dsets):
        c[ws.dataset_of()[idx] == d, len(acts) + j] = 1.0
    return c


def mdn_loss(k: int) -> Callable[[Any, Any], Any]:
    """Mean negative log-likelihood [nats per sample] of a K-component diagonal mixture over D channels."""
    from keras import ops

    def nll(y: Any, params: Any) -> Any:
        y = ops.reshape(y, (-1, 1, D))
        p = ops.reshape(params, (-1, k * (1 + 2 * D)))
        logits, mu = p[:, :k], ops.reshape(p[:, k : k + k * D], (-1, k, D))
        ls = ops.maximum(ops.reshape(p[:, k + k * D :], (-1, k, D)), LOG_SIGMA_MIN)
        logp = -0.5 * ops.sum(ops.square((y - mu) * ops.exp(-ls)) + 2.0 * ls + math.log(2 * math.pi), axis=-1)
        return -ops.mean(ops.logsumexp(ops.log_softmax(logits, axis=-1) + logp, axis=-1))

    return nll


def build_model(n_cond: int, cfg: GenConfig, seq_len: int | None = None) -> Any:
    """Keras model ``[x_prev (T, 6), cond (T, n_cond)] -> MDN params (T, K(1 + 2D))``."""
    import keras
    from keras import layers

    x_prev = keras.Input((seq_len, D), name="x_prev")
    cond = keras.Input((seq_len, n_cond), name="cond")
    h = layers.Concatenate()([layers.GaussianNoise(cfg.input_noise)(x_prev), cond])  # (T, 6 + n_cond)
    for i, u in enumerate(cfg.units):
        h = layers.LSTM(u, return_sequences=True, name=f"lstm{i}")(h)  # (T, u)
    out = layers.Dense(cfg.components * (1 + 2 * D), name="mdn")(h)  # (T, K + 2KD)
    model = keras.Model([x_prev, cond], out)
    model.compile(keras.optimizers.Adam(cfg.lr, clipnorm=1.0), mdn_loss(cfg.components))
    return model


def teacher_inputs(z: np.ndarray) -> np.ndarray:
    """Inputs are the targets shifted by one step, zeros first (the sampler starts from zeros too)."""
    return np.concatenate([np.zeros_like(z[:, :1]), z[:, :-1]], axis=1)


def export_arrays(model: Any, meta: dict[str, Any], mean: np.ndarray, std: np.ndarray) -> dict[str, np.ndarray]:
    """The ``.npz`` entries (returned, not written: saving is separate)."""
    arrays: dict[str, np.ndarray] = {"mean": mean.astype(np.float32), "std": std.astype(np.float32)}
    n = 0
    for layer in model.layers:
        if layer.name.startswith("lstm"):
            kernel, recurrent, bias = layer.get_weights()
            arrays.update({f"lstm{n}_kernel": kernel, f"lstm{n}_recurrent": recurrent, f"lstm{n}_bias": bias})
            n += 1
    arrays["head_kernel"], arrays["head_bias"] = model.get_layer("mdn").get_weights()
    arrays["meta"] = np.frombuffer(json.dumps({**meta, "format": FORMAT, "layers": n}).encode(), np.uint8)
    return arrays


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)  # type: ignore[arg-type]
    return path


def with_overrides(cfg: GenConfig, **kw: Any) -> GenConfig:
    """``dataclasses.replace`` that names an unknown key (nanoGPT's configurator habit)."""
    known = set(asdict(cfg))
    for key in kw:
        if key not in known:
            raise TrainerError(f"unknown generator setting {key!r}; known: {', '.join(sorted(known))}")
    return replace(cfg, **kw)
