"""Generated motion (SenseGen-style LSTM + MDN) sampled in plain numpy, for ``imu-emulator --generated``.

The model is trained by ``aae generate train`` (``trainer/generator.py``) and exported as a small
``.npz``: LSTM layers (Keras gate order i, f, c, o), the mixture-density head, the activity and
dataset vocabularies and the per-channel normalization. Sampling needs no TensorFlow, so the
emulator stays light; it runs on the host that emulates a device, never inside the gateway runtime.

A schedule is ``activity[@dataset]:seconds`` segments, comma separated (``walk:30,sit:20,stairs:30``);
the dataset picks the device (its axis orientation) and defaults to the one with most training
windows of that activity. The LSTM state runs on across segments, so activity changes are smooth.
"""

from __future__ import annotations

import json
import zipfile
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .recording import ACC_SCALE_16G, DEFAULT_DEVICE_ID, GYRO_SCALE_2000DPS, Recording

__all__ = ["GeneratedError", "Generator", "Segment", "parse_schedule", "load_generator", "to_recording",
           "generated_recording", "check_temperature", "draw", "FORMAT", "SHIPPED"]

FORMAT = "edge-anonymize/sensegen-v1"
SHIPPED = Path(__file__).resolve().parent / "models" / "generator.npz"  # `make train-generator`'s model, docs/generator.md
ALIASES = {"walk": "walking", "up": "upstairs", "down": "downstairs", "sit": "sitting", "stand": "standing",
           "lay": "laying", "lie": "laying", "jog": "jogging", "jump": "jumping"}  # fmt: skip
MAX_SECONDS = 24 * 3600.0  # one schedule stays below a day of samples (memory: 4.3M x 6 float32)


class GeneratedError(ValueError):
    """A generator file or schedule a user gave is unusable; ``imu-emulator`` exits 2 with one line."""

    exit_code = 2


@dataclass(frozen=True)
class Segment:
    """One schedule entry: ``activity`` (a fine name), ``dataset`` (None = the default), ``seconds``."""

    activity: str
    dataset: str | None
    seconds: float


def parse_schedule(text: str) -> list[Segment]:
    """``"walk:30,sit@hapt:20"`` -> segments (names are checked against a model in ``Generator.conditions``)."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        name, sep, secs = part.rpartition(":")
        if not sep or not name:
            raise GeneratedError(f"schedule entry {part!r} is not ACTIVITY[@DATASET]:SECONDS (e.g. walk:30,sit:20)")
        try:
            seconds = float(secs)
        except ValueError:
            raise GeneratedError(f"schedule entry {part!r}: {secs!r} is not a number of seconds") from None
        if not 0 < seconds <= MAX_SECONDS:
            raise GeneratedError(f"schedule entry {part!r}: seconds must be > 0 and <= {MAX_SECONDS:.0f}")
        activity, _, dataset = name.partition("@")
        out.append(Segment(ALIASES.get(activity.strip(), activity.strip()), dataset.strip() or None, seconds))
    if sum(s.seconds for s in out) > MAX_SECONDS:
        raise GeneratedError(f"schedule is longer than {MAX_SECONDS:.0f} s")
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)))  # = 1/(1+exp(-x)), no overflow warnings


def draw(params: np.ndarray, k: int, d: int, rng: np.random.Generator, temperature: float = 1.0,
         log_sigma_min: float = -7.0) -> np.ndarray:
    """``(B, K + 2KD)`` MDN params -> ``(B, D)`` one seeded sample each (the sampler's and, for
    scheduled sampling, the trainer's draw: one implementation)."""
    logits = params[:, :k] / max(temperature, 1e-3)
    mu = params[:, k : k + k * d].reshape(-1, k, d)
    log_sigma = np.maximum(params[:, k + k * d :].reshape(-1, k, d), log_sigma_min)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    pick = np.minimum((rng.random((len(p), 1)) > np.cumsum(p, axis=1)).sum(axis=1), k - 1)
    rows = np.arange(len(p))
    noise = rng.standard_normal((len(p), d)).astype(np.float32)
    return np.asarray(mu[rows, pick] + np.exp(log_sigma[rows, pick]) * noise * temperature, np.float32)


@dataclass(frozen=True)
class Generator:
    """Exported weights; ``step`` is one LSTM + MDN step, ``sample`` a seeded batch of sequences.

    Args:
        layers: per LSTM layer ``(kernel (in, 4u), recurrent (u, 4u), bias (4u,))``.
        head: ``(W (u, K + 2KD), b)``: K mixture logits, K x D means, K x D log sigmas (normalized units).
        mean, std: per-channel normalization of the 6 canonical channels (m/s², rad/s).
        default_dataset: per activity, the dataset a schedule uses unless it names one.
        pairs: the (activity, dataset) combinations the model was trained on.
    """

    layers: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]
    head: tuple[np.ndarray, np.ndarray]
    mean: np.ndarray
    std: np.ndarray
    activities: tuple[str, ...]
    datasets: tuple[str, ...]
    default_dataset: dict[str, str]
    pairs: frozenset[tuple[str, str]]
    components: int
    rate_hz: float = 50.0
    log_sigma_min: float = -7.0

    @property
    def n_cond(self) -> int:
        return len(self.activities) + len(self.datasets)

    def condition(self, activity: str, dataset: str | None = None) -> np.ndarray:
        """One-hot ``(n_cond,)``: activity then dataset.

        Raises:
            GeneratedError: an activity or dataset the model does not know, or a pair it never saw.
        """
        act = ALIASES.get(activity, activity)
        if act not in self.activities:
            raise GeneratedError(f"activity {activity!r} is not in the model; known: {', '.join(self.activities)}")
        ds = dataset or self.default_dataset[act]
        if ds not in self.datasets:
            raise GeneratedError(f"dataset {ds!r} is not in the model; known: {', '.join(self.datasets)}")
        if (act, ds) not in self.pairs:
            raise GeneratedError(f"the model never saw {act} in {ds}; {act} is in: "
                                 f"{', '.join(d for a, d in sorted(self.pairs) if a == act)}")  # fmt: skip
        c = np.zeros(self.n_cond, np.float32)
        c[self.activities.index(act)] = 1.0
        c[len(self.activities) + self.datasets.index(ds)] = 1.0
        return c

    def zero_state(self, batch: int) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(np.zeros((batch, u.shape[0]), np.float32), np.zeros((batch, u.shape[0]), np.float32))
                for _, u, _ in self.layers]  # fmt: skip

    def step(self, x_prev: np.ndarray, cond: np.ndarray, state: list[tuple[np.ndarray, np.ndarray]]
             ) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """``(B, 6)`` normalized previous sample + ``(B, n_cond)`` -> ``(B, K + 2KD)`` MDN params, new state."""
        h_in = np.concatenate([x_prev, cond], axis=1).astype(np.float32)
        new = []
        for (w, u, b), (h, c) in zip(self.layers, state, strict=True):
            z = h_in @ w + h @ u + b  # (B, 4u): gates i, f, g, o
            n = u.shape[0]
            gate = _sigmoid(z)  # one call for i, f, o (the g slot is unused): fewer small numpy ops per step
            c = gate[:, n : 2 * n] * c + gate[:, :n] * np.tanh(z[:, 2 * n : 3 * n])
            h = gate[:, 3 * n :] * np.tanh(c)
            new.append((h, c))
            h_in = h
        return h_in @ self.head[0] + self.head[1], new

    def _draw(self, params: np.ndarray, rng: np.random.Generator, temperature: float) -> np.ndarray:
        return draw(params, self.components, len(self.mean), rng, temperature, self.log_sigma_min)

    def sample(self, conds: np.ndarray, *, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
        """``(B, T, n_cond)`` conditions per step -> ``(B, T, 6)`` samples in m/s² and rad/s (seeded)."""
        rng = np.random.default_rng(seed)
        b, t, _ = conds.shape
        out = np.empty((b, t, len(self.mean)), np.float32)
        x = np.zeros((b, len(self.mean)), np.float32)
        state = self.zero_state(b)
        for k in range(t):
            params, state = self.step(x, conds[:, k], state)
            x = self._draw(params, rng, temperature)
            out[:, k] = x
        return np.asarray(out * self.std + self.mean, np.float32)

    def schedule(self, segments: list[Segment], *, seed: int = 0, temperature: float = 1.0
                 ) -> tuple[np.ndarray, list[str]]:
        """A schedule -> ``(N, 6)`` samples and the fine activity name per sample."""
        conds, labels = [], []
        for s in segments:
            n = max(1, round(s.seconds * self.rate_hz))
            conds.append(np.repeat(self.condition(s.activity, s.dataset)[None], n, axis=0))
            labels += [ALIASES.get(s.activity, s.activity)] * n
        return self.sample(np.concatenate(conds)[None], seed=seed, temperature=temperature)[0], labels


def _meta(z: np.lib.npyio.NpzFile, path: Path) -> dict[str, Any]:
    if "meta" not in z.files:
        raise GeneratedError(f"{path} is not a generator file (no 'meta' entry)")
    meta = json.loads(bytes(z["meta"]).decode("utf-8"))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise GeneratedError(f"{path} is not a {FORMAT} generator (format {meta.get('format')!r})")
    return meta


def load_generator(path: str | Path) -> Generator:
    """Read an exported ``generator.npz``.

    Raises:
        GeneratedError: missing, unreadable, not a generator, or inconsistent shapes (one line).
    """
    p = Path(path)
    if p.is_file() and not zipfile.is_zipfile(p):
        raise GeneratedError(f"{p} is not a generator file (an .npz from aae generate train)")
    try:
        with np.load(p, allow_pickle=False) as z:
            meta = _meta(z, p)
            n_layers = int(meta["layers"])
            layers = tuple((z[f"lstm{i}_kernel"], z[f"lstm{i}_recurrent"], z[f"lstm{i}_bias"]) for i in range(n_layers))
            gen = Generator(
                layers, (z["head_kernel"], z["head_bias"]), z["mean"], z["std"], tuple(meta["activities"]),
                tuple(meta["datasets"]), dict(meta["default_dataset"]),
                frozenset((str(a), str(d)) for a, d in meta["pairs"]), int(meta["components"]), float(meta["rate_hz"]),
            )
    except GeneratedError:
        raise
    except FileNotFoundError:
        raise GeneratedError(f"generator file {p} does not exist (train one: aae generate train)") from None
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GeneratedError(f"{p} is not a readable generator file: {type(exc).__name__}: {exc}") from None
    width = len(gen.activities) + len(gen.datasets) + len(gen.mean)
    want = gen.components * (1 + 2 * len(gen.mean))
    if not gen.layers or gen.layers[0][0].shape[0] != width or gen.head[0].shape[1] != want:
        raise GeneratedError(f"{p}: weight shapes do not match its vocabularies (a damaged or edited file?)")
    return gen


def to_recording(samples: np.ndarray, *, rate_hz: float = 50.0, device_id: int = DEFAULT_DEVICE_ID + 0xFFFF
                 ) -> Recording:
    """``(N, 6)`` m/s² / rad/s -> int16 counts at the emulator's ±16 g / ±2000 dps scales (clipped, counted)."""
    scale = np.array([ACC_SCALE_16G] * 3 + [GYRO_SCALE_2000DPS] * 3)
    c = np.round(samples / scale)
    clipped = int(np.count_nonzero((c > 32767) | (c < -32768)))
    counts: array[int] = array("h")
    counts.frombytes(np.clip(c, -32768, 32767).astype(np.int16).tobytes())
    return Recording(counts, rate_hz, ACC_SCALE_16G, GYRO_SCALE_2000DPS, device_id, clipped)


def check_temperature(temperature: float) -> float:
    """A sampling temperature the emulator and ``aae generate evaluate`` accept: 0 < T <= 2.

    Raises:
        GeneratedError: outside that range (or NaN).
    """
    if not 0.0 < temperature <= 2.0:
        raise GeneratedError(f"temperature must be in (0, 2], got {temperature:g}")
    return temperature


def generated_recording(model: str | Path, schedule: str, *, seed: int = 0, temperature: float = 1.0) -> Recording:
    """What ``imu-emulator --generated MODEL --schedule ...`` streams (parse, load, sample, to counts)."""
    check_temperature(temperature)
    segments = parse_schedule(schedule)
    gen = load_generator(model)
    samples, _ = gen.schedule(segments, seed=seed, temperature=temperature)
    return to_recording(samples, rate_hz=gen.rate_hz)
