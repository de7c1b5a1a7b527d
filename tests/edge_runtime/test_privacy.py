"""The promise: no raw sample leaves the process. A canary sample is planted in the input and searched
for in every sink record, log line, metrics file and error message, under faults too."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import struct

import numpy as np
import pytest

from edge_runtime.config import from_dict
from edge_runtime.contract import to_view
from edge_runtime.metrics import Latency, Metrics
from edge_runtime.pipeline import Pipeline
from edge_runtime.sinks import AnonymizedWindow, MemorySink
from edge_runtime.sources.replay import ReplaySource
from edge_runtime.windower import Window

from .conftest import CANARY, HELLO, SPEC, canonical, sample_frames, walk_counts, wire


def canary_needles() -> list[bytes]:
    """The canary as wire bytes and as text in the forms a leak would take (JSON floats, repr)."""
    raw = struct.pack("<6h", *CANARY)
    canon = canonical(np.array([CANARY], np.int16))[0]
    view = to_view(canon[None], SPEC.view)[0]
    needles = [raw, raw.hex().encode()]
    for v in (*canon, *view):
        needles += [repr(round(float(v), 5)).encode(), f"{float(v):.4f}".encode()]
    needles += [str(c).encode() for c in CANARY if abs(c) > 999]
    return needles


def leaks(blob: bytes) -> list[bytes]:
    """The canary needles found in ``blob``.

    Wire bytes and hex match anywhere. A text needle is a number, so it matches only as a number of
    its own (a float may run on into more digits, an integer may not): ``2989`` leaks in ``[2989,``
    or ``-2989.0``, but not as digits inside another number, e.g. the wall-clock ``t_gateway``
    ``1795559126.298987``, which made this test fail by chance once every few dozen runs."""
    found = []
    for needle in canary_needles():
        if re.fullmatch(rb"-?[0-9]+(\.[0-9]+)?", needle):
            pattern = rb"(?<![0-9.])" + re.escape(needle) + (rb"" if b"." in needle else rb"(?![0-9])")
            hit = re.search(pattern, blob) is not None
        else:
            hit = needle in blob
        if hit:
            found.append(needle)
    return found


class _FixedLatency(Latency):
    """Records every duration as 1 µs: a real one lands, now and then, on a canary count in µs
    (``p99_us=2989.4``), a whole number the search above rightly cannot tell from a leak."""

    def add(self, seconds: float) -> None:
        super().add(1e-6)


def corrupt_some(data: bytes, every: int = 1499) -> bytes:
    b = bytearray(data)
    for i in range(5, len(b), every):
        if b[i] not in (0, 1):
            b[i] ^= 0x01  # keeps framing (never creates a 0x00 delimiter)
    return bytes(b)


def _two_views(manifest, anonymizer):  # type: ignore[no-untyped-def]
    """A bundle set: the tiny test model and the shipped one, each read by its own sink."""
    from edge_runtime.bundleset import ModelSet
    from edge_runtime.cli import DEFAULT_BUNDLE
    from edge_runtime.interpreter import Anonymizer
    from edge_runtime.manifest import load
    from edge_runtime.signing import trusted_keys

    shipped = load(DEFAULT_BUNDLE, keys=trusted_keys(system_dir=None))
    models = ModelSet({"tiny": (manifest, anonymizer), "shipped": (shipped, Anonymizer(shipped))}, "tiny")
    sinks = [MemorySink(), MemorySink()]
    sinks[1].view = "shipped"
    return models, sinks


def _every_view(manifest, anonymizer):  # type: ignore[no-untyped-def]
    """Every kind of view at once: a model, label-only, delete, dynamic switch and a lower rate."""
    from edge_runtime.bundleset import ModelSet
    from edge_runtime.cli import DEFAULT_BUNDLE, ESTIMATOR_BUNDLE
    from edge_runtime.estimator import Estimator
    from edge_runtime.interpreter import Anonymizer
    from edge_runtime.manifest import load
    from edge_runtime.signing import trusted_keys

    shipped = load(DEFAULT_BUNDLE, keys=trusted_keys(system_dir=None))
    est = load(ESTIMATOR_BUNDLE, keys=trusted_keys(system_dir=None))
    models = ModelSet({"tiny": (manifest, anonymizer), "shipped": (shipped, Anonymizer(shipped))}, "tiny",
                      (est, Estimator(est)))
    specs = ["", "label", "shipped;delete=walk", "tiny;switch=shipped@walk,stairs", "shipped;rate=12.5"]
    sinks = [MemorySink() for _ in specs]
    for sink, spec in zip(sinks, specs, strict=True):
        sink.view = spec
    return models, sinks


@pytest.mark.parametrize("views", ["one", "set", "every"])
@pytest.mark.parametrize("fault", ["clean", "corrupt", "duplicate+reorder"])
def test_canary_never_leaves(manifest, anonymizer, tmp_path, caplog, fault, views):
    counts = walk_counts(2000, canary_every=7)
    frames = sample_frames(counts)
    if fault == "duplicate+reorder":
        frames = frames[:50] + [frames[52], frames[51], frames[51]] + frames[53:]
    data = wire(frames)
    if fault == "corrupt":
        data = corrupt_some(data)
    assert struct.pack("<6h", *CANARY) in data  # the canary is really on the wire
    metrics = tmp_path / "metrics.json"
    cfg = from_dict({"runtime": {"metrics_file": str(metrics), "status_interval_s": 0.001}})
    models, sinks = {"set": _two_views, "every": _every_view}.get(views, lambda *_: (None, [MemorySink()]))(manifest, anonymizer)
    caplog.set_level(logging.DEBUG)
    timings = Metrics(ungated=not manifest.gate_passed)
    timings.interpreter, timings.window = _FixedLatency(), _FixedLatency()
    p = Pipeline(ReplaySource(data=data, speed=0), manifest, anonymizer, sinks, cfg, models=models, metrics=timings)
    p.run()
    windows = [w for sink in sinks for w in sink.windows]
    kept = [s for s in sinks if "delete" not in s.view]  # a delete view may, rightly, have withheld all
    assert all(sink.windows for sink in kept) and len({w.view for w in windows}) >= len(kept)
    outputs = [w.to_json() for w in windows]
    outputs += [caplog.text.encode(), metrics.read_bytes(), json.dumps(p.metrics.snapshot()).encode()]
    for blob in outputs:
        assert leaks(blob) == []
    for w in windows:  # every record of every view went through a model: none equals its raw window
        raw = to_view(canonical(counts[w.start_sample : w.start_sample + SPEC.length]), SPEC.view)
        if w.view == "label":
            assert w.data.size == 0 and w.activity
        elif w.data.shape == raw.shape:
            assert not np.allclose(w.data, raw, atol=1e-3)
        else:  # generalized: fewer samples, each a block mean of released ones
            assert w.data.shape == (SPEC.length // 4, raw.shape[1]) and w.rate_hz == 12.5


def test_error_messages_carry_no_samples(bundle, capfd):
    """Failures while canary data is on the wire: only one-line, content-free errors come out."""
    from edge_runtime import cli

    f = bundle.parent / "bad.imu"
    counts = walk_counts(300, canary_every=1)
    f.write_bytes(wire(sample_frames(counts, hello=None)) + corrupt_some(wire(sample_frames(counts)), 50))
    bad_rate = bundle.parent / "rate.imu"
    bad_rate.write_bytes(wire(sample_frames(counts, hello=dataclasses.replace(HELLO, rate_hz=100.0))))
    runs = (
        (["--replay", str(f), "--speed", "0", "--bundle", str(bundle / "x")], 3),
        (["--replay", str(f), "--speed", "0", "--bundle", str(bundle), "--sink", "bogus://x"], 6),
        (["--replay", str(bad_rate), "--speed", "0", "--bundle", str(bundle), "--sink", "memory://"], 5),
        (["--replay", str(f), "--speed", "0", "--bundle", str(bundle), "--sink", "memory://", "--debug"], 0),
    )
    for args, code in runs:
        assert cli.main(args) == code
    out = capfd.readouterr()
    text = (out.out + out.err).encode()
    assert text.count(b"error:") == 3
    assert leaks(text) == []


def test_sinks_refuse_anything_but_anonymized_windows():
    sink = MemorySink()
    raw = Window(0, 0, np.zeros(SPEC.shape, np.float32))
    for thing in (raw, raw.data, b"\x00" * 12, {"data": [1, 2]}):
        with pytest.raises(TypeError, match="AnonymizedWindow"):
            sink.send(thing)  # type: ignore[arg-type]
    assert sink.windows == []
    ok = AnonymizedWindow(0, "imu", 0, None, 0.0, 50.0, SPEC.channels, SPEC.units, np.zeros(SPEC.shape, np.float32))
    sink.send(ok)
    assert sink.windows == [ok]


def test_leak_search_finds_canary_numbers_not_their_digits_inside_other_numbers():
    """The stricter-looking substring search failed on a wall-clock ``t_gateway`` containing ``2989``."""
    raw = struct.pack("<6h", *CANARY)
    for leak in (raw, b"x" + raw.hex().encode(), b"[2989, 7658]", b"v=-2989.0", b'"v":110.434937,', b"(36.6696)"):
        assert leaks(b"record " + leak + b" end")
    clock = AnonymizedWindow(0, "imu", 0, None, 1795559126.298987, 50.0, SPEC.channels, SPEC.units,
                             np.zeros(SPEC.shape, np.float32)).to_json()  # fmt: skip
    assert b"2989" in clock  # the digits are there, the number is not
    for benign in (clock, b"p50=12989.5", b'"bytes":29890', b"0.2989", b"136.66959", b"27242017"):
        assert leaks(benign) == []
