"""Hot swap in the multi-stream gateway: many streams over real TCP while the model set is swapped
back and forth; no window lost, none twice, each the output of the model it names, and a set with
another window refused while the running one stays."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from edge_runtime.cli import DEFAULT_BUNDLE
from edge_runtime.contract import to_view
from edge_runtime.errors import ManifestError
from edge_runtime.gateway_streams import listener_stream_name
from edge_runtime.interpreter import Anonymizer
from edge_runtime.manifest import load
from edge_runtime.signing import trusted_keys
from edge_runtime.sinks import MemorySink

from .conftest import SPEC, canonical
from .test_gateway import DEV0, SECRET, by_stream, connect, device, expected, listen, serve, wait_for

__all__ = ["serve"]  # the fixture, used by name below

MIN_SWAPS = 10  # windows arrive over ~50 pieces: a swap between nearly every two batches


def test_swaps_between_batches_lose_and_mislabel_no_window_of_any_stream(serve, manifest, anonymizer):  # type: ignore[no-untyped-def]
    shipped = load(DEFAULT_BUNDLE, keys=trusted_keys(system_dir=None))
    models = {manifest.model_version: anonymizer, shipped.model_version: Anonymizer(shipped)}
    assert len(models) == 2
    sink = MemorySink()
    gw, port, _ = serve(listen(), [sink])
    devices = [device(i, n=128 * 14) for i in range(6)]
    socks = [connect(port) for _ in devices]
    pieces, swaps, seen = 60, 0, 0  # every device's bytes in pieces, interleaved; a swap after each batch
    for k in range(pieces):
        for s, (data, _, _) in zip(socks, devices, strict=True):
            step = -(-len(data) // pieces)
            s.sendall(data[k * step : (k + 1) * step])
        if k < pieces - 10 and wait_for(lambda n=seen: len(sink.windows) > n, 0.1) and gw.batcher._pending is None:
            seen = len(sink.windows)  # a batch ran since the last swap, which it took
            gw.swap((shipped, models[shipped.model_version]) if swaps % 2 == 0 else (manifest, anonymizer))
            swaps += 1
    total = sum(len(expected(len(c))) for _, c, _ in devices)
    assert wait_for(lambda: len(sink.windows) == total, 20), (len(sink.windows), total)
    assert swaps >= MIN_SWAPS and gw.batcher.swaps == swaps, (swaps, gw.batcher.swaps)
    got = by_stream(sink)
    assert {w.model_version for w in sink.windows} == set(models)
    for i, (_, counts, _) in enumerate(devices):
        ws = got[listener_stream_name("ward", SECRET, DEV0 + i)]
        assert [w.window_id for w in ws] == list(range(len(expected(len(counts)))))  # none lost, none twice
        truth = to_view(canonical(counts), SPEC.view)
        for w in ws:  # exactly what the model it names makes of this stream's window
            want = models[w.model_version].run(truth[w.start_sample : w.start_sample + SPEC.length])
            np.testing.assert_array_equal(w.data, want)
    assert gw._gateway_stats()["swaps"] == swaps  # what the status line and metrics file report


def test_a_set_with_another_window_is_refused_and_the_running_one_stays(serve, manifest, anonymizer):  # type: ignore[no-untyped-def]
    sink = MemorySink()
    gw, port, _ = serve(listen(), [sink])
    other = replace(manifest, window=replace(manifest.window, rate_hz=100.0))
    with pytest.raises(ManifestError, match="rate_hz 100.0, the stream runs 50.0"):
        gw.swap((other, anonymizer))
    assert gw.batcher._pending is None
    data, counts, _ = device(0, n=128 * 3)
    connect(port).sendall(data)
    assert wait_for(lambda: len(sink.windows) == len(expected(len(counts))))
    assert {w.model_version for w in sink.windows} == {manifest.model_version} and gw.batcher.swaps == 0


def test_a_serial_stream_with_a_mismatched_hello_is_refused_and_the_other_goes_on(serve, caplog):  # type: ignore[no-untyped-def]
    import dataclasses
    import logging

    from .conftest import HELLO, PtyWriter, sample_frames, walk_counts, wire
    from .test_gateway import gw_config

    a, b = PtyWriter(), PtyWriter()
    sink = MemorySink()
    cfg = gw_config([{"name": "bed1", "url": f"serial://{a.path}"}, {"name": "bed2", "url": f"serial://{b.path}"}],
                    stall_timeout_s=5.0)  # fmt: skip
    with caplog.at_level(logging.INFO, logger="edge_anonymize"):
        gw, _, _ = serve(cfg, [sink])
        assert wait_for(lambda: all(t.reader.metrics.state == "connected" for t in gw._threaded))
        a.write(wire(sample_frames(walk_counts(128 * 3), hello=dataclasses.replace(HELLO, rate_hz=100.0))))
        good, counts, _ = device(2, n=128 * 3)
        b.write(good)
        assert wait_for(lambda: len(by_stream(sink).get("bed2", [])) == len(expected(len(counts))))
        assert wait_for(lambda: gw.counts["mismatch"] == 1)
    assert "bed1" not in by_stream(sink)  # not one window of the refused stream
    lines = [r.getMessage() for r in caplog.records if "mismatch" in r.getMessage()]
    assert len(lines) == 1 and "rate_hz" in lines[0] and "bed1" in lines[0] and "\n" not in lines[0]
    a.close()
    b.close()
