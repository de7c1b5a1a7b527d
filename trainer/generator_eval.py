"""Quality and privacy of a trained generator, measured against the people it never saw.

    discriminator  real vs generated, trained on training people + generated set A, tested on the
                   held-out people + generated set B (balanced); CNN (axes, magnitudes) and MiniRocket;
                   the figure is the strongest one (target <= 60 %)
    tstr           activity CNN trained on generated (TSTR) vs on real training people (TRTR), macro-F1
                   on the held-out people
    spectra        mean power spectrum of |acc| and |gyro| per (activity, dataset), real vs generated
    identity       CNN identity attacker on the training people: accuracy on their held-out bouts, and how
                   confidently it assigns generated windows vs windows of unseen people
    nearest        distance of each generated / unseen real window to its nearest training window
    membership     in a pool of equally many windows of training people and of held-out people (per
                   condition), how often a generated window's nearest one is a training person's, next to
                   real windows of other held-out people (the same share = no person-level copying)

Generated windows start after ``burn_in`` samples of free running, as a stream from the emulator would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.contract import to_view
from firmware_bridge.generated import Generator

from .evaluators import EvalConfig, bout_validation, confusion, f1_scores, fit_classifier
from .generator import GenConfig, GenData, conditions, load_data
from .plots import _plt, plot_examples, save_figure
from .rocket import fit_ridge, rocket_space

__all__ = ["evaluate", "generate_like", "sampling_speed", "nearest_distances", "membership"]

BURN_IN = 64  # samples of free running before a generated window (1.28 s)


def generate_like(gen: Generator, gd: GenData, idx: np.ndarray, *, seed: int, burn_in: int = BURN_IN,
                  chunk: int = 1024, temperature: float = 1.0) -> np.ndarray:
    """One generated window per real window ``idx``, with its (activity, dataset) condition."""
    acts, dsets = gen.activities, gen.datasets
    cond = conditions(gd.ws, idx, acts, dsets)
    steps = burn_in + gd.ws.x.shape[1]
    out = [gen.sample(np.repeat(cond[i : i + chunk, None], steps, axis=1), seed=seed + i, temperature=temperature)[:, burn_in:]
           for i in range(0, len(idx), chunk)]  # fmt: skip
    return np.concatenate(out) if out else np.empty((0, gd.ws.x.shape[1], 6), np.float32)


def sampling_speed(gen: Generator, seconds: float = 60.0) -> dict[str, float]:
    """Samples per second of one stream (what the emulator does), and x real time at the model's rate."""
    from firmware_bridge.generated import Segment

    t0 = time.perf_counter()
    x, _ = gen.schedule([Segment(gen.activities[0], None, seconds)], seed=0)
    rate = len(x) / (time.perf_counter() - t0)
    return {"samples_per_s": round(rate), "x_real_time": round(rate / gen.rate_hz, 1)}


def _mag(x: np.ndarray) -> np.ndarray:
    """``(N, W, 6)`` -> ``(N, W, 2)`` |acc|, |gyro| (the runtime's magnitude view)."""
    return np.asarray(to_view(x.reshape(-1, 6), "magnitude")).reshape(len(x), x.shape[1], 2)


def _usable(gen: Generator, gd: GenData, idx: np.ndarray) -> np.ndarray:
    names, ds = np.asarray(gd.ws.activity_names)[gd.ws.activity[idx]], gd.ws.dataset_of()[idx]
    ok = np.array([(a, d) in gen.pairs for a, d in zip(names.tolist(), ds.tolist(), strict=True)], bool)
    return np.asarray(idx[ok])


def _cap(idx: np.ndarray, n: int, seed: int) -> np.ndarray:
    return idx if len(idx) <= n else np.sort(np.random.default_rng(seed).choice(idx, n, replace=False))


def _acc(pred: np.ndarray, y: np.ndarray) -> float:
    return round(100.0 * float(np.mean(pred == y)), 2)


def discriminators(real_tr: np.ndarray, fake_a: np.ndarray, real_te: np.ndarray, fake_b: np.ndarray,
                   bouts: np.ndarray, cfg: EvalConfig) -> dict[str, Any]:
    """Real (1) vs generated (0): trained on training people, tested on held-out people; accuracy in %."""
    x_tr, x_te = np.concatenate([real_tr, fake_a]), np.concatenate([real_te, fake_b])
    y_tr = np.r_[np.ones(len(real_tr)), np.zeros(len(fake_a))].astype(np.int64)
    y_te = np.r_[np.ones(len(real_te)), np.zeros(len(fake_b))].astype(np.int64)
    b_tr = np.r_[bouts, bouts.max() + 1 + np.arange(len(fake_a)) // 8]  # 8 generated windows a "bout"
    out: dict[str, Any] = {}
    for view in ("axes", "magnitude"):
        v_tr, v_te = (x_tr, x_te) if view == "axes" else (_mag(x_tr), _mag(x_te))
        clf = fit_classifier(v_tr, y_tr, b_tr, cfg, seed_offset=71 if view == "axes" else 72)
        out[f"cnn_{view}"] = _acc(clf.predict(v_te), y_te)
    space = rocket_space(np.concatenate([x_tr, x_te]), np.arange(len(x_tr)), n_kernels=cfg.rocket_kernels,
                         rank=cfg.rocket_rank, seed=cfg.seed)  # fmt: skip
    ridge = fit_ridge(space.z[: len(x_tr)], y_tr, b_tr, seed=cfg.seed)
    out["minirocket_axes"] = _acc(ridge.predict(space.z[len(x_tr) :]), y_te)
    best = max(out, key=lambda k: out[k])
    return {"accuracy": out[best], "discriminator": best, "all": out, "target": 60.0, "met": out[best] <= 60.0,
            "n_train": int(len(x_tr)), "n_test": int(len(x_te)), "chance": 50.0}  # fmt: skip


def tstr(fake_a: np.ndarray, act_a: np.ndarray, real_tr: np.ndarray, act_tr: np.ndarray, bouts: np.ndarray,
         real_te: np.ndarray, act_te: np.ndarray, cfg: EvalConfig) -> dict[str, Any]:
    """Macro-F1 [%] on the held-out people of an activity CNN trained on generated vs on real windows."""
    classes = np.unique(act_te)
    out: dict[str, Any] = {}
    for name, x, y, b, off in (("tstr", fake_a, act_a, np.arange(len(fake_a)) // 8, 81), ("trtr", real_tr, act_tr, bouts, 82)):
        clf = fit_classifier(x, y, b, cfg, seed_offset=off)
        out[f"{name}_f1"] = round(100.0 * float(np.mean(f1_scores(confusion(act_te, clf.predict(real_te), classes)))), 2)
    out["ratio"] = round(out["tstr_f1"] / max(out["trtr_f1"], 1e-9), 3)
    out["n_classes"] = int(len(classes))
    return out


def identity(real_tr: np.ndarray, subj_tr: np.ndarray, bouts: np.ndarray, real_te: np.ndarray, fake_b: np.ndarray,
             cfg: EvalConfig) -> dict[str, Any]:
    """Attacker on training people; confident assignment (max prob > 0.5) of unseen people vs generated."""
    held = bout_validation(subj_tr, bouts, 0.2, cfg.seed + 5)
    clf = fit_classifier(real_tr[~held], subj_tr[~held], bouts[~held], cfg, seed_offset=91)
    known = clf.predict_proba(real_tr[held])
    res: dict[str, Any] = {"known_people_accuracy": _acc(clf.classes[np.argmax(known, axis=1)], subj_tr[held]),
                           "chance": round(100.0 / len(clf.classes), 2), "n_people": int(len(clf.classes))}
    for name, p in (("known", known), ("unseen_real", clf.predict_proba(real_te)), ("generated", clf.predict_proba(fake_b))):
        top = p.max(axis=1)
        res[f"{name}_mean_max_prob"] = round(float(top.mean()), 3)
        res[f"{name}_confident_pct"] = round(100.0 * float(np.mean(top > 0.5)), 2)
        if name == "generated":
            share = np.bincount(np.argmax(p, axis=1), minlength=len(clf.classes)) / max(len(p), 1)
            res["generated_top_person_share_pct"] = round(100.0 * float(share.max()), 2)
    return res


def nearest_distances(train: np.ndarray, query: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Euclidean distance [standardized units, per sample] of each query window to its nearest training window."""
    a = train.reshape(len(train), -1).astype(np.float32)
    a2 = (a * a).sum(axis=1)
    out = []
    for i in range(0, len(query), chunk):
        q = query[i : i + chunk].reshape(-1, a.shape[1]).astype(np.float32)
        d2 = (q * q).sum(axis=1)[:, None] + a2[None] - 2.0 * q @ a.T
        out.append(np.sqrt(np.maximum(d2.min(axis=1), 0.0) / train.shape[1]))
    return np.concatenate(out)


def _nearest(real_tr: np.ndarray, real_te: np.ndarray, fake_b: np.ndarray) -> dict[str, Any]:
    mu, sd = real_tr.reshape(-1, 6).mean(axis=0), real_tr.reshape(-1, 6).std(axis=0) + 1e-6
    tr, te, fb = ((x - mu) / sd for x in (real_tr, real_te, fake_b))
    d_real, d_fake = nearest_distances(tr, te), nearest_distances(tr, fb)
    q05 = float(np.quantile(d_real, 0.05))
    return {"unseen_real_median": round(float(np.median(d_real)), 3), "generated_median": round(float(np.median(d_fake)), 3),
            "unseen_real_p05": round(q05, 3), "generated_p05": round(float(np.quantile(d_fake, 0.05)), 3),
            "generated_below_real_p05_pct": round(100.0 * float(np.mean(d_fake < q05)), 2),
            "ratio_median": round(float(np.median(d_fake) / max(np.median(d_real), 1e-9)), 3)}  # fmt: skip


def _nearest_index(pool: np.ndarray, query: np.ndarray, chunk: int = 1024) -> np.ndarray:
    a = pool.reshape(len(pool), -1).astype(np.float32)
    a2 = (a * a).sum(axis=1)
    out = [np.argmin(a2[None] - 2.0 * query[i : i + chunk].reshape(-1, a.shape[1]).astype(np.float32) @ a.T, axis=1)
           for i in range(0, len(query), chunk)]  # fmt: skip
    return np.concatenate(out) if out else np.empty(0, np.int64)


def membership(train: np.ndarray, key_train: np.ndarray, held: np.ndarray, key_held: np.ndarray, fake: np.ndarray,
               key_fake: np.ndarray, control: np.ndarray, key_control: np.ndarray, *, seed: int = 0) -> dict[str, Any]:  # fmt: skip
    """Membership test at the level of people: does a generated window lie nearer the people the model
    trained on than people it never saw?

    Per condition ``key`` the pool holds as many windows of training people (``train``) as of held-out
    people (``held``); each query (a ``fake`` window, or a ``control`` window: real, of *other* held-out
    people) is matched, in its own condition, to its nearest pool window. ``*_train_pct``: how often
    that one is a training person's. A generator that reproduces its training people pushes the
    generated share above the control's; ``advantage`` = generated - control (0 = no signal)."""
    rng = np.random.default_rng(seed)
    mu, sd = train.reshape(-1, train.shape[-1]).mean(axis=0), train.reshape(-1, train.shape[-1]).std(axis=0) + 1e-6
    hits = {"generated": [0, 0], "control": [0, 0]}
    for k in np.unique(np.concatenate([key_fake, key_control])):
        it, ih = np.flatnonzero(key_train == k), np.flatnonzero(key_held == k)
        n = min(len(it), len(ih))
        if n == 0:
            continue
        pool = (np.concatenate([train[rng.choice(it, n, replace=False)], held[rng.choice(ih, n, replace=False)]]) - mu) / sd
        for name, q, kq in (("generated", fake, key_fake), ("control", control, key_control)):
            sel = q[kq == k]
            if len(sel):
                idx = _nearest_index(pool, (sel - mu) / sd)
                hits[name][0] += int(np.sum(idx < n))
                hits[name][1] += len(sel)
    pct = {name: round(100.0 * a / b, 2) if b else float("nan") for name, (a, b) in hits.items()}
    return {"generated_train_pct": pct["generated"], "control_train_pct": pct["control"],
            "advantage": round(pct["generated"] - pct["control"], 2), "n_generated": hits["generated"][1],
            "n_control": hits["control"][1]}  # fmt: skip


def spectra(real: np.ndarray, fake: np.ndarray, keys: np.ndarray, path: Path) -> dict[str, float]:
    """Mean power spectra of |acc| and |gyro| per condition (plot) and their RMS log-distance [dB]."""
    plt = _plt()
    groups = list(dict.fromkeys(keys.tolist()))
    fig, axes = plt.subplots(len(groups), 2, figsize=(9, 1.7 * len(groups)), squeeze=False)
    freqs = np.fft.rfftfreq(real.shape[1], 1 / 50.0)
    dist: dict[str, float] = {}
    for r, g in enumerate(groups):
        m = keys == g
        for c, name in enumerate(("acc_mag", "gyro_mag")):
            sig = [_mag(x[m])[..., c] for x in (real, fake)]
            ps = [np.mean(np.abs(np.fft.rfft(v - v.mean(axis=1, keepdims=True), axis=1)) ** 2, axis=0) for v in sig]
            db = [10 * np.log10(np.maximum(p, 1e-9)) for p in ps]
            dist[f"{g} {name}"] = round(float(np.sqrt(np.mean((db[0][1:] - db[1][1:]) ** 2))), 2)
            ax = axes[r][c]
            ax.plot(freqs, db[0], color="black", label="real (held-out people)")
            ax.plot(freqs, db[1], color="tab:orange", label="generated")
            ax.set_title(f"{g} - {name}", fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=6)
    for ax in axes[-1]:
        ax.set_xlabel("Hz", fontsize=8)
    save_figure(fig, path, dpi=100)
    return dist


def evaluate(gen: Generator, model_path: str | Path, data: str | Path, out: str | Path, *, quick: bool = False,
             temperature: float = 1.0, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every test above -> ``report.json``, ``report.md``, ``spectra.png``, ``examples.png`` in ``out``.

    ``temperature`` scales the mixture's sigmas and sharpens its weights when sampling (< 1: less noise)."""
    meta = json.loads(bytes(np.load(model_path)["meta"]).decode())
    c = meta["config"]
    gcfg = GenConfig(**{**c, "datasets": tuple(c["datasets"]), "units": tuple(c["units"])})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = EvalConfig.quick(epochs=3) if quick else EvalConfig(max_train=12_000)
    cap = 400 if quick else 6000
    log("generate evaluate: loading data")
    gd = load_data(data, gcfg)
    if list(gd.test_subjects) != meta["test_subjects"]:
        log("generate evaluate: warning: the held-out people differ from the model's (other --data?)")
    ws = gd.ws
    tr = _cap(_usable(gen, gd, gd.train), cap, 1)
    te = _cap(_usable(gen, gd, np.flatnonzero(np.isin(ws.subject, meta["test_subjects"]))), cap, 2)
    t0 = time.perf_counter()
    fake_a = generate_like(gen, gd, tr, seed=1_000_000, temperature=temperature)
    fake_b = generate_like(gen, gd, te, seed=2_000_000, temperature=temperature)
    log(f"generate evaluate: {len(fake_a) + len(fake_b)} windows generated in {time.perf_counter() - t0:.0f} s")
    real_tr, real_te = ws.x[tr], ws.x[te]
    keys = np.char.add(np.char.add(np.asarray(ws.activity_names)[ws.activity[te]], "@"), ws.dataset_of()[te])
    report: dict[str, Any] = {"model": Path(model_path).name, "quick": quick, "burn_in_samples": BURN_IN, "temperature": temperature,
                              "n_train_people": len(meta["train_subjects"]), "n_test_people": len(meta["test_subjects"]),
                              "speed": sampling_speed(gen, 5.0 if quick else 60.0)}  # fmt: skip
    log("generate evaluate: discriminators")
    report["discriminator"] = discriminators(real_tr, fake_a, real_te, fake_b, ws.bout[tr], cfg)
    log("generate evaluate: TSTR / TRTR")
    report["tstr"] = tstr(fake_a, ws.activity[tr], real_tr, ws.activity[tr], ws.bout[tr], real_te, ws.activity[te], cfg)
    log("generate evaluate: identity attacker, nearest neighbours, spectra")
    report["identity"] = identity(real_tr, ws.subject[tr], ws.bout[tr], real_te, fake_b, cfg)
    report["nearest"] = _nearest(ws.x[_cap(gd.train, 3 * cap, 3)], real_te, fake_b)
    report["membership"] = _membership(gen, gd, meta["test_subjects"], cap, temperature)
    report["spectra_rms_db"] = spectra(real_te, fake_b, keys, out / "spectra.png")
    first = [int(np.flatnonzero(keys == k)[0]) for k in dict.fromkeys(keys.tolist())]
    plot_examples({"raw": real_te[first], "labels": [str(keys[i]) for i in first], "channels": ws.spec.channels,
                   "released": {"generated": fake_b[first]}}, out / "examples.png")  # fmt: skip
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(markdown(report))
    return report


def _membership(gen: Generator, gd: GenData, test_subjects: list[Any], cap: int, temperature: float) -> dict[str, Any]:
    """``membership`` with the held-out people split in two halves (seeded): one half's windows in the
    pool, the other half's real windows as the control, generated windows of the control's conditions."""
    ws = gd.ws
    if len(test_subjects) < 2:
        return {"skipped": f"needs 2 or more held-out people, the model has {len(test_subjects)}"}
    people = np.random.default_rng(7).permutation(np.asarray(test_subjects))
    pool_p, ctrl_p = people[: len(people) // 2], people[len(people) // 2 :]
    held = _cap(_usable(gen, gd, np.flatnonzero(np.isin(ws.subject, pool_p))), 2 * cap, 4)
    ctrl = _cap(_usable(gen, gd, np.flatnonzero(np.isin(ws.subject, ctrl_p))), cap, 5)
    fake = generate_like(gen, gd, ctrl, seed=3_000_000, temperature=temperature)
    train = _cap(_usable(gen, gd, gd.train), 4 * cap, 6)
    key = np.char.add(np.char.add(np.asarray(ws.activity_names)[ws.activity], "@"), ws.dataset_of())
    return membership(ws.x[train], key[train], ws.x[held], key[held], fake, key[ctrl], ws.x[ctrl], key[ctrl])


def markdown(r: dict[str, Any]) -> str:
    d, t, i, n, s = r["discriminator"], r["tstr"], r["identity"], r["nearest"], r["speed"]
    lines = [f"# Generator report ({r['model']}{', QUICK smoke numbers' if r['quick'] else ''})", "",
             f"{r['n_train_people']} training people, {r['n_test_people']} held out; generated windows start after "
             f"{r['burn_in_samples']} samples of free running, sampled at temperature {r.get('temperature', 1.0):g}.", "",
             "| test | measured | target / reference |", "|---|---|---|",
             f"| discriminator accuracy, held-out people (strongest: {d['discriminator']}) | {d['accuracy']} % | "
             f"<= 60 % ({'met' if d['met'] else 'NOT met'}); chance 50 % |",
             *(f"| - {k} | {v} % | |" for k, v in d["all"].items()),
             f"| TSTR macro-F1 (train generated, test real held-out) | {t['tstr_f1']} % | TRTR {t['trtr_f1']} % "
             f"(ratio {t['ratio']}) |",
             f"| identity attacker on its own people's held-out bouts | {i['known_people_accuracy']} % | chance {i['chance']} % |",
             f"| confident (p > 0.5) identity: known / unseen real / generated | {i['known_confident_pct']} / "
             f"{i['unseen_real_confident_pct']} / {i['generated_confident_pct']} % | generated <= unseen = no copying |",
             f"| generated windows given to one person, largest share | {i['generated_top_person_share_pct']} % | "
             f"{i['n_people']} people |",
             f"| nearest training window, median: unseen real / generated | {n['unseen_real_median']} / "
             f"{n['generated_median']} (ratio {n['ratio_median']}) | ratio << 1 would be copying |",
             f"| generated closer than the 5th pct of unseen real | {n['generated_below_real_p05_pct']} % | 5 % = like real |",
             "| membership: nearest of training vs held-out people is a training person's, generated / control | "
             + (f"{m['generated_train_pct']} / {m['control_train_pct']} % (advantage {m['advantage']})" if "advantage" in
                (m := r.get("membership", {})) else m.get("skipped", "not measured")) + " | advantage 0 = no person-level copying |",
             f"| sampling speed, one stream (numpy) | {s['samples_per_s']} samples/s | {s['x_real_time']}x real time at 50 Hz |",
             "", "Spectra (RMS difference of mean log power, dB): "
             + ", ".join(f"{k} {v}" for k, v in r["spectra_rms_db"].items()), "",
             "![spectra](spectra.png)", "", "![examples](examples.png)", ""]  # fmt: skip
    return "\n".join(lines)
