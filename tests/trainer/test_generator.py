"""Generator trainer: the exported numpy sampler equals the Keras model step by step, the MDN loss is the
mixture NLL, the people split holds out a third per dataset, the nearest-neighbour test sees copies,
and a quick training run (and ``aae generate train --quick`` on real HAPT people) ends to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.contract import WindowSpec
from firmware_bridge.generated import load_generator, parse_schedule
from trainer.cli import main
from trainer.data import Recording, make_windows
from trainer.errors import TrainerError
from trainer.generator import (
    GenConfig,
    build_model,
    export_arrays,
    make_data,
    mdn_loss,
    save_npz,
    split_people,
    with_overrides,
)
from trainer.generator_eval import membership, nearest_distances
from trainer.generator_fit import sampled_inputs, train_generator

SPEC = WindowSpec(rate_hz=50.0, length=128, stride=64, view="axes")


def windows(n_subjects: int = 6, seconds: float = 20.0, dataset: str = "hapt"):  # type: ignore[no-untyped-def]
    """Walking (a 2 Hz sway whose size depends on the person) then sitting, per subject."""
    recs = []
    t = np.arange(int(seconds * 50)) / 50.0
    rng = np.random.default_rng(0)
    for s in range(1, n_subjects + 1):
        x = np.zeros((len(t), 6), np.float32)
        x[:, 2] = 9.8
        half = len(t) // 2
        x[:half, 0] = (1 + 0.2 * s) * np.sin(2 * np.pi * 2 * t[:half])
        x[:, 3:] = rng.normal(0, 0.05, (len(t), 3))
        labels = np.r_[np.zeros(half), np.full(len(t) - half, 3)].astype(np.int8)  # walking, sitting
        recs.append(Recording(dataset, s, s, x, labels))
    return make_windows(recs, SPEC)


def test_numpy_step_equals_keras(tmp_path: Path) -> None:
    cfg = GenConfig(units=(8, 6), components=3)
    model = build_model(5, cfg, None)
    meta = {"activities": ["walking", "sitting", "laying"], "datasets": ["hapt", "sisfall"], "components": 3,
            "default_dataset": {"walking": "hapt", "sitting": "hapt", "laying": "hapt"},
            "pairs": [["walking", "hapt"], ["sitting", "hapt"], ["laying", "hapt"]], "rate_hz": 50.0}
    gen = load_generator(save_npz(tmp_path / "g.npz", export_arrays(model, meta, np.zeros(6), np.ones(6))))
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 30, 6)).astype(np.float32)
    cond = np.zeros((4, 30, 5), np.float32)
    cond[:, :15, 0] = cond[:, 15:, 2] = cond[:, :, 3] = 1.0  # an activity change half way
    want = np.asarray(model([x, cond], training=False))
    state, got = gen.zero_state(4), []
    for k in range(30):
        params, state = gen.step(x[:, k], cond[:, k], state)
        got.append(params)
    assert np.allclose(np.stack(got, axis=1), want, atol=1e-5)


def test_mdn_loss_is_the_mixture_nll() -> None:
    k, rng = 2, np.random.default_rng(2)
    y = rng.normal(size=(3, 4, 6)).astype(np.float32)
    p = rng.normal(0, 0.5, size=(3, 4, k * 13)).astype(np.float32)
    got = float(mdn_loss(k)(y, p))
    logits, mu, ls = p[..., :k], p[..., k : 7 * k].reshape(3, 4, k, 6), p[..., 7 * k :].reshape(3, 4, k, 6)
    w = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    dens = np.exp(-0.5 * (((y[:, :, None] - mu) / np.exp(ls)) ** 2).sum(-1) - ls.sum(-1) - 3 * math.log(2 * math.pi))
    assert got == pytest.approx(float(-np.log((w * dens).sum(-1)).mean()), rel=1e-4)


def test_split_holds_out_a_third_of_each_datasets_people() -> None:
    ws = windows(n_subjects=9)
    train, test = split_people(ws, 1 / 3, seed=0)
    assert len(np.unique(ws.subject[test])) == 3 and not set(ws.subject[train]) & set(ws.subject[test])
    assert np.array_equal(test, split_people(ws, 1 / 3, seed=0)[1])


def test_nearest_distances_see_a_copy() -> None:
    rng = np.random.default_rng(3)
    train = rng.normal(size=(50, 16, 6)).astype(np.float32)
    d = nearest_distances(train, np.concatenate([train[:5], rng.normal(size=(5, 16, 6)).astype(np.float32)]))
    assert np.allclose(d[:5], 0, atol=1e-3) and (d[5:] > 0.5).all()


def test_membership_tells_a_generator_that_copies_its_people_from_one_that_does_not() -> None:
    rng = np.random.default_rng(0)

    def people(ids: range, n: int = 30) -> tuple[np.ndarray, np.ndarray]:  # each person: an own offset per axis
        x = np.concatenate([0.3 * rng.normal(size=(1, 1, 6)) + rng.normal(size=(n, 16, 6)) for _ in ids])
        return x.astype(np.float32), np.array(["walk@hapt", "sit@hapt"] * (n * len(ids) // 2))

    train, k_train = people(range(10))
    held, k_held = people(range(10, 20))
    control, k_control = people(range(20, 40))
    pick = rng.choice(len(train), 200)
    copies = train[pick] + 0.05 * rng.normal(size=(200, 16, 6)).astype(np.float32)
    fresh, k_fresh = people(range(40, 60))
    copied = membership(train, k_train, held, k_held, copies, k_train[pick], control, k_control)
    new = membership(train, k_train, held, k_held, fresh, k_fresh, control, k_control)
    assert copied["generated_train_pct"] == 100.0 and copied["advantage"] > 35, copied
    assert abs(new["advantage"]) < 12 and 30 < new["control_train_pct"] < 70, new


def test_quick_training_writes_checkpoints_and_a_sampler(tmp_path: Path) -> None:
    cfg = GenConfig.quick_config(epochs=2, sampled_inputs=0.4, sampled_ramp=1)
    lines: list[str] = []
    path = train_generator(make_data(windows(), cfg), cfg, tmp_path / "gen", log=lines.append)
    assert (tmp_path / "gen" / "checkpoints" / "epoch-002.weights.h5").is_file()
    assert any("epoch 1/2" in ln for ln in lines) and any("epoch 2/2" in ln for ln in lines)
    gen = load_generator(path)
    assert gen.activities == ("walking", "sitting") and gen.datasets == ("hapt",)
    x, labels = gen.schedule(parse_schedule("walk:1,sit:1"), seed=0)
    assert x.shape == (100, 6) and np.isfinite(x).all() and labels[-1] == "sitting"
    assert path.stat().st_size < 100_000
    history = json.loads((tmp_path / "gen" / "generator.json").read_text())["history"]
    assert [h["sampled_share"] for h in history] == [0.0, 0.4]  # scheduled sampling from epoch 2
    # fine-tuning starts from that model: its weights and normalization, not random ones
    tuned = with_overrides(cfg, epochs=1, init=str(path), lr=1e-9)
    again = load_generator(train_generator(make_data(windows(), tuned), tuned, tmp_path / "tuned", log=lines.append))
    np.testing.assert_allclose(again.head[1], gen.head[1], atol=1e-5)
    assert np.array_equal(again.mean, gen.mean)
    other = with_overrides(cfg, init=str(path), datasets=("sisfall",))
    with pytest.raises(TrainerError, match="conditions"):
        train_generator(make_data(windows(dataset="sisfall"), other), other, tmp_path / "x", log=lines.append)


def test_scheduled_sampling_feeds_the_models_own_draws_never_the_first_step() -> None:
    import keras

    cfg = GenConfig.quick_config()
    model = build_model(3, cfg, 32)
    head = model.get_layer("mdn")
    w, b = head.get_weights()
    k = cfg.components
    b[:] = 0.0
    b[k : k + k * 6] = 2.5  # every component's mean 2.5, sigma at the clamp: each draw is 2.5
    b[k + k * 6 :] = -20.0
    head.set_weights([np.zeros_like(w), b])
    keras.utils.set_random_seed(0)
    xin = np.random.default_rng(1).normal(size=(64, 32, 6)).astype(np.float32)
    cond = np.zeros((64, 32, 3), np.float32)
    assert np.array_equal(sampled_inputs(model, xin, cond, 0.0, k, np.random.default_rng(0)), xin)
    out = sampled_inputs(model, xin, cond, 0.5, k, np.random.default_rng(0))
    changed = np.any(out != xin, axis=2)
    assert not changed[:, 0].any() and 0.4 < changed[:, 1:].mean() < 0.6
    np.testing.assert_allclose(out[changed], 2.5, atol=1e-2)  # the model's draw, not noise or a neighbour
    assert np.array_equal(out[~changed], xin[~changed])
    full = sampled_inputs(model, xin, cond, 1.0, k, np.random.default_rng(0))
    assert np.array_equal(full[:, 0], xin[:, 0]) and np.allclose(full[:, 1:], 2.5, atol=1e-2)


def test_aae_generate_train_quick_on_real_people(hapt_small_root: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "train", "--data", str(hapt_small_root), "--out", str(tmp_path / "g"), "--quick"]) == 0
    out = capsys.readouterr().out
    assert "epoch 2/2" in out and (tmp_path / "g" / "generator.npz").is_file()
    assert set(load_generator(tmp_path / "g" / "generator.npz").activities) <= {
        "walking", "upstairs", "downstairs", "sitting", "standing", "laying"}
    ev = tmp_path / "g" / "eval"
    assert main(["generate", "evaluate", "--model", str(tmp_path / "g" / "generator.npz"), "--data",
                 str(hapt_small_root), "--out", str(ev), "--quick"]) == 0  # fmt: skip
    report = json.loads((ev / "report.json").read_text())
    assert report["membership"] == {"skipped": "needs 2 or more held-out people, the model has 1"}  # --quick: 4 people
    assert "membership: " in (ev / "report.md").read_text() and (ev / "spectra.png").stat().st_size > 0


@pytest.mark.parametrize(("argv", "message"), [
    (["generate", "evaluate", "--model", "missing.npz", "--data", "."], "does not exist"),
    (["generate", "train", "--data", ".", "--out", "x", "--set", "bogus=1"], "unknown generator setting 'bogus'"),
    (["generate", "train", "--data", "no-such-dir", "--out", "x"], "does not exist"),
])  # fmt: skip
def test_generate_errors_are_one_line(argv: list[str], message: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_evaluate_refuses_a_temperature_outside_0_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["generate", "evaluate", "--model", "m.npz", "--data", ".", "--temperature", "3"])
    assert exc.value.code == 2 and "must be in (0, 2]" in capsys.readouterr().err
