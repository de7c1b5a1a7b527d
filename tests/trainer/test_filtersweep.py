"""The screening tool builds the filters it names (the shipped one included) and refuses others in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_runtime.contract import G
from trainer.baselines import lowpass
from trainer.errors import TrainerError
from trainer.filtersweep import main, parse_filter


class _WS:
    class spec:  # noqa: N801 - stands in for WindowSet.spec
        rate_hz = 50.0


def test_filters_are_the_release_filter_they_name() -> None:
    rng = np.random.default_rng(0)
    x = (G + 0.3 + rng.standard_normal((6, 128, 2))).astype(np.float32)
    x[:3, :, 0] = G + 0.3 + 0.01 * rng.standard_normal((3, 128))  # still windows
    np.testing.assert_allclose(parse_filter("2.5", _WS)(x), lowpass(x, 50.0, 2.5), atol=1e-5)
    centred = parse_filter("2.5c", _WS)(x)
    np.testing.assert_allclose(centred[:, :, 0].mean(axis=1), G, atol=1e-4)
    gated = parse_filter("2.5g0.24", _WS)(x)
    assert np.allclose(gated[:3, :, 0].mean(axis=1), G + 0.3, atol=0.01)  # still: offset kept
    assert np.allclose(gated[3:, :, 0].mean(axis=1), G, atol=0.01)  # moving: offset gone
    assert parse_filter("raw", _WS) is None


def test_a_bad_filter_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], hapt_small_root: Path) -> None:
    with pytest.raises(TrainerError, match="expected raw, lp5, lp10 or CUTOFF"):
        parse_filter("2.5x", _WS)
    assert main(["--data", str(hapt_small_root), "--dataset", "hapt", "--filters", "lowpass"]) == 2
    assert capsys.readouterr().err.strip() == ("filtersweep: error: filter 'lowpass': expected raw, lp5, lp10 or "
                                               "CUTOFF[c|gTAU], e.g. 2.5g0.24")


def test_a_dynamic_filter_switches_where_the_shipped_estimator_says_so() -> None:
    from edge_runtime.cli import ESTIMATOR_BUNDLE
    from edge_runtime.estimator import Estimator
    from edge_runtime.manifest import load

    rng = np.random.default_rng(1)
    t = np.arange(128) / 50.0
    x = np.empty((8, 128, 2), np.float32)
    x[:, :, 0] = G + 0.3 + 0.02 * rng.standard_normal((8, 128))  # |acc|: still ...
    x[:, :, 1] = 0.02 + 0.005 * rng.standard_normal((8, 128))  # |gyro|
    x[4:, :, 0] += 3.0 * np.sin(2 * np.pi * 2.0 * t)  # ... and walking-like
    x[4:, :, 1] += 0.8 + 0.4 * np.sin(2 * np.pi * 1.0 * t)
    est = Estimator(load(ESTIMATOR_BUNDLE))
    labels = [est.estimate(w)[0] for w in x]
    assert "static" in labels and set(labels) != {"static"}, labels
    out = parse_filter("2.5c|2.5@static", _WS)(x)
    for w, y, label in zip(x, out, labels, strict=True):
        want = parse_filter("2.5" if label == "static" else "2.5c", _WS)(w[None])[0]
        np.testing.assert_allclose(y, want, atol=1e-5)
    np.testing.assert_array_equal(parse_filter("2.5|raw@static", _WS)(x)[np.array(labels) == "static"],
                                  x[np.array(labels) == "static"])  # raw on the switched windows: untouched
    with pytest.raises(TrainerError, match="a dynamic filter is A"):
        parse_filter("2.5c|2.5", _WS)
    with pytest.raises(TrainerError, match="unknown activity; the estimator knows walk"):
        parse_filter("2.5c|2.5@lying", _WS)


def test_another_estimator_is_used_and_a_missing_one_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                   hapt_small_root: Path) -> None:
    """--estimator: screen a dynamic filter with an estimator that never saw the screened dataset."""
    assert main(["--data", str(hapt_small_root), "--dataset", "hapt", "--filters", "2.5c|2.5@static",
                 "--estimator", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("filtersweep: error: filter '2.5c|2.5@static': activity estimator:") and "\n" not in err
