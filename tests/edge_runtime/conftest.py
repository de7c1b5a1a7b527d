"""Edge runtime fixtures: a tiny real int8 bundle (TensorFlow in the *test* process only), frame
builders, and a real pty writer. Hypothesis profiles: ``ci`` (small, seeded) by default."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from edge_runtime.contract import WindowSpec, sliding_windows, to_view
from edge_runtime.manifest import Artifact, Manifest, TensorInfo, dump
from edge_runtime.normalizer import Normalization
from edge_runtime.signing import ENV_KEYS, generate_key, load_private_key, sign_bundle
from firmware_bridge.protocol import Frame, Hello, Samples, encode_frame
from firmware_bridge.recording import ACC_SCALE_16G, GYRO_SCALE_2000DPS, synthetic

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
settings.register_profile("fuzz", max_examples=5_000, deadline=None, derandomize=False,
                          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SPEC = WindowSpec(50.0, 128, 64, "magnitude")
CANARY = (0x5A17, 0x1DEA, 0x0BAD, 0x7E57, 0x6A6A, 0x4321)  # a distinctive raw sample planted in inputs


_KEYS: dict[str, Path] = {}


@pytest.fixture(scope="session", autouse=True)
def test_signing_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A per-session Ed25519 key that signs every test bundle; the gateway trusts it via ``$EDGE_ANONYMIZE_TRUSTED_KEYS``
    (inherited by CLI subprocesses too), so tests exercise the real signature check, not a bypass."""
    private, public, _ = generate_key(tmp_path_factory.mktemp("keys") / "test")
    old = os.environ.get(ENV_KEYS)
    os.environ[ENV_KEYS] = str(public) if not old else f"{public}:{old}"
    _KEYS["private"] = private
    yield private
    if old is None:
        os.environ.pop(ENV_KEYS, None)
    else:
        os.environ[ENV_KEYS] = old


def resign(folder: Path) -> None:
    """Sign ``folder``'s manifest as it is now (tests that edit a manifest on purpose to test another check)."""
    sign_bundle(folder, load_private_key(_KEYS["private"]))


class Recorder:
    """Wraps an anonymizer to keep a copy of every window it was given (the windower's output)."""

    def __init__(self, anonymizer) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.inputs = anonymizer, []

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)

    def run(self, w):  # type: ignore[no-untyped-def]
        self.inputs.append(np.array(w))
        return self.inner.run(w)


def _tiny_model():  # type: ignore[no-untyped-def]
    import keras
    from keras import layers

    x = inp = keras.Input(SPEC.shape, name="window")  # (B, 128, 2)
    x = layers.Conv1D(8, 5, strides=2, padding="same", activation="relu")(x)  # (B, 64, 8)
    x = layers.UpSampling1D(2)(x)  # (B, 128, 8)
    out = layers.Conv1D(2, 3, padding="same")(x)  # (B, 128, 2)
    return keras.Model(inp, out)


def build_bundle(folder: Path, io: str = "int8") -> Manifest:
    """Full-int8 TFLite of a tiny Conv1D model + a gate-passed manifest, written to ``folder``.

    ``io="float"`` keeps float32 I/O around the same int8 graph (what ``aae export`` ships)."""
    import keras
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    rec = synthetic(30.0, seed=1)
    counts = np.frombuffer(rec.counts.tobytes(), "<i2").reshape(-1, 6).astype(np.float32)
    canon = counts * np.array([ACC_SCALE_16G] * 3 + [GYRO_SCALE_2000DPS] * 3, np.float32)
    windows = sliding_windows(to_view(canon, SPEC.view), SPEC.with_stride(8))
    norm = Normalization.fit(windows)
    keras.utils.set_random_seed(0)
    model = _tiny_model()
    rep = norm.apply(windows[:100])

    def gen() -> Iterator[list[np.ndarray]]:
        for i in range(len(rep)):
            yield [rep[i : i + 1]]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = gen
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if io == "int8":
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    tflite = bytes(conv.convert())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "anonymizer_int8.tflite").write_bytes(tflite)
    it = Interpreter(model_content=tflite)
    ind, outd = it.get_input_details()[0], it.get_output_details()[0]
    info = [TensorInfo(tuple(int(v) for v in d["shape"][1:]), "int8" if io == "int8" else "float32",
                       float(d["quantization"][0]), int(d["quantization"][1])) for d in (ind, outd)]  # fmt: skip
    manifest = Manifest(
        model_version="tiny-test",
        model=Artifact("anonymizer_int8.tflite", hashlib.sha256(tflite).hexdigest(), "tflite",
                       "int8" if io == "int8" else "int8-float-io"),
        input=info[0],
        output=info[1],
        window=SPEC,
        normalization=norm,
        versions={"tensorflow": tf.__version__},
        gate={"passed": True, "checks": {}},
        root=folder,
    )
    dump(manifest, folder)
    if "private" in _KEYS:
        resign(folder)
    return manifest


@pytest.fixture(scope="session")
def bundle_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bundle") / "tiny"
    build_bundle(folder)
    return folder


@pytest.fixture()
def bundle(bundle_master: Path, tmp_path: Path) -> Path:
    """A private copy per test, so tampering tests cannot spoil others."""
    dest = tmp_path / "bundle"
    shutil.copytree(bundle_master, dest)
    return dest


@pytest.fixture(scope="session")
def float_io_manifest(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    """The same tiny model (same seed) with float32 I/O around its int8 graph."""
    return build_bundle(tmp_path_factory.mktemp("bundle") / "tiny-float-io", io="float")


@pytest.fixture(scope="session")
def manifest(bundle_master: Path) -> Manifest:
    from edge_runtime.manifest import load

    return load(bundle_master)


@pytest.fixture(scope="session")
def anonymizer(manifest: Manifest):  # type: ignore[no-untyped-def]
    from edge_runtime.interpreter import Anonymizer

    return Anonymizer(manifest)


# -- frames -------------------------------------------------------------------------------------

HELLO = Hello(0, 0, 50.0, ACC_SCALE_16G, GYRO_SCALE_2000DPS, 0xED6E00000001, 6)


def walk_counts(n: int, seed: int = 0, canary_every: int = 0) -> np.ndarray:
    """``(n, 6)`` int16 counts of a synthetic walk; every ``canary_every``-th sample is the canary."""
    rec = synthetic(n / 50.0 + 0.1, seed=seed)
    c = np.frombuffer(rec.counts.tobytes(), "<i2").reshape(-1, 6)[:n].copy()
    if canary_every:
        c[::canary_every] = CANARY
    return c


def sample_frames(counts: np.ndarray, *, per_frame: int = 5, seq0: int = 0, t0: int = 0,
                  hello: Hello | None = HELLO) -> list[Frame]:  # fmt: skip
    """HELLO + SAMPLES frames of ``counts``; seq and t_us wrap at 2^32 like the device's."""
    out: list[Frame] = [] if hello is None else [dataclasses.replace(hello, seq=seq0 % 2**32, t_us=t0 % 2**32)]
    for i in range(0, len(counts), per_frame):
        block = counts[i : i + per_frame]
        out.append(Samples((seq0 + i) % 2**32, (t0 + i * 20000) % 2**32, block.astype("<i2").tobytes()))
    return out


def wire(frames: Iterable[Frame]) -> bytes:
    return b"".join(encode_frame(f) for f in frames)


def canonical(counts: np.ndarray) -> np.ndarray:
    return counts.astype(np.float32) * np.array([ACC_SCALE_16G] * 3 + [GYRO_SCALE_2000DPS] * 3, np.float32)


class PtyWriter:
    """A real pty: the test writes wire bytes into the master, the runtime opens ``path`` (the slave)."""

    def __init__(self) -> None:
        from firmware_bridge.emulator import PtyLink

        self.link = PtyLink()
        self.path = self.link.path

    def write(self, data: bytes, stop: threading.Event | None = None) -> None:
        from firmware_bridge.emulator import write_all

        write_all(self.link.master, data, stop)

    def unplug(self) -> None:
        self.link.close_master()

    def close(self) -> None:
        self.link.close()
