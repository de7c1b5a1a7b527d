"""``fit_classifier`` reuses one compiled model per architecture: the result must depend on the seed only."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras")

from trainer.evaluators import EvalConfig, fit_classifier  # noqa: E402

CFG = EvalConfig.quick(epochs=3, max_train=900, filters=8, warmup=1, patience=1)


def _data(n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(n_classes)
    y = rng.integers(0, n_classes, 600)
    x = rng.normal(size=(600, 128, 2)).astype(np.float32)
    x[:, :, 0] += 2.0 * y[:, None]  # learnable, so training moves the weights
    return x, y, np.arange(600) // 10


def test_a_seed_gives_the_same_classifier_whatever_was_trained_before() -> None:
    x, y, bout = _data(4)
    first = fit_classifier(x, y, bout, CFG, seed_offset=1)
    p_first = first.predict_proba(x[:64])
    other = fit_classifier(x, y, bout, CFG, seed_offset=2)  # same architecture: the shared trainer moves on
    x6, y6, b6 = _data(6)
    fit_classifier(x6, y6, b6, CFG, seed_offset=1)  # another architecture in between
    again = fit_classifier(x, y, bout, CFG, seed_offset=1)
    assert np.array_equal(again.predict_proba(x[:64]), p_first)
    assert np.array_equal(first.predict_proba(x[:64]), p_first)  # a returned classifier is its own model
    assert not np.array_equal(other.predict_proba(x[:64]), p_first)
    assert first.model is not again.model and (first.predict(x) == y).mean() > 0.5
