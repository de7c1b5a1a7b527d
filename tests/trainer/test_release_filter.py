"""The fixed release filter inside the model is the numpy baseline it is documented to be."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras")

from edge_runtime.contract import G, WindowSpec  # noqa: E402
from edge_runtime.normalizer import Normalization  # noqa: E402
from trainer.baselines import lowpass  # noqa: E402
from trainer.config import TrainConfig  # noqa: E402
from trainer.errors import TrainerError  # noqa: E402
from trainer.model import build_anonymizer  # noqa: E402
from trainer.train import _release_filter  # noqa: E402


def _windows(n: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(128) / 50.0
    f = rng.uniform(0.5, 12.0, (n, 1))
    acc = 9.6 + 3.0 * np.sin(2 * np.pi * f * t) + 0.5 * rng.standard_normal((n, 128))
    gyro = np.abs(1.0 + np.cos(2 * np.pi * f * t) + 0.2 * rng.standard_normal((n, 128)))
    return np.stack([acc, gyro], axis=2).astype(np.float32)


def _model(cfg: TrainConfig, norm: Normalization):
    spec = WindowSpec(50.0, 128, 64, "magnitude")
    return build_anonymizer(None, None, _release_filter(cfg, spec, norm), shape=spec.shape)


def test_filter_equals_centered_lowpass_in_physical_units() -> None:
    x = _windows()
    norm = Normalization.fit(x)
    model = _model(TrainConfig(learned=False, release_cutoff_hz=5.0, release_center=True), norm)
    y = norm.invert(model.predict(norm.apply(x), verbose=0))
    want = lowpass(x, 50.0, 5.0)
    want[:, :, 0] += G - want[:, :, 0].mean(axis=1, keepdims=True)
    np.testing.assert_allclose(y, want, atol=2e-3)
    assert np.allclose(y[:, :, 0].mean(axis=1), G, atol=1e-3)  # the |acc| offset of the wearer is gone
    hann = np.hanning(128)[None, :, None]  # taper: a bare window's sidelobes are not the filter's
    spectrum = np.abs(np.fft.rfft((y - y.mean(axis=1, keepdims=True)) * hann, axis=1))
    f = np.fft.rfftfreq(128, 1 / 50.0)
    assert spectrum[:, f > 6.0].max() < 0.02 * spectrum.max()  # nothing above the cutoff survives


def test_motion_gated_filter_equals_its_numpy_reference_and_keeps_still_offsets() -> None:
    from trainer.baselines import release_filter

    x = _windows(n=24, seed=3)
    still = 9.9 + 0.02 * np.random.default_rng(4).standard_normal((8, 128))  # a posture: |acc| 0.09 above g
    x[:8, :, 0], x[:8, :, 1] = still, 0.01
    norm = Normalization.fit(x)
    cfg = TrainConfig(learned=False, release_cutoff_hz=2.5, release_center=True, release_keep_static_mad=0.24)
    y = norm.invert(_model(cfg, norm).predict(norm.apply(x), verbose=0))
    want = release_filter(x, 50.0, 2.5, keep_static_mad=0.24)
    np.testing.assert_allclose(y, want, atol=3e-3)
    np.testing.assert_allclose(y[:8, :, 0].mean(axis=1), 9.9, atol=5e-3)  # still windows keep their offset
    np.testing.assert_allclose(y[8:, :, 0].mean(axis=1), G, atol=5e-3)  # moving ones lose it


def test_filter_without_center_is_the_plain_lowpass() -> None:
    x = _windows(seed=1)
    norm = Normalization.fit(x)
    y = norm.invert(_model(TrainConfig(learned=False, release_cutoff_hz=8.0), norm).predict(norm.apply(x), verbose=0))
    np.testing.assert_allclose(y, lowpass(x, 50.0, 8.0), atol=2e-3)


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        (TrainConfig(release_cutoff_hz=30.0), "Nyquist"),
        (TrainConfig(view="axes", release_center=True), "magnitude view"),
    ],
)
def test_bad_filter_configs_name_the_key(cfg: TrainConfig, match: str) -> None:
    spec = WindowSpec(50.0, 128, 64, cfg.view)
    x = np.ones((4, *spec.shape), np.float32) + np.arange(spec.shape[1])
    with pytest.raises(TrainerError, match=match):
        _release_filter(cfg, spec, Normalization.fit(x + np.random.default_rng(0).random(x.shape)))
