"""Garbage-collector settings for the long-running processes (``serve``, ``agent``).

A server holds large, long-lived caches (the monitor roster, the latest result per
monitor, every service's month figures, the kept /metrics series) that are rebuilt
piece by piece while checks run. With CPython's default thresholds that churn set off
full collections over the whole heap again and again: profiled at 30,000 monitors,
collection was 23 % of the server's CPU, and each full pass held the event loop for
a few hundred milliseconds (the SLA endpoint's p99 went to ~1 s while its p50 was
12 ms). Nearly all of these objects are freed by reference counting; the collector
is only needed for cycles, which are rare here, so it may run far less often.
"""

from __future__ import annotations

import gc

# Young collections after this many net allocations (default 700). A pass walks the
# young objects alive, at ~0.3 us each in a server's scattered heap: at 15,000
# monitors, 50,000 made young passes of 15-65 ms and middle ones of 100-170 ms that
# held the event loop; at 10,000 the passes averaged 3-10 ms per 10 s sample.
# Middle and full collections after 20 and 100 younger ones (defaults 10 and 10);
# CPython also skips a full pass until the objects that survived since the last one
# are a quarter of the heap.
THRESHOLDS = (10_000, 20, 100)


def tune() -> None:
    """Collect less often (``THRESHOLDS``): at process start."""
    gc.set_threshold(*THRESHOLDS)


def freeze_startup() -> None:
    """Move everything alive now (imports, the app, settings, caches loaded at start)
    out of the collector's view for good: later passes never walk it again."""
    gc.collect()
    gc.freeze()
