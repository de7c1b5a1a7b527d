from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_runtime.contract import WindowSpec, sliding_windows, to_view
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


def _frames_after_loss(n: int, spf: int, drop: float, seed: int) -> list[tuple[int, np.ndarray]]:
    """(seq, samples) of the SAMPLES frames that survive a seeded frame loss, like the emulator's ``drop``."""
    rng = np.random.default_rng(seed)
    x = np.sin(np.arange(n, dtype=np.float32) / 7.0)[:, None].repeat(2, axis=1)
    return [(s, x[s : s + spf]) for s in range(0, n - spf + 1, spf) if rng.random() >= drop]


@pytest.mark.parametrize("max_interp,at_least,at_most", [(2, 0.0, 0.5), (4, 0.0, 0.5), (5, 0.9, 1.0)])
def test_one_lost_frame_is_bridged_by_the_default_bound(max_interp, at_least, at_most):
    """5 % frame loss at 5 samples/frame: a bound below one frame keeps about a third of the windows."""
    n, clean = 30_000, (30_000 - 128) // 64 + 1
    kept = []
    for seed in range(3):
        w = Windower(128, 64, 2, max_interp=max_interp)
        kept.append(sum(len(w.push(s, x)) for s, x in _frames_after_loss(n, 5, 0.05, seed)) / clean)
    assert at_least <= min(kept) and max(kept) <= at_most, kept


def test_default_bound_is_one_frame_and_a_longer_gap_still_restarts():
    assert Windower(128, 64, 2).max_interp == 5
    x = np.zeros((400, 2), np.float32)
    w = Windower(128, 64, 2)
    out = w.push(0, x[:100]) + w.push(105, x[105:200])  # 5 samples lost: filled, flagged
    assert [(o.start, o.flag_names) for o in out] == [(0, ("interpolated",)), (64, ("interpolated",))]
    assert w.counts["restarts"] == 0 and w.counts["interpolated_samples"] == 5
    out = w.push(206, x[206:400])  # 6 samples lost: a new run, no window spans the gap
    assert w.counts["restarts"] == 1 and all(o.start >= 206 for o in out)


@pytest.mark.parametrize("view", ["magnitude", "axes"])
def test_a_view_windower_gives_the_windows_of_viewing_each_block_first(view: str) -> None:
    """Canonical blocks viewed lazily (one ``to_view`` per window) = each block viewed as it comes, bit for bit:
    gaps bridged in the view's values, restarts, the buffer compacted (with rows not yet viewed) and grown."""
    rng = np.random.default_rng(3)
    for _ in range(150):
        length, stride, max_interp = int(rng.integers(1, 140)), int(rng.integers(1, 90)), int(rng.integers(0, 7))
        spec = WindowSpec(50.0, length, stride, view)
        lazy = Windower.for_spec(spec, max_interp)
        eager = Windower(length, stride, len(spec.channels), max_interp=max_interp, period_us=20000.0)
        start = int(rng.integers(0, 2**40))
        for _ in range(60):
            n = int(rng.integers(0, 40)) if rng.random() < 0.95 else int(rng.integers(0, 3000))  # a bulk block grows it
            x = (rng.standard_normal((n, 6)) * 5).astype(np.float32)
            t = start * 20000
            got, want = lazy.push(start, x, 0, t), eager.push(start, to_view(x, view), 0, t)
            assert [(w.start, w.t_us, w.flags) for w in got] == [(w.start, w.t_us, w.flags) for w in want]
            assert all(g.data.tobytes() == e.data.tobytes() for g, e in zip(got, want, strict=True))
            start += len(x) + int(rng.integers(0, 9))
        assert lazy.counts == eager.counts
