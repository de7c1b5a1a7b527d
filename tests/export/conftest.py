"""Export fixtures: a real HAPT subset, a tiny AAE-shaped Keras model and a run folder in the
``trainer.checkpoint`` format, plus its conversions (session-scoped: conversion takes seconds)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

SUBJECTS = (1, 2, 3, 4, 5, 6)
RUN_CONFIG = {
    "dataset": "hapt",
    "eval_stride": 32,
    "runtime_stride": 64,
    "test_fraction": 1 / 3,
    "split_seed": 0,
    "seed": 0,
}


def _copy_subset(src_root: Path, dest: Path) -> Path:
    raw, src = dest / "RawData", src_root / "RawData"
    raw.mkdir(parents=True)
    exps: set[int] = set()
    for s in SUBJECTS:
        for f in sorted(src.glob(f"acc_exp*_user{s:02d}.txt")):
            shutil.copy(f, raw / f.name)
            shutil.copy(f.with_name(f.name.replace("acc_", "gyro_", 1)), raw / f.name.replace("acc_", "gyro_", 1))
            exps.add(int(f.name[7:9]))
    rows = [ln for ln in (src / "labels.txt").read_text().splitlines() if ln.split() and int(ln.split()[0]) in exps]
    (raw / "labels.txt").write_text("\n".join(rows) + "\n")
    return dest


@pytest.fixture(scope="session")
def hapt_subset(hapt_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real HAPT RawData of subjects 1-6 (12 experiments) in the official layout."""
    return _copy_subset(hapt_root, tmp_path_factory.mktemp("hapt_export"))


@pytest.fixture(scope="session")
def eval_set(hapt_subset: Path):  # type: ignore[no-untyped-def]
    """(windows, splits) exactly as ``export.gate.eval_data`` recomputes them for the fake run."""
    from edge_runtime.contract import WindowSpec
    from trainer.data import load_windows
    from trainer.splits import make_splits

    ws = load_windows("hapt", hapt_subset, WindowSpec(stride=RUN_CONFIG["eval_stride"]))
    return ws, make_splits(ws, test_fraction=RUN_CONFIG["test_fraction"], seed=RUN_CONFIG["split_seed"])


def tiny_aae(shape: tuple[int, int] = (128, 2)):  # type: ignore[no-untyped-def]
    """Conv1D + UpSampling1D + ReLU, (128, 2) -> (128, 2), about 3.9k parameters."""
    import keras
    from keras import layers

    x = inp = keras.Input(shape, name="window")
    x = layers.Conv1D(16, 5, strides=2, padding="same", activation="relu")(x)  # (B, 64, 16)
    x = layers.Conv1D(16, 5, strides=2, padding="same", activation="relu")(x)  # (B, 32, 16)
    x = layers.Conv1D(8, 3, padding="same")(x)  # (B, 32, 8) latent
    x = layers.UpSampling1D(2)(x)  # (B, 64, 8)
    x = layers.Conv1D(16, 5, padding="same", activation="relu")(x)  # (B, 64, 16)
    x = layers.UpSampling1D(2)(x)  # (B, 128, 16)
    x = layers.Conv1D(16, 5, padding="same", activation="relu")(x)  # (B, 128, 16)
    out = layers.Conv1D(shape[1], 3, padding="same")(x)  # (B, 128, 2)
    return keras.Model(inp, out, name="tiny_aae")


@pytest.fixture(scope="session")
def run_dir(eval_set, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    """A finished run folder: the tiny model fitted briefly as an autoencoder on real ae_train windows."""
    import keras

    from edge_runtime.normalizer import Normalization
    from trainer.checkpoint import MODEL_NAME, save_run_json
    from trainer.data import HAPT_ATTRIBUTION

    ws, splits = eval_set
    norm = Normalization.fit(ws.x[splits.ae_train])
    keras.utils.set_random_seed(0)
    model = tiny_aae(ws.spec.shape)
    z = norm.apply(ws.x[np.random.default_rng(0).choice(splits.ae_train, 1024, replace=False)])
    model.compile(keras.optimizers.Adam(3e-3), "mse")
    model.fit(z, z, batch_size=64, epochs=3, verbose=0)
    root = tmp_path_factory.mktemp("runs") / "tiny"
    root.mkdir()
    model.save(root / MODEL_NAME)
    save_run_json(
        root,
        {
            "config": RUN_CONFIG,
            "window": ws.spec.to_dict(),
            "normalization": norm.to_dict(),
            "dataset": {
                "name": "hapt",
                "attribution": HAPT_ATTRIBUTION,
                "windows": len(ws),
                "activities": list(ws.activity_names),
            },
            "splits": splits.describe(),
            "model": {"parameters": int(model.count_params())},
            "versions": {"tensorflow": "test", "keras": keras.__version__},
            "evaluation": {
                "summary": {
                    "anonymizer": {
                        "activity_macro_f1": 50.0,
                        "identity_raw_attacker": 20.0,
                        "identity_retrained_attacker": 30.0,
                        "identity_chance": 16.67,
                    }
                }
            },
        },
    )
    return root


@pytest.fixture(scope="session")
def run(run_dir: Path):  # type: ignore[no-untyped-def]
    from trainer.checkpoint import load_run

    return load_run(run_dir)


@pytest.fixture(scope="session")
def converted(run, eval_set):  # type: ignore[no-untyped-def]
    from export.calibration import representative_windows
    from export.convert import convert_all

    ws, splits = eval_set
    return convert_all(run.model, representative_windows(ws.x, splits.ae_train, run.norm, n=300, seed=0))


@pytest.fixture(scope="session")
def held_out(run, eval_set) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Normalized windows of unseen people (util_test), 256 of them."""
    from export.calibration import parity_windows

    ws, splits = eval_set
    return parity_windows(ws.x, splits.util_test, run.norm, n=256, seed=1)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
