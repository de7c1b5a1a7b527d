"""Resampling baselines keep the window grid and really remove content above the new Nyquist."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.baselines import gaussian_noise, identity, lowpass, resample_baseline

RATE, W = 50.0, 128


def _sines(freqs: list[float], n: int = 4) -> np.ndarray:
    t = np.arange(W) / RATE
    phases = np.random.default_rng(0).uniform(0, 2 * np.pi, size=(n, len(freqs)))
    x = np.stack([sum(np.sin(2 * np.pi * f * t + p) for f, p in zip(freqs, ph, strict=True)) for ph in phases])
    return np.stack([x + 9.8, 0.5 * x], axis=2).astype(np.float32)  # (n, W, 2), an offset like gravity


def _band_power(x: np.ndarray, lo: float, hi: float) -> float:
    core = x[:, 16:-16, :] - x[:, 16:-16, :].mean(axis=1, keepdims=True)  # away from the window edges
    spec = np.abs(np.fft.rfft(core * np.hanning(core.shape[1])[None, :, None], axis=1)) ** 2
    f = np.fft.rfftfreq(core.shape[1], 1 / RATE)
    return float(spec[:, (f >= lo) & (f < hi), :].sum())


@pytest.mark.parametrize("target", [10.0, 5.0])
def test_resampling_keeps_shape_dtype_and_the_mean(target: float) -> None:
    x = _sines([1.0])
    y = resample_baseline(RATE, target)(x)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y.mean(axis=1), x.mean(axis=1), atol=0.1)


@pytest.mark.parametrize(("target", "low", "high"), [(10.0, 1.5, 12.0), (5.0, 0.8, 6.0)])
def test_resampling_removes_content_above_the_new_nyquist(target: float, low: float, high: float) -> None:
    t = resample_baseline(RATE, target)
    nyq = target / 2
    hi_in = _sines([high])
    assert _band_power(t(hi_in), nyq, RATE / 2) < 0.01 * _band_power(hi_in, nyq, RATE / 2)
    lo_in = _sines([low])
    kept = t(lo_in)
    assert np.corrcoef(kept[:, :, 1].ravel(), lo_in[:, :, 1].ravel())[0, 1] > 0.97
    noise = np.random.default_rng(1).normal(size=(8, W, 2)).astype(np.float32)
    out = t(noise)
    frac_in = _band_power(noise, nyq, RATE / 2) / _band_power(noise, 0, RATE / 2)
    frac_out = _band_power(out, nyq, RATE / 2) / _band_power(out, 0, RATE / 2)
    assert frac_in > 0.5 and frac_out < 0.1  # white noise loses nearly all energy above the new Nyquist


def test_resampled_window_is_piecewise_linear_between_kept_samples() -> None:
    y = resample_baseline(RATE, 10.0)(np.random.default_rng(2).normal(size=(2, W, 1)).astype(np.float32))
    second_diff = np.diff(y[0, :126, 0], 2)
    kinks = np.flatnonzero(np.abs(second_diff) > 1e-4) + 1
    assert set(kinks.tolist()) <= set(range(0, W, 5))  # bends only at the 10 Hz samples


def test_lowpass_passes_dc_and_bad_factor_is_rejected() -> None:
    x = np.full((1, W, 2), 3.0, np.float32)
    np.testing.assert_allclose(lowpass(x, RATE, 2.5), x, atol=1e-5)
    with pytest.raises(ValueError, match="integer factor"):
        resample_baseline(RATE, 20.0)
    with pytest.raises(ValueError, match="integer factor"):
        resample_baseline(RATE, 50.0)


def test_identity_and_noise_baselines() -> None:
    x = _sines([2.0], n=64)
    np.testing.assert_array_equal(identity(x), x)
    noisy = gaussian_noise([1.0, 2.0], scale=0.5, seed=3)(x)
    again = gaussian_noise([1.0, 2.0], scale=0.5, seed=3)(x)
    np.testing.assert_array_equal(noisy, again)
    np.testing.assert_allclose((noisy - x).std(axis=(0, 1)), [0.5, 1.0], rtol=0.05)


def test_label_only_writes_the_label_and_nothing_else() -> None:
    from trainer.baselines import label_only
    from trainer.evaluate import release_windows

    from .synthetic import planted

    ws = planted(n_subjects=3, windows_per_bout=4)
    out = release_windows(label_only(ws), ws)
    assert out.shape == ws.x.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out, np.broadcast_to(ws.activity.astype(np.float32)[:, None, None], out.shape))
    # equal labels -> identical windows, whoever the subject: no signal gets through
    assert len(np.unique(out.reshape(len(out), -1), axis=0)) == 2


def test_label_only_refuses_windows_it_does_not_know() -> None:
    from trainer.baselines import label_only

    from .synthetic import planted

    ws = planted(n_subjects=2, windows_per_bout=3)
    t = label_only(ws)
    with pytest.raises(ValueError, match="not in the windows"):
        t.release(ws.x[:1], stream=np.array([123]), start=np.array([0]))


@pytest.mark.slow
def test_label_only_is_readable_with_many_classes() -> None:
    """The bound the row stands for: with 8 activities an activity CNN retrained on the label-only
    release reads (nearly) every label (a time-segment encoding read 77 F1 on HAPT's 6 classes)."""
    from dataclasses import replace

    from trainer.baselines import label_only
    from trainer.evaluate import _activity, release_windows
    from trainer.evaluators import EvalConfig
    from trainer.splits import make_splits

    from .synthetic import planted

    ws = planted(n_subjects=6, windows_per_bout=6)
    ws = replace(ws, activity=(ws.bout % 8).astype(np.int16), activity_names=tuple(f"a{i}" for i in range(8)))
    splits = make_splits(ws, seed=0)
    f1 = _activity(release_windows(label_only(ws), ws), ws, splits, EvalConfig.quick(epochs=15))["macro_f1"]
    assert f1 > 95
