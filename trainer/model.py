"""The anonymizer (encoder -> Y -> decoder) and the paper's three regularizers, in int8-friendly ops.

Deviations from the paper, on purpose: ReLU instead of SELU and UpSampling1D + Conv1D instead
of transposed convolutions — both SELU and Conv1DTranspose quantize badly (or not at all) to
full-int8 TFLite. Only built-in Keras layers are used, so a saved model reloads without custom
objects. Shapes are given as (batch, time, channels).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import layers

__all__ = [
    "build_encoder", "build_decoder", "build_anonymizer", "build_classifier", "macs",
    "release_filter_weights", "build_release_filter", "MotionGate",
]


def build_encoder(shape: tuple[int, int], filters: int, latent: int) -> keras.Model:
    x = inp = keras.Input(shape, name="x")                                                      # (B, W, C)
    x = layers.Conv1D(filters, 5, strides=2, padding="same", activation="relu", name="enc1")(x)  # (B, W/2, F)
    x = layers.Conv1D(filters * 3 // 2, 5, strides=2, padding="same", activation="relu", name="enc2")(x)  # (B, W/4, 1.5F)
    y = layers.Conv1D(latent, 3, padding="same", name="latent")(x)                             # (B, W/4, L)
    return keras.Model(inp, y, name="encoder")


def build_decoder(latent_shape: tuple[int, int], channels: int, filters: int) -> keras.Model:
    y = inp = keras.Input(latent_shape, name="y")                                              # (B, W/4, L)
    y = layers.UpSampling1D(2, name="up1")(y)                                                  # (B, W/2, L)
    y = layers.Conv1D(filters, 5, padding="same", activation="relu", name="dec1")(y)           # (B, W/2, F)
    y = layers.UpSampling1D(2, name="up2")(y)                                                  # (B, W, F)
    y = layers.Conv1D(filters, 5, padding="same", activation="relu", name="dec2")(y)           # (B, W, F)
    out = layers.Conv1D(channels, 3, padding="same", name="x_hat")(y)                          # (B, W, C)
    return keras.Model(inp, out, name="decoder")


def build_anonymizer(encoder: keras.Model | None, decoder: keras.Model | None,
                     release_filter: keras.Model | None = None, *, shape: tuple[int, int] | None = None) -> keras.Model:
    """The deployable model: normalized window -> normalized released window (one graph).

    ``encoder``/``decoder`` None = no learned part; ``release_filter`` runs last, so whatever the decoder
    emits is filtered the same way.
    """
    in_shape = encoder.input_shape[1:] if encoder is not None else shape
    inp = keras.Input(in_shape, name="window")
    y = decoder(encoder(inp)) if encoder is not None and decoder is not None else inp
    if release_filter is not None:
        y = release_filter(y)
    return keras.Model(inp, y, name="anonymizer")


def build_classifier(shape: tuple[int, ...], n_classes: int, filters: int, name: str) -> keras.Model:
    """A regularizer: CNN from Y or X' to identity/activity logits (EncReg, DecReg, ActReg)."""
    x = inp = keras.Input(shape, name=f"{name}_in")
    for i, k in enumerate((5, 5, 5)):
        x = layers.Conv1D(filters, k, padding="same", name=f"{name}_c{i}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{i}")(x)  # 0.99 lags far behind in short fits
        x = layers.ReLU(name=f"{name}_r{i}")(x)
        if x.shape[1] >= 16:
            x = layers.MaxPooling1D(2, name=f"{name}_p{i}")(x)
    x = layers.GlobalAveragePooling1D(name=f"{name}_gap")(x)
    x = layers.Dropout(0.3, name=f"{name}_drop")(x)
    out = layers.Dense(n_classes, name=f"{name}_logits")(x)
    return keras.Model(inp, out, name=name)


def macs(model: keras.Model) -> int:
    """Multiply-accumulates per window of the Conv1D/Dense layers (for the latency budget)."""
    total = 0
    for layer in _flat_layers(model):
        if isinstance(layer, layers.Conv1D):
            out_len, out_ch = layer.output.shape[1], layer.output.shape[2]
            total += int(out_len) * int(out_ch) * int(layer.kernel_size[0]) * int(layer.input.shape[-1])
        elif isinstance(layer, layers.Dense):
            total += int(layer.input.shape[-1]) * int(layer.units)
    return total


def _flat_layers(model: keras.Model) -> list[keras.layers.Layer]:
    out: list[keras.layers.Layer] = []
    for layer in model.layers:
        out.extend(_flat_layers(layer) if isinstance(layer, keras.Model) else [layer])
    return out


def release_filter_weights(spec_length: int, channels: int, rate_hz: float, cutoff_hz: float,
                           center: tuple[int, ...], center_value: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Weights of the fixed release filter: per channel a zero-phase low-pass, and on the ``center`` channels
    the window's own mean replaced by a constant.

    Both are linear, so the whole filter is one ``(W*C, W*C)`` matrix on the flattened window. The low-pass
    is ``trainer.baselines.lowpass`` itself (applied to the identity basis), so the model and the numpy
    baseline are one implementation. Why it is there: on people and devices the model never saw, a learned
    decoder's identity removal does not carry over, while a person's fine waveform (harmonics above a few
    Hz) and the offset of their |acc| (device calibration, body) identify them in every dataset.
    """
    from .baselines import lowpass

    w = spec_length
    m = np.eye(w, dtype=np.float64)
    if cutoff_hz > 0:
        m = lowpass(np.eye(w, dtype=np.float32)[:, :, None], rate_hz, cutoff_hz)[:, :, 0].astype(np.float64)  # row j = lowpass(e_j)
    kernel = np.zeros((w * channels, w * channels), np.float64)
    bias = np.zeros(w * channels, np.float64)
    for c in range(channels):
        a = m.copy()  # a[s, t]: input sample s -> output sample t
        if c in center:
            a -= m.mean(axis=1, keepdims=True)  # y = L z - mean_t(L z) (+ value): the released mean is exactly value
            bias[c::channels] = center_value[center.index(c)]
        kernel[c::channels, c::channels] = a
    return kernel.astype(np.float32), bias.astype(np.float32)


def build_release_filter(shape: tuple[int, int], weights: tuple[np.ndarray, np.ndarray],
                         gate: MotionGate | None = None) -> keras.Model:
    """The fixed filter as built-in layers (Flatten -> Dense -> Reshape): int8-friendly, reloads without custom objects.

    With ``gate`` (``weights`` then the plain low-pass), the |acc| offset is removed only in proportion to how
    much the window moves: ``y_acc -= sigmoid((MAD(x_acc) - tau) / kappa) * (mean(y_acc) - value)``, all of it
    Dense/ReLU/Multiply/Subtract layers (see ``MotionGate``).
    """
    w, c = shape
    x = inp = keras.Input(shape, name="released")                                  # (B, W, C)
    flat = layers.Flatten(name="rf_flat")(x)                                        # (B, W*C), index t*C + c
    dense = layers.Dense(w * c, name="release_filter", trainable=False)
    y = dense(flat)
    dense.set_weights([weights[0], weights[1]])
    if gate is not None:
        off = layers.Dense(1, name="rf_offset", trainable=False)                        # mean(L z_acc) - value
        dev = layers.Dense(2 * w, activation="relu", name="rf_dev", trainable=False)    # relu(+-(z_acc - mean))
        mad = layers.Dense(1, name="rf_mad", trainable=False)                           # mean |z_acc - mean|
        g = layers.Dense(1, activation="sigmoid", name="rf_gate", trainable=False)      # 0 still .. 1 moving
        spread = layers.Dense(w * c, use_bias=False, name="rf_spread", trainable=False)  # onto the acc samples
        moving = g(mad(dev(flat)))
        corr = spread(layers.Multiply(name="rf_corr")([moving, off(flat)]))
        for layer, wts in ((off, gate.offset), (dev, gate.deviation), (mad, gate.mad), (g, gate.gate),
                           (spread, gate.spread)):
            layer.set_weights(list(wts))
        y = layers.Subtract(name="rf_centered")([y, corr])
    out = layers.Reshape((w, c), name="rf_out")(y)                                  # (B, W, C)
    return keras.Model(inp, out, name="release_filter")


@dataclass(frozen=True)
class MotionGate:
    """Weights of the motion-gated centering of channel ``acc`` (normalized units throughout).

    Why gated: in magnitude windows the |acc| offset is the wearer's and the device's signature, but in a
    static posture it is also the only cue to which posture (sitting, standing, lying). Windows that move
    lose it; still ones keep it. ``tau``/``kappa`` are in m/s^2 of mean absolute deviation of |acc|.
    """

    offset: tuple[np.ndarray, np.ndarray]
    deviation: tuple[np.ndarray, np.ndarray]
    mad: tuple[np.ndarray, np.ndarray]
    gate: tuple[np.ndarray, np.ndarray]
    spread: tuple[np.ndarray]

    @classmethod
    def build(cls, lp_kernel: np.ndarray, length: int, channels: int, acc: int, value: float, acc_std: float,
              tau: float, kappa: float) -> MotionGate:  # fmt: skip
        w, c = length, channels
        pos = np.arange(w) * c + acc                                   # flat positions of the acc channel
        offset_k = lp_kernel[:, pos].mean(axis=1, keepdims=True)        # mean over t of the low-passed acc
        dev = np.zeros((w * c, w), np.float64)
        dev[pos, :] = np.eye(w) - 1.0 / w                                # z_acc[t] - mean(z_acc)
        spread = np.zeros((1, w * c), np.float64)
        spread[0, pos] = 1.0
        f32 = np.float32
        return cls(
            offset=(offset_k.astype(f32), np.array([-value], f32)),
            deviation=(np.concatenate([dev, -dev], axis=1).astype(f32), np.zeros(2 * w, f32)),
            mad=(np.full((2 * w, 1), 1.0 / w, f32), np.zeros(1, f32)),
            gate=(np.array([[acc_std / kappa]], f32), np.array([-tau / kappa], f32)),
            spread=(spread.astype(f32),),
        )
