"""The evaluators' CNN and metrics: one classifier recipe for activity and identity, seeded.

Every evaluator standardizes with statistics of its *own* training windows and early-stops on a
validation slice of them cut by bout (not random windows: windows of one bout overlap at stride 32,
so a random slice would validate on near-copies of training windows).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edge_runtime.normalizer import Normalization

__all__ = ["EvalConfig", "Classifier", "fit_classifier", "bout_validation", "confusion", "f1_scores"]


@dataclass(frozen=True)
class EvalConfig:
    """How the evaluators are trained; ``EvalConfig.quick()`` is for tests and smoke runs.

    Args:
        epochs: maximum epochs per evaluator (early stopping usually ends sooner).
        batch_size: windows per step.
        seed: base seed; each evaluator adds its own fixed offset.
        filters: width of the three Conv1D blocks.
        kernel: Conv1D kernel size [samples].
        patience: early-stopping patience [epochs] on the validation loss.
        warmup: epochs before early stopping may act (BatchNorm makes the first val losses noisy).
        val_fraction: share of each class's bouts held out for early stopping.
        lr: Adam learning rate.
        dropout: dropout before the softmax.
        max_train: cap on training windows per evaluator (seeded subsample); None = all.
        activity_seeds: activity classifiers per release, each with its own seed; F1 is their mean
            (one seed's F1 on magnitude views moves by 1-2 points, as much as the gaps we measure).
        attack_seeds: CNN identity attackers per release (``trainer.attacks``), each its own seed.
        rocket_kernels: MiniRocket kernels (about as many features) of the non-neural attacker.
        rocket_rank: principal components of the standardized MiniRocket features the ridge
            attackers work in (>98 % of the variance at 10k features; makes leave-one-subject-out cheap).
        session_seconds: longest stretch of one recording a session attacker votes over.
        quick_mode: set by ``quick()``; recorded so a smoke number is never mistaken for a measurement.
    """

    epochs: int = 20
    batch_size: int = 128
    seed: int = 0
    filters: int = 48
    kernel: int = 5
    patience: int = 5
    warmup: int = 4
    val_fraction: float = 0.15
    lr: float = 2e-3
    dropout: float = 0.3
    max_train: int | None = None
    activity_seeds: int = 3
    attack_seeds: int = 3
    rocket_kernels: int = 10_000
    rocket_rank: int = 1024
    session_seconds: float = 60.0
    quick_mode: bool = False

    @classmethod
    def quick(cls, **overrides: Any) -> EvalConfig:
        base = {"epochs": 10, "filters": 32, "patience": 3, "warmup": 3, "max_train": 3000, "batch_size": 64,
                "activity_seeds": 1, "attack_seeds": 1, "rocket_kernels": 504, "rocket_rank": 256, "quick_mode": True}
        return cls(**{**base, **overrides})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bout_validation(y: np.ndarray, bout: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Bool mask of validation windows: per class, a seeded ``fraction`` of its bouts (never its only bout)."""
    rng = np.random.default_rng(seed)
    val = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        cb = np.unique(bout[y == c])
        k = int(round(len(cb) * fraction))
        if len(cb) < 2 or k == 0:
            continue
        picked = rng.choice(cb, size=min(k, len(cb) - 1), replace=False)
        val |= (y == c) & np.isin(bout, picked)
    return val


def _build(shape: tuple[int, int], n_classes: int, cfg: EvalConfig) -> Any:
    import keras
    from keras import layers

    inp = keras.Input(shape=shape)  # (W, C)
    h = inp
    for _ in range(3):
        h = layers.Conv1D(cfg.filters, cfg.kernel, padding="same", use_bias=False)(h)
        h = layers.BatchNormalization(momentum=0.9)(h)  # few steps per epoch: settle fast
        h = layers.ReLU()(h)
        h = layers.MaxPooling1D(2)(h)  # (W/2, F), (W/4, F), (W/8, F)
    h = layers.GlobalAveragePooling1D()(h)  # (F,)
    h = layers.Dropout(cfg.dropout)(h)
    out = layers.Dense(n_classes, activation="softmax")(h)
    model = keras.Model(inp, out)
    model.compile(keras.optimizers.Adam(cfg.lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@dataclass
class Classifier:
    """A trained evaluator: its own standardization, class ids and Keras model."""

    norm: Normalization
    classes: np.ndarray  # class id (activity index or subject id) per output unit
    model: Any
    epochs_run: int = 0

    def predict_proba(self, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """``(N, W, C)`` windows -> ``(N, len(classes))`` softmax probabilities."""
        if len(x) == 0:
            return np.empty((0, len(self.classes)), dtype=np.float32)
        z = self.norm.apply(x)
        # eager calls in fixed-size chunks: no tf.function retraced per model (many evaluators per report)
        out = [np.asarray(self.model(z[i : i + batch_size], training=False)) for i in range(0, len(z), batch_size)]
        return np.concatenate(out).astype(np.float32)

    def predict(self, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """``(N, W, C)`` windows -> predicted class ids."""
        if len(x) == 0:
            return np.empty(0, dtype=self.classes.dtype)
        return np.asarray(self.classes[np.argmax(self.predict_proba(x, batch_size), axis=1)])


_TRAINERS: dict[tuple[Any, ...], Any] = {}  # one compiled model per architecture (see fit_classifier)


def _trainer(shape: tuple[int, int], n_classes: int, cfg: EvalConfig) -> Any:
    key = (shape, n_classes, cfg.filters, cfg.kernel, cfg.dropout, cfg.lr)
    if key not in _TRAINERS:
        _TRAINERS[key] = _build(shape, n_classes, cfg)
    return _TRAINERS[key]


def _copy_state(dst: Any, src: Any) -> None:
    """Weights, BatchNorm statistics and the Dropout seed state of ``src`` into ``dst`` (same architecture)."""
    for d, s in zip(dst.variables, src.variables, strict=True):
        d.assign(s.value)


def fit_classifier(x: np.ndarray, y: np.ndarray, bout: np.ndarray, cfg: EvalConfig, *, seed_offset: int) -> Classifier:
    """Train one evaluator on ``x -> y`` with early stopping on a bout-level validation slice.

    A report trains dozens of evaluators of one architecture, and tracing Keras' train and test steps
    costs about 2.5 s each time (more than the training itself on a few thousand windows). So one
    compiled model per architecture does the training: it gets the seeded initial state of a freshly
    built model (weights, BatchNorm statistics, Dropout seed; optimizer moments and step reset) and
    hands the trained state back to that model, which is returned. The result depends on the seed
    only, never on what was trained before (tested).
    """
    import keras

    seed = cfg.seed * 1000 + seed_offset
    if cfg.max_train is not None and len(x) > cfg.max_train:
        keep = np.sort(np.random.default_rng(seed).choice(len(x), cfg.max_train, replace=False))
        x, y, bout = x[keep], y[keep], bout[keep]
    classes = np.unique(y)
    yi = np.searchsorted(classes, y).astype(np.int32)
    val = bout_validation(yi, bout, cfg.val_fraction, seed)
    norm = Normalization.fit(x[~val])
    xz = norm.apply(x)
    shape = (x.shape[1], x.shape[2])
    trainer = _trainer(shape, len(classes), cfg)  # before seeding: its creation draws no seeded numbers
    keras.utils.set_random_seed(seed)
    model = _build(shape, len(classes), cfg)
    _copy_state(trainer, model)
    for v in trainer.optimizer.variables:
        if not v.path.endswith("learning_rate"):
            v.assign(np.zeros(v.shape, v.dtype))
    callbacks = []
    fit_kw: dict[str, Any] = {}
    if val.any():
        fit_kw["validation_data"] = (xz[val], yi[val])
        callbacks.append(keras.callbacks.EarlyStopping(
            "val_loss", patience=cfg.patience, restore_best_weights=True, start_from_epoch=cfg.warmup
        ))
    hist = trainer.fit(
        xz[~val], yi[~val], batch_size=cfg.batch_size, epochs=cfg.epochs, shuffle=True,
        callbacks=callbacks, verbose=0, **fit_kw,
    )
    _copy_state(model, trainer)
    return Classifier(norm, classes, model, len(hist.history["loss"]))


def confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """``(K, K)`` counts, rows = true class, columns = predicted, in the order of ``classes``."""
    k = len(classes)
    t = np.searchsorted(classes, y_true)
    p = np.searchsorted(classes, y_pred)
    ok = (t < k) & (p < k)
    ok[ok] &= (classes[t[ok]] == y_true[ok]) & (classes[p[ok]] == y_pred[ok])
    m = np.zeros((k, k), dtype=np.int64)
    np.add.at(m, (t[ok], p[ok]), 1)
    return m


def f1_scores(m: np.ndarray) -> np.ndarray:
    """Per-class F1 from a confusion matrix (0 where a class is neither true nor predicted)."""
    tp = np.diag(m).astype(np.float64)
    denom = m.sum(axis=0) + m.sum(axis=1)
    return np.asarray(np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0))
