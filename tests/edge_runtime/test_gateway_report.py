"""gateway_report: totals over streams add up, and the status line names every close reason."""

from __future__ import annotations

from types import SimpleNamespace

from edge_runtime.gateway_report import decoder_totals, gateway_stats, status_line


class FakeStream:
    def __init__(self, state: str, **stats: object) -> None:
        self.state, self._stats = state, {"state": state, **stats}

    def stats(self) -> dict[str, object]:
        return self._stats


def test_totals_sum_the_integer_counters_and_the_line_names_each_reason() -> None:
    streams = {"a": FakeStream("streaming", frames=10, gaps=1, reason="x"), "b": FakeStream("closed", frames=5)}
    assert decoder_totals(streams) == {"frames": 15, "gaps": 1}  # type: ignore[arg-type]
    counts = {"accepted": 3, "refused": 1, "mismatch": 0, "unplugged": 2, "stalled": 0, "no_hello": 1, "batches": 7}
    batcher = SimpleNamespace(swaps=2, sizes={1: 5, 4: 2})
    g = gateway_stats(counts, 1, streams, 0, batcher)  # type: ignore[arg-type]
    assert (g["streams_open"], g["streams_known"], g["swaps"], g["batch_sizes"]) == (1, 2, 2, {"1": 5, "4": 2})
    line = status_line("state=streaming", g, batcher.sizes)
    assert line == ("state=streaming streams open=1 known=2 accepted=3 refused=1 "
                    "closed(mismatch/unplugged/stalled/no_hello)=0/2/0/1 batches=7 max_batch=4")  # fmt: skip
