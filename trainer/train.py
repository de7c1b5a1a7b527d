"""The training procedure of the paper's Fig. 6, with attackers that keep adapting.

    load windows -> leak-free splits -> normalization (saved with the model)
    pre-train the AE on X -> X
    for each round:
        release X' = AE(X); train EncReg (Y -> user), DecReg (X' -> user), ActReg (X' -> activity)
            for `reg_epochs` (continued), plus `fresh_attackers` identity CNNs re-initialised and
            trained from scratch — an attacker retrained on released windows, the real threat
        measure on held-out bouts: fresh-attacker identity accuracy, ActReg activity accuracy
        keep the best round; stop on the utility/privacy rule or the time budget
        freeze the regularizers, train the AAE for `aae_epochs` on L = b_i L_i + b_a CE + b_d MSE
Every round is checkpointed under <out>/state so ``--resume`` continues where a run stopped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.contract import WindowSpec
from edge_runtime.normalizer import Normalization

from .checkpoint import MODEL_NAME, save_run_json
from .config import TrainConfig, dataset_names
from .data import attribution, load_windows
from .errors import TrainerError
from .protect import gender_codes, load_policy, replacement_targets
from .splits import make_splits

__all__ = ["train"]


def _fit(model: Any, x: np.ndarray, y: np.ndarray, epochs: int, batch: int) -> None:
    model.fit(x, y, epochs=epochs, batch_size=batch, shuffle=True, verbose=0)


def _accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(model.predict(x, batch_size=1024, verbose=0), axis=1) == y))


def _versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__}


def train(cfg: TrainConfig, data_root: str | Path, out: str | Path, *, resume: bool = False,
          log: Callable[[str], None] = print) -> Path:
    """Train an anonymizer and write a run folder (see trainer/checkpoint.py). Returns ``out``."""
    import keras
    import tensorflow as tf

    from .losses import activity_loss, distortion_loss, identity_loss
    from .model import build_anonymizer, build_classifier, build_decoder, build_encoder, macs

    out = Path(out)
    state = out / "state"
    state.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(cfg.seed)
    t0 = time.monotonic()

    spec = WindowSpec(cfg.rate_hz, cfg.window, cfg.runtime_stride, cfg.view)
    names = dataset_names(cfg)
    ws = load_windows(names, data_root, spec.with_stride(cfg.stride), taxonomy=cfg.taxonomy or None)
    splits = make_splits(ws, test_fraction=cfg.test_fraction, seed=cfg.split_seed, stratify=cfg.split_stratify)
    norm = Normalization.fit(ws.x[splits.ae_train])
    users = np.array(splits.train_subjects)
    n_users, n_acts = len(users), len(ws.activity_names)
    chance = 1.0 / n_users

    def arrays(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return norm.apply(ws.x[idx]), np.searchsorted(users, ws.subject[idx]).astype(np.int32), ws.activity[idx].astype(np.int32)

    x_fit, u_fit, a_fit = arrays(splits.ae_fit)
    x_chk, u_chk, a_chk = arrays(splits.ae_check)
    policy = load_policy(cfg.policy, tuple(ws.activity_names)) if cfg.policy else None
    genders = ws.gender()
    g_fit, gw_fit = gender_codes(genders[splits.ae_fit])
    g_chk, gw_chk = gender_codes(genders[splits.ae_check])
    if cfg.beta_gender > 0 and (gw_fit.sum() == 0 or len(np.unique(g_fit[gw_fit > 0])) < 2):
        raise TrainerError("beta_gender > 0 needs training subjects of both genders (a dataset that publishes them, e.g. sisfall)")
    s_fit = ws.subject[splits.ae_fit]
    if policy is not None:
        a_chk = policy.target_labels(a_chk)  # the check counts a sensitive window released as neutral as right
        log(f"policy {policy.name}: " + ", ".join(f"{ws.activity_names[a]} -> {ws.activity_names[b]}" for a, b in policy.replace))
    log(f"data: {len(ws)} windows {spec.shape}, AAE trains on {len(x_fit)} (+{len(x_chk)} check) windows of "
        f"{n_users} subjects; {len(splits.test_subjects)} subjects held out")

    rf = _release_filter(cfg, spec, norm)
    if not cfg.learned:
        return _save_filter_only(cfg, spec, norm, ws, splits, rf, out, t0, names, log)
    enc = build_encoder(spec.shape, cfg.filters, cfg.latent_channels)
    dec = build_decoder(enc.output_shape[1:], spec.shape[1], cfg.filters)
    aae = build_anonymizer(enc, dec, rf)
    ident = keras.layers.Identity()
    filt = rf if rf is not None else ident  # the filter's own output is the distortion target
    regs = {
        "enc_reg": build_classifier(enc.output_shape[1:], n_users, cfg.reg_filters, "enc_reg"),
        "dec_reg": build_classifier(spec.shape, n_users, cfg.reg_filters, "dec_reg"),
        "act_reg": build_classifier(spec.shape, n_acts, cfg.reg_filters, "act_reg"),
    }
    if cfg.beta_gender > 0:
        regs["gen_reg"] = build_classifier(spec.shape, 2, cfg.reg_filters, "gen_reg")
    fresh = [build_classifier(spec.shape, n_users, cfg.reg_filters, f"fresh{i}") for i in range(cfg.fresh_attackers)]
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    for m in (*regs.values(), *fresh):
        m.compile(optimizer=keras.optimizers.Adam(cfg.reg_lr), loss=ce)
    opt = keras.optimizers.Adam(cfg.lr)
    log(f"model: {aae.count_params()} parameters, {macs(aae)} MACs per window")

    progress_path = state / "progress.json"
    progress: dict[str, Any] = {"round": 0, "history": [], "best": None, "act0": None}
    if resume and progress_path.is_file():
        progress = json.loads(progress_path.read_text())
        for name, m in {"enc": enc, "dec": dec, **regs}.items():
            m.load_weights(state / f"{name}.weights.h5")
        log(f"resumed after round {progress['round']}")
    else:
        aae.compile(optimizer=keras.optimizers.Adam(cfg.lr), loss="mse")
        aae.fit(x_fit, x_fit, epochs=cfg.pretrain_epochs, batch_size=cfg.batch_size, verbose=0,
                validation_data=(x_chk, x_chk))
        log(f"pre-trained AE: reconstruction MSE {float(aae.evaluate(x_chk, x_chk, verbose=0)):.4f}")

    @tf.function
    def aae_step(xb: tf.Tensor, tb: tf.Tensor, ub: tf.Tensor, ab: tf.Tensor, gb: tf.Tensor,
                 gw: tf.Tensor) -> tuple[tf.Tensor, ...]:  # fmt: skip
        onehot = tf.one_hot(ub, n_users)
        with tf.GradientTape() as tape:
            y = enc(xb, training=True)
            xh = filt(dec(y, training=True))
            li = identity_loss(onehot, regs["enc_reg"](y, training=False))
            li += identity_loss(onehot, regs["dec_reg"](xh, training=False))
            for f in fresh:
                li += identity_loss(onehot, f(xh, training=False))
            la = activity_loss(ab, regs["act_reg"](xh, training=False))
            ld = distortion_loss(filt(tb), xh)  # tb = xb, or a neutral window for a sensitive one
            loss = cfg.beta_id * li + cfg.beta_act * la + cfg.beta_dist * ld
            if "gen_reg" in regs:
                loss += cfg.beta_gender * identity_loss(tf.one_hot(gb, 2), regs["gen_reg"](xh, training=False), gw)
        variables = enc.trainable_variables + dec.trainable_variables
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss, li, la, ld

    def save_state() -> None:
        for name, m in {"enc": enc, "dec": dec, **regs}.items():
            m.save_weights(state / f"{name}.weights.h5")
        progress_path.write_text(json.dumps(progress, indent=1))

    rng = np.random.default_rng(cfg.seed)
    for r in range(progress["round"], cfg.rounds + 1):
        y_fit, xh_fit = enc.predict(x_fit, batch_size=1024, verbose=0), aae.predict(x_fit, batch_size=1024, verbose=0)
        xh_chk = aae.predict(x_chk, batch_size=1024, verbose=0)
        e = cfg.reg_warmup_epochs if r == 0 else cfg.reg_epochs
        _fit(regs["enc_reg"], y_fit, u_fit, e, cfg.batch_size)
        _fit(regs["dec_reg"], xh_fit, u_fit, e, cfg.batch_size)
        _fit(regs["act_reg"], xh_fit, a_fit, e, cfg.batch_size)  # true labels: it must see what is sensitive
        if "gen_reg" in regs:
            _fit(regs["gen_reg"], xh_fit[gw_fit > 0], g_fit[gw_fit > 0], e, cfg.batch_size)
        fresh_acc = []
        for i, f in enumerate(fresh):  # re-initialise: an attacker that adapts to this round's output
            f.set_weights(build_classifier(spec.shape, n_users, cfg.reg_filters, f"fresh{i}").get_weights())
            f.compile(optimizer=keras.optimizers.Adam(cfg.reg_lr), loss=ce)  # fresh optimizer state too
            _fit(f, xh_fit, u_fit, cfg.fresh_epochs, cfg.batch_size)
            fresh_acc.append(_accuracy(f, xh_chk, u_chk))
        act_acc = _accuracy(regs["act_reg"], xh_chk, a_chk)
        id_acc = max(fresh_acc) if fresh_acc else _accuracy(regs["dec_reg"], xh_chk, u_chk)
        mse = float(np.mean((xh_chk - x_chk) ** 2))
        if progress["act0"] is None:
            progress["act0"] = act_acc
        score = act_acc - cfg.privacy_weight * max(id_acc - chance, 0.0)
        extra: dict[str, float] = {}
        if "gen_reg" in regs and gw_chk.sum() > 0:
            known = gw_chk > 0
            extra["check_gender_acc"] = _accuracy(regs["gen_reg"], xh_chk[known], g_chk[known])
            majority = float(max(g_chk[known].mean(), 1 - g_chk[known].mean()))
            score -= cfg.privacy_weight * max(extra["check_gender_acc"] - majority, 0.0)
        is_best = progress["best"] is None or score > progress["best"]["score"]
        entry = {"round": r, "minutes": round((time.monotonic() - t0) / 60, 2), "check_activity_acc": act_acc,
                 "check_identity_acc_fresh": id_acc, "chance": chance, "check_mse": mse, "score": score, **extra}
        if is_best:
            progress["best"] = entry
            enc.save_weights(state / "best_enc.weights.h5")
            dec.save_weights(state / "best_dec.weights.h5")
        done_privacy = id_acc <= cfg.stop_identity_over_chance * chance and act_acc >= progress["act0"] - cfg.stop_activity_drop
        out_of_time = (time.monotonic() - t0) / 60 > cfg.max_minutes
        if r == cfg.rounds or (r >= cfg.min_rounds and done_privacy) or out_of_time:
            progress["history"].append(entry)
            reason = "rounds done" if r == cfg.rounds else ("stopping rule met" if done_privacy else "time budget")
            log(_line(entry, is_best) + f"  -> stop ({reason})")
            break
        losses = []
        t_fit, ta_fit = replacement_targets(x_fit, a_fit, s_fit, policy, rng)  # redrawn every round
        for _ in range(cfg.aae_epochs):
            order = rng.permutation(len(x_fit))
            for s in range(0, len(order), cfg.batch_size):
                b = order[s : s + cfg.batch_size]
                losses.append([float(v) for v in aae_step(x_fit[b], t_fit[b], u_fit[b], ta_fit[b], g_fit[b], gw_fit[b])])
        entry["aae_loss"] = dict(zip(("total", "identity", "activity", "mse"), np.mean(losses, axis=0).round(4).tolist(), strict=True))
        progress["history"].append(entry)
        progress["round"] = r + 1
        log(_line(entry, is_best))
        save_state()

    enc.load_weights(state / "best_enc.weights.h5")
    dec.load_weights(state / "best_dec.weights.h5")
    aae.save(out / MODEL_NAME)
    meta = {
        "config": cfg.to_dict(),
        "window": spec.to_dict(),
        "normalization": norm.to_dict(),
        "dataset": _dataset_meta(names, ws),
        "splits": splits.describe(),
        "model": {"parameters": int(aae.count_params()), "macs_per_window": macs(aae)},
        "policy": policy.to_dict() if policy is not None else None,
        "versions": _versions(),
        "history": progress["history"],
        "best_round": progress["best"],
        "train_minutes": round((time.monotonic() - t0) / 60, 2),
    }
    save_run_json(out, meta)
    log(f"saved {out / MODEL_NAME} (best round {progress['best']['round']}) in {meta['train_minutes']} min")
    return out


def _dataset_meta(names: tuple[str, ...], ws: Any) -> dict[str, Any]:
    return {"name": "+".join(names), "names": list(names), "attribution": attribution(names), "windows": len(ws),
            "taxonomy": "coarse" if ws.activity_names[0] == "walk" else "fine",
            "activities": [ws.activity_names[a] for a in ws.activities]}


def _release_filter(cfg: TrainConfig, spec: WindowSpec, norm: Normalization) -> Any:
    """The fixed release filter of ``cfg`` (None when it has none), in normalized units."""
    from edge_runtime.contract import G

    from .model import build_release_filter, release_filter_weights

    if cfg.release_cutoff_hz <= 0 and not cfg.release_center:
        return None
    if cfg.release_cutoff_hz >= spec.rate_hz / 2:
        raise TrainerError(f"release_cutoff_hz {cfg.release_cutoff_hz} must be below Nyquist ({spec.rate_hz / 2} Hz)")
    center: tuple[int, ...] = ()
    value: tuple[float, ...] = ()
    if cfg.release_center:
        if "acc_mag" not in spec.channels:
            raise TrainerError(f"release_center needs the magnitude view (an acc_mag channel), not {spec.view!r}")
        c = spec.channels.index("acc_mag")
        center, value = (c,), ((G - norm.mean[c]) / norm.std[c],)
    if cfg.release_keep_static_mad > 0 and center:
        from .baselines import GATE_SOFTNESS
        from .model import MotionGate

        lp = release_filter_weights(spec.length, len(spec.channels), spec.rate_hz, cfg.release_cutoff_hz, (), ())
        tau = cfg.release_keep_static_mad
        gate = MotionGate.build(lp[0], spec.length, len(spec.channels), center[0], value[0], float(norm.std[center[0]]),
                                tau, tau / GATE_SOFTNESS)  # fmt: skip
        return build_release_filter(spec.shape, lp, gate)
    weights = release_filter_weights(spec.length, len(spec.channels), spec.rate_hz, cfg.release_cutoff_hz, center, value)
    return build_release_filter(spec.shape, weights)


def _save_filter_only(cfg: TrainConfig, spec: WindowSpec, norm: Normalization, ws: Any, splits: Any, rf: Any,
                      out: Path, t0: float, names: tuple[str, ...], log: Callable[[str], None]) -> Path:
    """``learned = false``: the model is the release filter alone; nothing to train, same run folder."""
    from .model import build_anonymizer, macs

    if rf is None:
        raise TrainerError("learned = false needs a release filter (release_cutoff_hz > 0 or release_center = true)")
    aae = build_anonymizer(None, None, rf, shape=spec.shape)
    aae.save(out / MODEL_NAME)
    meta = {
        "config": cfg.to_dict(), "window": spec.to_dict(), "normalization": norm.to_dict(),
        "dataset": _dataset_meta(names, ws), "splits": splits.describe(),
        "model": {"parameters": int(aae.count_params()), "macs_per_window": macs(aae)},
        "versions": _versions(), "history": [], "best_round": None,
        "train_minutes": round((time.monotonic() - t0) / 60, 2),
    }
    save_run_json(out, meta)
    log(f"saved {out / MODEL_NAME} (release filter only: {cfg.release_cutoff_hz:g} Hz low-pass"
        f"{', |acc| mean -> g' if cfg.release_center else ''})")
    return out


def _line(e: dict[str, Any], best: bool) -> str:
    loss = e.get("aae_loss", {})
    tail = f"  loss {loss['total']:.3f} (id {loss['identity']:.3f} act {loss['activity']:.3f} mse {loss['mse']:.3f})" if loss else ""
    return (f"round {e['round']:2d}  {e['minutes']:6.1f} min  check: activity {e['check_activity_acc']:.3f}  "
            f"fresh attacker {e['check_identity_acc_fresh']:.3f} (chance {e['chance']:.3f})  mse {e['check_mse']:.3f}"
            + (f"  gender {e['check_gender_acc']:.3f}" if "check_gender_acc" in e else "")
            + f"{' *' if best else ''}{tail}")
