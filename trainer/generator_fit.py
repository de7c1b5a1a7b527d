"""Training the generator (``trainer.generator``'s model): teacher forcing, scheduled sampling,
fine-tuning from an exported model, per-epoch checkpoints, a time box; the export at the end.

Scheduled sampling is there because free running for minutes is not what teacher forcing trains:
the shipped model's SisFall gaits fall into a near-still fixed point after 2.56 s (docs/generator.md).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from firmware_bridge.generated import GeneratedError, Generator, draw, load_generator

from .data import attribution
from .errors import TrainerError
from .evaluators import bout_validation
from .generator import D, GenConfig, GenData, build_model, conditions, export_arrays, save_npz, teacher_inputs, vocab

__all__ = ["train_generator", "sampled_inputs"]


def sampled_inputs(model: Any, xin: np.ndarray, cond: np.ndarray, share: float, k: int, rng: np.random.Generator,
                   chunk: int = 2048) -> np.ndarray:  # fmt: skip
    """``xin`` with ``share`` of its steps (never the first) replaced by the model's own draw of that
    step, from one teacher-forced pass: what free running feeds it, so training sees its own errors."""
    out = xin.copy()
    for i in range(0, len(xin), chunk):
        params = model.predict([xin[i : i + chunk], cond[i : i + chunk]], batch_size=512, verbose=0)
        n, t, _ = params.shape
        own = draw(params.reshape(n * t, -1), k, D, rng).reshape(n, t, D)  # own[:, j]: its draw of step j
        mask = rng.random((n, t)) < share
        mask[:, 0] = False  # input j is step j - 1 (np.roll by one); input 0 is the zero start
        out[i : i + chunk][mask] = np.roll(own, 1, axis=1)[mask]
    return out


def _initial(path: str, acts: tuple[str, ...], dsets: tuple[str, ...]) -> Generator:
    """The exported model at ``path`` (``init``; read by the sampler's own loader), refused unless its
    conditions are this run's."""
    try:
        gen = load_generator(path)
    except GeneratedError as exc:
        raise TrainerError(f"init: {exc}") from None
    if (gen.activities, gen.datasets) != (acts, dsets):
        raise TrainerError(f"init {path}: its conditions ({list(gen.activities)}, {list(gen.datasets)}) are not "
                           f"this run's ({list(acts)}, {list(dsets)})")  # fmt: skip
    return gen


def _load_weights(model: Any, gen: Generator) -> None:
    """``export_arrays``' inverse: the LSTM and head weights into ``model`` (shapes checked by Keras)."""
    lstms = [layer for layer in model.layers if layer.name.startswith("lstm")]
    if len(lstms) != len(gen.layers):
        raise TrainerError(f"init: {len(gen.layers)} LSTM layers, this model has {len(lstms)}")
    try:
        for layer, weights in zip(lstms, gen.layers, strict=True):
            layer.set_weights(list(weights))
        model.get_layer("mdn").set_weights(list(gen.head))
    except ValueError as exc:
        raise TrainerError(f"init: its weights do not fit this model's layers ({exc})") from None


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
    start = _initial(cfg.init, acts, dsets) if cfg.init else None
    if start is not None:
        mean, std = start.mean, start.std
    z = ((ws.x[idx] - mean) / std).astype(np.float32)
    cond = np.repeat(conditions(ws, idx, acts, dsets)[:, None], cfg.seq_len, axis=1)  # (N, T, n_cond)
    val = bout_validation(ws.activity[idx], ws.bout[idx], cfg.val_fraction, cfg.seed)
    if not val.any():
        val = np.arange(len(idx)) % 10 == 0  # too few bouts to hold some out (smoke runs)
    xin = teacher_inputs(z)
    rng = np.random.default_rng(cfg.seed + 17)  # scheduled sampling's draws and masks
    model = build_model(cond.shape[2], cfg, cfg.seq_len)
    if start is not None:
        _load_weights(model, start)
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
        share = cfg.sampled_inputs * min(1.0, epoch / max(cfg.sampled_ramp, 1))
        x_fit, x_val = xin[~val], xin[val]
        if share > 0:  # validation sees the same share of own draws: the loss free running is judged by
            x_fit = sampled_inputs(model, x_fit, cond[~val], share, cfg.components, rng)
            x_val = sampled_inputs(model, x_val, cond[val], share, cfg.components, rng)
        h = model.fit([x_fit, cond[~val]], z[~val], batch_size=cfg.batch_size, epochs=1, shuffle=True, verbose=0,
                      validation_data=([x_val, cond[val]], z[val]))  # fmt: skip
        last = time.perf_counter() - t_epoch
        loss, val_loss = float(h.history["loss"][-1]), float(h.history["val_loss"][-1])
        history.append({"epoch": epoch + 1, "loss": loss, "val_loss": val_loss, "seconds": round(last, 1),
                        "sampled_share": round(share, 3)})  # fmt: skip
        model.save_weights(out / "checkpoints" / f"epoch-{epoch + 1:03d}.weights.h5")
        if val_loss < best and share >= cfg.sampled_inputs:  # best of the epochs at the full share
            best, best_epoch = val_loss, epoch + 1
            model.save_weights(out / "checkpoints" / "best.weights.h5")
        log(f"generate: epoch {epoch + 1}/{cfg.epochs} loss {loss:.3f} val {val_loss:.3f} nats/sample "
            f"({last:.0f} s){' *' if best_epoch == epoch + 1 else ''}")  # fmt: skip
        if not math.isfinite(loss):
            raise TrainerError(f"generator loss is {loss} at epoch {epoch + 1}; lower --set lr")
        if best_epoch > 0 and epoch + 1 - best_epoch >= cfg.patience:
            log(f"generate: no val improvement for {cfg.patience} epochs; stopping")
            break
    if best_epoch < 0:  # the box ended before the full share was reached: the last epoch
        best_epoch, best = len(history), history[-1]["val_loss"]
        model.save_weights(out / "checkpoints" / "best.weights.h5")
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
