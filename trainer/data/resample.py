"""Integer-factor decimation with an anti-aliasing low-pass: a zero-phase Kaiser-windowed-sinc FIR.

Taking every k-th sample of a 200 Hz recording folds everything above the new Nyquist frequency
(25 Hz at 50 Hz) back into the band a model sees; impacts and sensor noise would turn into fake
low-frequency motion. The filter removes that first. It is symmetric and centred on each output
sample, so it shifts nothing in time (zero phase), and its gain at DC is exactly 1, so gravity
and static postures keep their level.
"""

from __future__ import annotations

import numpy as np

__all__ = ["decimate", "lowpass_kernel"]


def lowpass_kernel(factor: int, *, cutoff: float = 0.84, taps: int | None = None, beta: float = 5.65) -> np.ndarray:
    """FIR taps (odd length, unit DC gain) of the anti-aliasing filter for decimation by ``factor``.

    Args:
        factor: decimation factor (>= 1).
        cutoff: -6 dB point as a fraction of the *output* Nyquist frequency (0.84: 21 Hz when 200 Hz
            becomes 50 Hz), leaving room for the transition band below the fold-over point.
        taps: filter length, made odd; default ``24 * factor + 1`` (97 taps at factor 4: passband to
            about 17 Hz, stopband from about 25 Hz).
        beta: Kaiser window shape; 5.65 gives about 60 dB stopband attenuation.
    """
    if factor < 1:
        raise ValueError(f"decimation factor must be >= 1, got {factor}")
    if not 0 < cutoff <= 1:
        raise ValueError(f"cutoff must be in (0, 1] of the output Nyquist, got {cutoff}")
    n = 24 * factor + 1 if taps is None else int(taps) | 1
    fc = cutoff / (2 * factor)  # cycles per input sample
    t = np.arange(n) - n // 2
    h: np.ndarray = 2 * fc * np.sinc(2 * fc * t) * np.kaiser(n, beta)
    return h / float(h.sum())


def decimate(x: np.ndarray, factor: int, *, cutoff: float = 0.84, taps: int | None = None, beta: float = 5.65) -> np.ndarray:
    """Low-pass ``x`` along axis 0 and keep every ``factor``-th sample, starting with the first.

    Output sample ``k`` is the filtered input at ``k * factor``; ``len = ceil(len(x) / factor)``.
    The ends are padded by odd reflection (level and slope continue), so a recording's first and
    last samples are not pulled towards zero. Returns float64 of shape ``(ceil(N/factor), ...)``.
    """
    a = np.asarray(x, dtype=np.float64)
    if factor == 1 or len(a) == 0:
        return a.copy()
    h = lowpass_kernel(factor, cutoff=cutoff, taps=taps, beta=beta)
    half = len(h) // 2
    flat = a.reshape(len(a), -1)
    out = np.empty(((len(a) + factor - 1) // factor, flat.shape[1]))
    padded = np.empty(len(a) + 2 * half)  # one buffer for every column: a day at 200 Hz is 138 MB a copy
    step = _CHUNK * factor
    for c in range(flat.shape[1]):
        col = flat[:, c]
        _pad_into(padded, col, half)
        for i in range(0, len(col), step):  # each output is its own dot product: chunks change no bit
            out[i // factor : (i + step) // factor, c] = np.convolve(padded[i : i + step + 2 * half], h, mode="valid")[::factor]
    return out.reshape(out.shape[0], *a.shape[1:])


_CHUNK = 1 << 16  # outputs per convolution call: its temporary stays small (and its pages reused)


def _pad_into(padded: np.ndarray, col: np.ndarray, half: int) -> None:
    """``np.pad(col, half, mode="reflect", reflect_type="odd")`` written into ``padded``; only the
    ends are padded by ``np.pad`` (the same values: they depend on the ``half + 1`` edge samples)."""
    n = len(col)
    if n <= half + 1:  # np.pad reflects more than once, or a single sample: the whole way, as before
        padded[:] = np.pad(col, half, mode="reflect", reflect_type="odd") if n > 1 else col[0]
        return
    padded[half : half + n] = col
    padded[:half] = np.pad(col[: half + 1], (half, 0), mode="reflect", reflect_type="odd")[:half]
    padded[half + n :] = np.pad(col[n - half - 1 :], (0, half), mode="reflect", reflect_type="odd")[half + 1 :]
