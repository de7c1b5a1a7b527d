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


def test_chunked_decimation_is_the_whole_array_convolution_bit_for_bit(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """One padded buffer and chunked convolutions (memory) give the bits of padding and convolving it all."""
    import trainer.data.resample as r

    def whole(x: np.ndarray, factor: int) -> np.ndarray:
        h = lowpass_kernel(factor)
        half = len(h) // 2
        cols = []
        for col in x.T:
            padded = np.pad(col, half, mode="reflect", reflect_type="odd") if len(col) > 1 else np.full(len(col) + 2 * half, col[0])
            cols.append(np.convolve(padded, h, mode="valid")[::factor])
        return np.stack(cols, axis=1)

    monkeypatch.setattr(r, "_CHUNK", 37)  # many chunks, none a multiple of anything
    rng = np.random.default_rng(0)
    for n in [*range(1, 120), 500, 4097, 20000]:
        for factor in (2, 4):
            x = rng.standard_normal((n, 3)) * 10
            assert np.array_equal(decimate(x, factor), whole(x, factor)), (n, factor)
