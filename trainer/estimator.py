"""The on-device activity estimator: a small int8 CNN on the raw view window, for runtime policies.

Why it exists: a gateway's per-receiver views (``edge_runtime/views.py``) need to know, per window,
what the wearer is doing: a *label-only* receiver gets just that, a *delete* policy drops windows of
an activity a receiver must not see, and *dynamic selection* switches to a stronger sanitizer while a
sensitive activity goes on. It runs on the raw view window on the device, before any release, so it
sees nothing the gateway does not already hold, and its output is one label and its probability.

Trained on several datasets at once in the coarse taxonomy (walk, stairs, jog, static, transition,
jump), with device augmentation (gain, |acc| offset, noise) so it holds on wearables it never saw;
people held out per dataset measure it (macro-F1 of float and int8, per dataset). Exported as a
bundle with the anonymizer's manifest schema plus ``labels``.

    aae estimator --data ../shared/datasets --datasets hapt,sisfall --out edge_runtime/bundled/activity
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.contract import WindowSpec
from edge_runtime.normalizer import Normalization

from .data import WindowSet, load_windows
from .evaluators import bout_validation, confusion, f1_scores
from .splits import make_splits

__all__ = ["EstimatorConfig", "train_estimator", "macro_f1", "Trained"]


@dataclass(frozen=True)
class EstimatorConfig:
    """Args: filters: width of the conv blocks; epochs/patience: early stopping on a bout-level
    validation slice; gain/offset/noise: device augmentation per training window (relative gain,
    |acc| offset [m/s^2], Gaussian noise in view units relative to the channel's std)."""

    datasets: tuple[str, ...] = ("hapt", "sisfall")
    filters: int = 24
    epochs: int = 30
    patience: int = 5
    batch_size: int = 128
    lr: float = 3e-3
    gain: float = 0.1
    offset: float = 0.4
    noise: float = 0.03
    seed: int = 0
    max_train: int | None = None  # smoke runs


@dataclass
class Trained:
    model: Any
    norm: Normalization
    labels: tuple[str, ...]
    classes: np.ndarray  # activity index (coarse) per output unit
    ws: WindowSet
    test: np.ndarray  # bool mask: windows of held-out people
    epochs_run: int


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, classes: np.ndarray) -> float:
    """Macro-F1 [%] over the classes present in ``y_true``."""
    present = np.isin(classes, np.unique(y_true))
    return float(100 * f1_scores(confusion(y_true, y_pred, classes))[present].mean())


def _build(shape: tuple[int, int], n_classes: int, cfg: EstimatorConfig) -> Any:
    import keras
    from keras import layers

    x = inp = keras.Input(shape, name="window")
    for i, f in enumerate((cfg.filters, 2 * cfg.filters, 2 * cfg.filters)):
        x = layers.Conv1D(f, 5, padding="same", name=f"c{i}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)  # folded into the conv by the converter
        x = layers.ReLU(name=f"r{i}")(x)
        x = layers.MaxPooling1D(2, name=f"p{i}")(x)
    x = layers.GlobalAveragePooling1D(name="gap")(x)
    x = layers.Dropout(0.3, name="drop")(x)
    out = layers.Dense(n_classes, activation="softmax", name="p")(x)
    model = keras.Model(inp, out, name="activity_estimator")
    model.compile(keras.optimizers.Adam(cfg.lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _augment(x: np.ndarray, spec: WindowSpec, norm: Normalization, cfg: EstimatorConfig, rng: np.random.Generator) -> np.ndarray:
    """A device the model never saw: per-window gain, |acc| offset and sensor noise (view units)."""
    n, _, c = x.shape
    out = x * rng.uniform(1 - cfg.gain, 1 + cfg.gain, (n, 1, c)).astype(np.float32)
    acc = [i for i, name in enumerate(spec.channels) if name.startswith("acc")]
    out[:, :, acc] += rng.normal(0, cfg.offset, (n, 1, len(acc))).astype(np.float32)
    out += rng.normal(0, cfg.noise, out.shape).astype(np.float32) * np.asarray(norm.std, np.float32)
    return out


def train_estimator(data: str | Path, spec: WindowSpec, cfg: EstimatorConfig, log: Any = print) -> Trained:
    """Load ``cfg.datasets`` (coarse taxonomy), hold out a third of each dataset's people, train."""
    import keras

    ws = load_windows(list(cfg.datasets), data, spec, taxonomy="coarse")
    splits = make_splits(ws, seed=cfg.seed)
    train = splits.util_train
    rng = np.random.default_rng(cfg.seed)
    if cfg.max_train is not None and len(train) > cfg.max_train:
        train = np.sort(rng.choice(train, cfg.max_train, replace=False))
    test = np.zeros(len(ws), bool)
    test[splits.util_test] = True
    classes = np.unique(ws.activity[train])
    labels = tuple(ws.activity_names[c] for c in classes)
    x, y = ws.x[train], np.searchsorted(classes, ws.activity[train]).astype(np.int32)
    val = bout_validation(y, ws.bout[train], 0.15, cfg.seed)
    norm = Normalization.fit(x[~val])
    counts = np.bincount(y[~val], minlength=len(classes)).astype(np.float64)
    weight = {i: float(len(y[~val]) / (len(classes) * max(k, 1))) for i, k in enumerate(counts)}  # macro-F1
    log(f"estimator: {len(ws)} windows ({', '.join(cfg.datasets)}), train {int((~val).sum())}, "
        f"val {int(val.sum())}, held-out people {int(test.sum())}; classes {', '.join(labels)}")  # fmt: skip
    keras.utils.set_random_seed(cfg.seed)
    model = _build((spec.length, len(spec.channels)), len(classes), cfg)
    best, best_w, waited, epochs = np.inf, model.get_weights(), 0, 0
    xv, yv = norm.apply(x[val]), y[val]
    for epoch in range(cfg.epochs):  # fresh augmentation every epoch
        xa = norm.apply(_augment(x[~val], spec, norm, cfg, rng))
        model.fit(xa, y[~val], batch_size=cfg.batch_size, epochs=1, shuffle=True, verbose=0, class_weight=weight)
        loss = float(model.evaluate(xv, yv, verbose=0, batch_size=512)[0]) if len(yv) else 0.0
        epochs = epoch + 1
        log(f"estimator: epoch {epochs}/{cfg.epochs} val loss {loss:.4f}")
        if loss < best - 1e-4:
            best, best_w, waited = loss, model.get_weights(), 0
        elif (waited := waited + 1) >= cfg.patience:
            break
    model.set_weights(best_w)
    return Trained(model, norm, labels, classes, ws, test, epochs)


def held_out_f1(predict: Any, t: Trained) -> dict[str, float]:
    """Macro-F1 [%] on held-out people, per dataset and over all, with ``predict(x) -> (N, K)``."""
    idx = np.flatnonzero(t.test)
    p = np.asarray(predict(t.ws.x[idx]))
    pred = t.classes[np.argmax(p, axis=1)]
    truth = t.ws.activity[idx]
    out = {"all": round(macro_f1(truth, pred, t.classes), 2)}
    origin = t.ws.dataset_of()[idx]
    for name in t.ws.datasets or (t.ws.dataset,):
        sel = origin == name
        if sel.any():
            out[name] = round(macro_f1(truth[sel], pred[sel], t.classes), 2)
    return out
