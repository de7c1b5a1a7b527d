from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_runtime.contract import WindowSpec, sliding_windows
from edge_runtime.decoder import FLAG_DRIFT
from edge_runtime.windower import Windower


def feed(w: Windower, x: np.ndarray, cuts: list[int], start: int = 0, copy: bool = True):
    out = []
    bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(x))), len(x)]
    for a, b in zip(bounds, bounds[1:], strict=False):
        for win in w.push(start + a, x[a:b]):
            out.append((win.start, win.data.copy() if copy else win.data, win.flags))
    return out


@given(
    n=st.integers(0, 700),
    length=st.integers(1, 150),
    stride=st.integers(1, 200),
    cuts=st.lists(st.integers(1, 699), max_size=30),
    start=st.integers(0, 2**40),
)
def test_streaming_equals_sliding_windows(n, length, stride, cuts, start):
    x = np.random.default_rng(n).standard_normal((n, 2)).astype(np.float32)
    spec = WindowSpec(50.0, length, stride, "magnitude")
    ref = sliding_windows(x, spec)
    got = feed(Windower(length, stride, 2), x, cuts, start)
    assert len(got) == len(ref)
    for (s, data, flags), r, k in zip(got, ref, range(len(ref)), strict=True):
        assert s == start + k * stride and flags == 0
        np.testing.assert_array_equal(data, r)


def test_views_stay_valid_until_the_next_push():
    x = np.arange(2000, dtype=np.float32).reshape(-1, 2)
    w = Windower(128, 1, 2)
    wins = w.push(0, x)  # one big push: ~870 windows, all views valid together
    assert len(wins) == 1000 - 127
    for k in (0, 400, len(wins) - 1):
        np.testing.assert_array_equal(wins[k].data, x[k : k + 128])
        assert not wins[k].data.flags.writeable


def test_short_gap_is_interpolated_and_flagged():
    x = np.arange(300, dtype=np.float32).repeat(2).reshape(-1, 2)
    w = Windower(128, 64, 2, max_interp=2, period_us=20000)
    out = w.push(0, x[:100], t_us=0) + w.push(102, x[102:], t_us=102 * 20000)  # samples 100, 101 lost
    assert [o.start for o in out] == [0, 64, 128]
    np.testing.assert_allclose(out[0].data, x[:128], rtol=1e-6)  # linear signal: interpolation is exact
    assert [o.flag_names for o in out] == [("interpolated",), ("interpolated",), ()]
    assert [o.t_us for o in out] == [0, 64 * 20000, 128 * 20000]
    assert w.counts["interpolated_samples"] == 2


def test_long_gap_restarts_and_no_window_spans_it():
    x = np.zeros((400, 2), np.float32)
    w = Windower(128, 64, 2, max_interp=2)
    out = w.push(0, x[:100]) + w.push(103, x[103:300])
    assert [o.start for o in out] == [103, 167]  # the run restarted at 103
    assert w.counts["restarts"] == 1 and w.counts["discarded_samples"] == 100


def test_restart_discards_partial_window_and_flags_propagate():
    w = Windower(4, 2, 1)
    assert w.push(0, np.ones((3, 1))) == []
    w.restart()
    out = w.push(10, np.ones((3, 1))) + w.push(13, np.ones((3, 1)), FLAG_DRIFT)
    assert [(o.start, o.flag_names) for o in out] == [(10, ("rate_drift",)), (12, ("rate_drift",))]


def test_backwards_and_bad_shape_are_errors():
    w = Windower(4, 2, 2)
    w.push(5, np.zeros((3, 2)))
    with pytest.raises(ValueError):
        w.push(6, np.zeros((3, 2)))
    with pytest.raises(ValueError):
        w.push(8, np.zeros((3, 6)))
