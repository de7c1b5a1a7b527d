"""batch_jsonl: a block of windows gives, byte for byte, the ``to_json`` lines of its records."""

from __future__ import annotations

import json
import math

import numpy as np

from edge_runtime.batch_inputs import imu_windows
from edge_runtime.batch_jsonl import JsonlFormatter, data_texts
from edge_runtime.sinks.base import AnonymizedWindow

from .conftest import sample_frames, walk_counts, wire

# values whose repr and pyarrow's cast disagree, or that round onto them
EDGE = [0.0, -0.0, 3.0, -3.0, 1e-05, -1e-05, 5e-05, 9.4e-05, 0.0001, -0.00012, 4e-06, -4e-06, 6e-06, 0.1, 2.5, 9.80105,
        123.456785, 47021960634.70312, 1e15, 1e16, -1.2345e17, 1e22, math.nan, math.inf, -math.inf, 32768.0]  # fmt: skip


def old_lines(wid, y, starts, t_us, flags, stream, manifest, t_gateway) -> bytes:  # type: ignore[no-untyped-def]
    spec = manifest.window
    return b"".join(AnonymizedWindow(wid + k, stream, int(starts[k]), t_us[k], t_gateway, spec.rate_hz, spec.channels,
                                     spec.units, y[k], flags[k], manifest.model_version).to_json() + b"\n"
                    for k in range(len(y)))  # fmt: skip


def test_data_texts_are_json_dumps_of_each_rounded_window() -> None:
    rng = np.random.default_rng(5)
    x = np.round(rng.normal(0, 1, 64 * 40 * 2) * 10.0 ** rng.integers(-6, 12, 64 * 40 * 2), 5).astype(np.float32)
    y = x.reshape(64, 40, 2)
    y[3].flat[: len(EDGE)] = np.array(EDGE, np.float32)  # a window the exact path must take
    y[5, :, :] = 0.0
    y[6, :, 0], y[6, :, 1] = -0.0, 1e9 + 0.5  # "-0.0" and the widest values the digit path writes
    want = [json.dumps(np.round(w.astype(np.float64), 5).tolist(), separators=(",", ":")).encode() for w in y]
    assert data_texts(y) == want
    # every count of integer digits (1..5) and of decimals (1..5, trailing zeros cut), either sign
    ints, places = rng.integers(0, 10 ** rng.integers(1, 6, 4096)), rng.integers(0, 6, 4096)
    v = (ints + rng.integers(0, 10 ** places) / 10.0**places) * rng.choice([-1, 1], 4096)
    y = v.astype(np.float32).reshape(16, 128, 2)
    assert data_texts(y) == [json.dumps(np.round(w.astype(np.float64), 5).tolist(), separators=(",", ":")).encode() for w in y]
    one = np.array([[[9.80665, -0.00012], [123.45678, 1e-4]]], np.float32)
    assert data_texts(one) == [json.dumps(np.round(one[0].astype(np.float64), 5).tolist(), separators=(",", ":")).encode()]


def test_lines_are_to_json_of_real_windows_and_edge_values(manifest, anonymizer) -> None:  # type: ignore[no-untyped-def]
    counts = walk_counts(600, seed=2)
    data = wire(sample_frames(counts, t0=1_000_000))
    x, starts, t_us, flags = next(imu_windows(data, manifest, 16))
    y = anonymizer.run_batch(x)
    flags = [("interpolated",) if k % 3 == 0 else () for k in range(len(y))]
    t_us = [None if k % 4 == 0 else t for k, t in enumerate(t_us)]
    y[0].flat[: len(EDGE)] = np.array(EDGE, np.float32)  # float32 as the model gives them
    y[1].flat[: len(EDGE)] = -np.array(EDGE, np.float32)
    fmt = JsonlFormatter("dev/é.imu", manifest, 1700000000.1234567)
    got = fmt.lines(7, y, starts, t_us, flags)
    assert got == old_lines(7, y, starts, t_us, flags, "dev/é.imu", manifest, 1700000000.1234567)
    first = json.loads(got.split(b"\n")[0])  # consumers get numbers: floats, NaN/inf as Python's json writes them
    assert all(isinstance(v, float) for row in first["data"] for v in row)


def test_blocks_larger_than_one_call_are_split(manifest, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import edge_runtime.batch_jsonl as bj

    monkeypatch.setattr(bj, "_VALUES_PER_CALL", 50)
    spec = manifest.window
    y = np.random.default_rng(1).normal(0, 3, (9, spec.length, len(spec.channels))).astype(np.float32)
    starts, t_us, flags = np.arange(9) * 8, [None] * 9, [()] * 9
    got = JsonlFormatter("s", manifest, 0.0).lines(0, y, starts, t_us, flags)
    assert got == old_lines(0, y, starts, t_us, flags, "s", manifest, 0.0)
