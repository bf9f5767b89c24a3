"""The probe gauges: the latest result of every enabled monitor at every location it
lists, labelled ``monitor_id, monitor, kind, customer, service, location`` (ids, names
and slugs from the roster, never a result's error text).

Each series' lines are kept with the roster entry they were written from and written
again only when told that its result or entry changed (``LatestResults.fresh``,
``MonitorRoster.touched``), so a scrape costs what changed since the last one plus
one join of kept strings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from app.monitoring.checks import PHASES
from app.monitoring.latest import Latest, Pair
from app.monitoring.roster import MonitorEntry
from app.telemetry.text import family_chunks, labels, value

SUCCESS = "uptally_probe_success"
DURATION = "uptally_probe_duration_seconds"
STATUS = "uptally_probe_http_status_code"
CERT = "uptally_probe_tls_cert_expiry_timestamp_seconds"
LAST = "uptally_probe_last_result_timestamp_seconds"

FAMILIES = (
    (SUCCESS, "Whether the latest check of the monitor from the location passed (1) or not (0)"),
    (
        DURATION,
        "How long the latest check took, by phase (dns, connect, tls, first_byte as "
        "measured; total: the whole check)",
    ),
    (STATUS, "The HTTP status code of the latest check's response"),
    (CERT, "When the TLS certificate the latest check saw expires (Unix time)"),
    (LAST, "When the latest check ran (Unix time): a stale value means no fresh results"),
)

LABELS = ("monitor_id", "monitor", "kind", "customer", "service", "location")


def series_labels(entry: MonitorEntry, location: str) -> str:
    return labels(
        zip(
            LABELS,
            (str(entry.id), entry.name, entry.kind, entry.customer, entry.service, location),
            strict=True,
        )
    )


def _seconds(ms: float) -> str:
    seconds = ms / 1000
    return repr(seconds) if math.isfinite(seconds) else value(seconds)


def series_lines(base: str, latest: Latest) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    """One series' lines of each family, encoded (empty where there is nothing to show)."""
    success = f"{SUCCESS}{{{base}}} {1 if latest.ok else 0}\n"
    durations = latest.timings or {}
    if "total" not in durations and latest.latency_ms is not None:
        durations = {**durations, "total": float(latest.latency_ms)}
    duration = "".join(
        f'{DURATION}{{{base},phase="{phase}"}} {_seconds(durations[phase])}\n'
        for phase in PHASES
        if phase in durations
    )
    status = f"{STATUS}{{{base}}} {latest.status_code}\n" if latest.status_code else ""
    cert = (
        f"{CERT}{{{base}}} {latest.cert_expires_at}\n" if latest.cert_expires_at is not None else ""
    )
    last = f"{LAST}{{{base}}} {latest.checked_at}\n"
    return success.encode(), duration.encode(), status.encode(), cert.encode(), last.encode()


# The entry a series' labels were written from, its label string, its lines.
Kept = tuple[MonitorEntry, str, tuple[bytes, bytes, bytes, bytes, bytes]]


class ProbeFamilies:
    """The probe families, kept between scrapes series by series: ``update`` writes
    again the series of the pairs it is given (a new result, a changed roster entry)
    and drops those with nothing to show; ``render`` joins what is kept. A scrape of
    100,000 monitors so costs what changed since the last one, plus one join."""

    def __init__(self) -> None:
        self._kept: dict[Pair, Kept] = {}
        self._locations: dict[int, set[str]] = {}  # the kept pairs, by monitor

    def pairs_of(self, monitor_id: int) -> set[Pair]:
        return {(monitor_id, location) for location in self._locations.get(monitor_id, ())}

    def update(
        self, entries: Mapping[int, MonitorEntry], rows: Iterable[tuple[Pair, Latest | None]]
    ) -> None:
        """Write the series of ``rows`` again: a pair shows only while it has a latest
        result and its monitor is known, enabled and still probed from there (a
        deleted, paused or moved monitor has no series)."""
        kept = self._kept
        for pair, latest in rows:
            entry = entries.get(pair[0])
            if (
                latest is None
                or entry is None
                or not entry.enabled
                or pair[1] not in entry.locations
            ):
                if kept.pop(pair, None) is not None:
                    self._locations[pair[0]].discard(pair[1])
                continue
            held = kept.get(pair)
            if held is not None and (held[0] is entry or held[0] == entry):
                base = held[1]
            else:
                base = series_labels(entry, pair[1])
            kept[pair] = (entry, base, series_lines(base, latest))
            self._locations.setdefault(pair[0], set()).add(pair[1])

    async def render(self) -> list[bytes]:
        """The families as chunks (a header, then its lines)."""
        return await family_chunks(FAMILIES, [item[2] for item in self._kept.values()])
