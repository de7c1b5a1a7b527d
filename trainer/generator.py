"""SenseGen-style generator: an activity-conditioned LSTM with a mixture-density head over 6 axes.

Each step sees the previous (normalized) sample plus a one-hot (activity, dataset) condition and
outputs a K-component diagonal Gaussian mixture for the next sample (Alzantot et al., 2017, with
gyro axes added). Trained with teacher forcing on 2.56 s sequences of the *training* people only
(a seeded third of each dataset's people is held out for ``generator_eval``), early-stopped on a
bout-level validation slice, time-boxed. The export is a small ``.npz`` that
``firmware_bridge.generated`` samples in plain numpy (the emulator needs no TensorFlow).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.contract import WindowSpec
from firmware_bridge.generated import FORMAT

from .data import WindowSet, attribution, load_windows
from .data.catalog import load_dataset, resolve_roots
from .data.windows import make_windows
from .errors import TrainerError
from .evaluators import bout_validation

__all__ = ["GenConfig", "GenData", "load_data", "split_people", "build_model", "mdn_loss", "train_generator",
           "export_arrays", "save_npz", "conditions"]  # fmt: skip

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
        holdout: share of each dataset's people kept out of training, for the quality tests.
        minutes: wall-clock budget; no epoch starts that would end past it.
        max_train: cap on training sequences (seeded subsample); None = all.
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
    patience: int = 6
    holdout: float = 1 / 3
    val_fraction: float = 0.1
    minutes: float = 15.0
    max_train: int | None = None
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
    rng = np.random.default_rng(seed)
    dsets = ws.dataset_of()
    test: list[int] = []
    for name in dict.fromkeys(dsets.tolist()):
        people = np.unique(ws.subject[dsets == name])
        k = min(len(people) - 1, max(1, round(len(people) * fraction))) if len(people) > 1 else 0
        test += [int(s) for s in rng.choice(people, size=k, replace=False)]
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


def train_generator(gd: GenData, cfg: GenConfig, out: str | Path, log: Callable[[str], None] = print) -> Path:
    """Train, checkpoint each epoch (``checkpoints/``), keep the best, export ``generator.npz``; returns its path."""
    import keras

    out = Path(out)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(cfg.seed)
    ws, idx = gd.ws, gd.train
    if cfg.max_train is not None and len(idx) > cfg.max_train:
        idx = np.sort(np.random.default_rng(cfg.seed).choice(idx, cfg.max_train, replace=False))
    acts, dsets = vocab(gd)
    flat = ws.x[idx].reshape(-1, D)
    mean, std = flat.mean(axis=0), np.maximum(flat.std(axis=0), 1e-3)
    z = ((ws.x[idx] - mean) / std).astype(np.float32)
    cond = np.repeat(conditions(ws, idx, acts, dsets)[:, None], cfg.seq_len, axis=1)  # (N, T, n_cond)
    val = bout_validation(ws.activity[idx], ws.bout[idx], cfg.val_fraction, cfg.seed)
    if not val.any():
        val = np.arange(len(idx)) % 10 == 0  # too few bouts to hold some out (smoke runs)
    xin = teacher_inputs(z)
    model = build_model(cond.shape[2], cfg, cfg.seq_len)
    log(f"generate: {len(idx) - val.sum()} train / {val.sum()} val sequences of {cfg.seq_len} samples, "
        f"{len(gd.train_subjects)} people ({len(gd.test_subjects)} held out), activities {', '.join(acts)}, "
        f"datasets {', '.join(dsets)}, {model.count_params()} parameters")  # fmt: skip
    history: list[dict[str, float]] = []
    best, best_epoch, t0, last = math.inf, -1, time.perf_counter(), 0.0
    for epoch in range(cfg.epochs):
        elapsed = time.perf_counter() - t0
        if epoch and elapsed + last > cfg.minutes * 60:
            log(f"generate: time box of {cfg.minutes:g} min reached after {epoch} epochs")
            break
        t_epoch = time.perf_counter()
        h = model.fit([xin[~val], cond[~val]], z[~val], batch_size=cfg.batch_size, epochs=1, shuffle=True, verbose=0,
                      validation_data=([xin[val], cond[val]], z[val]))  # fmt: skip
        last = time.perf_counter() - t_epoch
        loss, val_loss = float(h.history["loss"][-1]), float(h.history["val_loss"][-1])
        history.append({"epoch": epoch + 1, "loss": loss, "val_loss": val_loss, "seconds": round(last, 1)})
        model.save_weights(out / "checkpoints" / f"epoch-{epoch + 1:03d}.weights.h5")
        if val_loss < best:
            best, best_epoch = val_loss, epoch + 1
            model.save_weights(out / "checkpoints" / "best.weights.h5")
        log(f"generate: epoch {epoch + 1}/{cfg.epochs} loss {loss:.3f} val {val_loss:.3f} nats/sample "
            f"({last:.0f} s){' *' if best_epoch == epoch + 1 else ''}")  # fmt: skip
        if not math.isfinite(loss):
            raise TrainerError(f"generator loss is {loss} at epoch {epoch + 1}; lower --set lr")
        if epoch + 1 - best_epoch >= cfg.patience:
            log(f"generate: no val improvement for {cfg.patience} epochs; stopping")
            break
    model.load_weights(out / "checkpoints" / "best.weights.h5")
    counts: dict[tuple[str, str], int] = {}
    names, ds_of = np.asarray(ws.activity_names)[ws.activity[gd.train]], ws.dataset_of()[gd.train]
    for a, d in zip(names.tolist(), ds_of.tolist(), strict=True):
        counts[(a, d)] = counts.get((a, d), 0) + 1
    default = {a: max((d for d in dsets if (a, d) in counts), key=lambda d: counts[(a, d)]) for a in acts}
    meta = {"activities": list(acts), "datasets": list(dsets), "default_dataset": default,
            "pairs": [list(p) for p in gd.pairs], "components": cfg.components, "rate_hz": 50.0,
            "train_subjects": list(gd.train_subjects), "test_subjects": list(gd.test_subjects),
            "config": {**asdict(cfg), "datasets": list(cfg.datasets), "units": list(cfg.units)},
            "epochs_run": len(history), "best_epoch": best_epoch, "best_val_nll": best, "history": history,
            "train_seconds": round(time.perf_counter() - t0, 1), "attribution": attribution(list(dsets))}  # fmt: skip
    path = save_npz(out / "generator.npz", export_arrays(model, meta, mean, std))
    (out / "generator.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "history"} |
                                                   {"history": history}, indent=2) + "\n")  # fmt: skip
    log(f"generate: best epoch {best_epoch} (val {best:.3f} nats/sample) -> {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return path


def with_overrides(cfg: GenConfig, **kw: Any) -> GenConfig:
    """``dataclasses.replace`` that names an unknown key (nanoGPT's configurator habit)."""
    known = set(asdict(cfg))
    for key in kw:
        if key not in known:
            raise TrainerError(f"unknown generator setting {key!r}; known: {', '.join(sorted(known))}")
    return replace(cfg, **kw)
