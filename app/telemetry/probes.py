"""The probe gauges: the latest result of every enabled monitor at every location it
lists, labelled ``monitor_id, monitor, kind, customer, service, location`` (ids, names
and slugs from the roster, never a result's error text).

Each series' lines are kept with the result and roster entry they were written from,
and written again only when either changed, so a scrape mostly joins kept strings.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.monitoring.checks import PHASES
from app.monitoring.latest import Latest, Pair
from app.monitoring.roster import MonitorEntry
from app.telemetry.text import header, labels, value

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


def series_lines(base: str, latest: Latest) -> tuple[str, str, str, str, str]:
    """One series' lines of each family (empty where there is nothing to show)."""
    success = f"{SUCCESS}{{{base}}} {1 if latest.ok else 0}\n"
    durations = dict(latest.timings or {})
    if "total" not in durations and latest.latency_ms is not None:
        durations["total"] = float(latest.latency_ms)
    duration = "".join(
        f'{DURATION}{{{base},phase="{phase}"}} {value(durations[phase] / 1000)}\n'
        for phase in PHASES
        if phase in durations
    )
    status = f"{STATUS}{{{base}}} {latest.status_code}\n" if latest.status_code else ""
    cert = (
        f"{CERT}{{{base}}} {latest.cert_expires_at}\n" if latest.cert_expires_at is not None else ""
    )
    last = f"{LAST}{{{base}}} {latest.checked_at}\n"
    return success, duration, status, cert, last


# The entry and result a series' lines were written from, its label string, its lines.
Kept = tuple[MonitorEntry, Latest, str, tuple[str, str, str, str, str]]


class ProbeFamilies:
    """Writes the probe families, keeping each series' lines between scrapes."""

    def __init__(self) -> None:
        self._kept: dict[Pair, Kept] = {}

    def render(self, entries: Mapping[int, MonitorEntry], rows: Mapping[Pair, Latest]) -> str:
        """The families for ``rows`` whose monitor is in ``entries``, enabled and still
        probed from that location; anything else (deleted, paused, a location removed)
        has no series."""
        previous = self._kept
        kept: dict[Pair, Kept] = {}
        for pair, latest in rows.items():
            entry = entries.get(pair[0])
            if entry is None or not entry.enabled or pair[1] not in entry.locations:
                continue
            held = previous.get(pair)
            same_entry = held is not None and (held[0] is entry or held[0] == entry)
            if held is not None and same_entry and held[1] is latest:
                kept[pair] = held
                continue
            base = held[2] if held is not None and same_entry else series_labels(entry, pair[1])
            kept[pair] = (entry, latest, base, series_lines(base, latest))
        self._kept = kept
        if not kept:
            return ""
        # Transposed in C: one column of lines per family (empty strings add nothing).
        columns = zip(*(item[3] for item in kept.values()), strict=True)
        parts = []
        for (name, help_text), column in zip(FAMILIES, columns, strict=True):
            body = "".join(column)
            if body:
                parts.append(header(name, "gauge", help_text) + body)
        return "".join(parts)
