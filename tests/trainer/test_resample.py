"""Anti-aliased decimation: stopband tones removed, passband tones kept in amplitude and phase."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.data.resample import decimate, lowpass_kernel

FS = 200.0
T = np.arange(4000) / FS
EDGE = 30  # output samples at each end where the padded ends still matter for a pure tone


def tone(f: float) -> np.ndarray:
    return np.sin(2 * np.pi * f * T)


@pytest.mark.parametrize("f", [30.0, 40.0, 60.0])
def test_tones_above_the_new_nyquist_are_removed(f: float) -> None:
    y = decimate(tone(f), 4)  # 30 Hz would alias to 20 Hz, 40 Hz to 10 Hz, 60 Hz to 10 Hz
    assert np.abs(y[EDGE:-EDGE]).max() < 0.01
    naive = tone(f)[::4]
    assert np.abs(naive).max() > 0.5  # without the filter the tone would be there


@pytest.mark.parametrize("f", [2.0, 10.0, 15.0])
def test_tones_in_the_passband_keep_amplitude_and_phase(f: float) -> None:
    y = decimate(tone(f), 4)
    ref = np.sin(2 * np.pi * f * T[::4])  # same sample times: zero phase shift
    assert np.abs(y - ref)[EDGE:-EDGE].max() < 0.01


def test_levels_and_ramps_survive_to_the_ends() -> None:
    x = np.stack([np.full(1001, 9.80665), np.linspace(-3, 5, 1001)], axis=1)
    y = decimate(x, 4)
    assert y.shape == (251, 2)
    np.testing.assert_allclose(y, x[::4], atol=1e-9)
    np.testing.assert_allclose(decimate(np.ones((3, 6)), 4), np.ones((1, 6)))  # shorter than the filter
    assert decimate(np.zeros((0, 6)), 4).shape == (0, 6)


def test_kernel_and_arguments() -> None:
    h = lowpass_kernel(4)
    assert len(h) % 2 == 1 and abs(h.sum() - 1) < 1e-12 and np.allclose(h, h[::-1])
    np.testing.assert_array_equal(decimate(tone(2.0), 1), tone(2.0))
    with pytest.raises(ValueError, match="factor"):
        decimate(tone(2.0), 0)
    with pytest.raises(ValueError, match="cutoff"):
        lowpass_kernel(4, cutoff=1.5)
