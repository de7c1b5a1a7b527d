"""What a many-stream gateway reports: totals over its streams, its own counters, the status line.

Content-free like every counter of the runtime: counts, states and batch sizes, never a sample.
Apart from the loop (``gateway.py``) because it only reads the gateway's state.
"""

from __future__ import annotations

from typing import Any

from .gateway_batch import Batcher
from .gateway_streams import Stream

__all__ = ["decoder_totals", "gateway_stats", "status_line"]


def decoder_totals(streams: dict[str, Stream]) -> dict[str, int]:
    """Every integer counter summed over the streams (all their links)."""
    total: dict[str, int] = {}
    for st in streams.values():
        for k, v in st.stats().items():
            if isinstance(v, int):
                total[k] = total.get(k, 0) + v
    return total


def gateway_stats(counts: dict[str, int], connections: int, streams: dict[str, Stream], sink_open_errors: int,
                  batcher: Batcher) -> dict[str, Any]:  # fmt: skip
    """The metrics file's ``gateway`` section."""
    open_streams = sum(s.state != "closed" for s in streams.values())
    return {**counts, "open_connections": connections, "streams_open": open_streams,
            "streams_known": len(streams), "sink_open_errors": sink_open_errors, "swaps": batcher.swaps,
            "batch_sizes": {str(k): v for k, v in sorted(batcher.sizes.items())}}  # fmt: skip


def status_line(metrics_line: str, g: dict[str, Any], sizes: dict[int, int]) -> str:
    """The metrics' status line plus the streams summary."""
    return (f"{metrics_line} streams open={g['streams_open']} known={g['streams_known']} "
            f"accepted={g['accepted']} refused={g['refused']} closed(mismatch/unplugged/stalled/no_hello)="
            f"{g['mismatch']}/{g['unplugged']}/{g['stalled']}/{g['no_hello']} batches={g['batches']} "
            f"max_batch={max(sizes, default=0)}")  # fmt: skip
