"""HTML and Atom from status documents (Jinja2 templates in app/templates, escaped;
no script, font or stylesheet from anywhere else)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape

BANNERS = {
    "operational": "All systems operational",
    "degraded": "Some services are degraded or not reporting",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "maintenance": "Maintenance in progress",
}
STATUS_WORDS = {
    "operational": "Operational",
    "degraded": "Degraded",
    "down": "Down",
    "maintenance": "Maintenance",
    "no_data": "No data",
}


def duration(seconds: int) -> str:
    """``3 d 4 h``, ``1 h 5 min``, ``12 min``, ``40 s``: the two largest units."""
    if seconds < 60:
        return f"{seconds} s"
    minutes, _ = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def parse_instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def local_time(text: str | None, timezone: str, with_date: bool = True) -> str:
    if text is None:
        return ""
    moment = parse_instant(text).astimezone(ZoneInfo(timezone))
    return moment.strftime("%a %-d %b %Y, %H:%M %Z" if with_date else "%H:%M %Z")


def bar_level(day: dict[str, Any], target: Decimal) -> str:
    """A bar's colour class: no figure, no data at all, at or above the target, or
    how far below it."""
    if day["uptime_percent"] is None:
        return "none"
    uptime = Decimal(day["uptime_percent"])
    if day["downtime_seconds"] == 0 and day["no_data_seconds"] > 0 and uptime == 100:
        return "nodata" if day["no_data_seconds"] >= 86_000 else "ok"
    if uptime >= target:
        return "ok" if day["downtime_seconds"] == 0 else "minor"
    if uptime >= 99:
        return "warn"
    return "bad"


@lru_cache(maxsize=1024)
def day_label(text: str) -> str:
    return date.fromisoformat(text).strftime("%a %-d %b %Y")


def bar_tip(day: dict[str, Any]) -> str:
    when = day_label(day["date"])
    if day["uptime_percent"] is None:
        return f"{when}: not monitored"
    parts = [f"{when}: {day['uptime_percent']} % uptime"]
    parts.append(
        f"down {duration(day['downtime_seconds'])}" if day["downtime_seconds"] else "no downtime"
    )
    if day["excused_seconds"]:
        parts.append(f"maintenance {duration(day['excused_seconds'])}")
    if day["no_data_seconds"]:
        parts.append(f"no data {duration(day['no_data_seconds'])}")
    return ", ".join(parts)


_environment = Environment(
    loader=PackageLoader("app", "templates"),
    autoescape=select_autoescape(["html", "xml"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.filters.update(duration=duration, bar_tip=bar_tip)


def render_page(document: dict[str, Any], refresh_seconds: int, token: str | None) -> str:
    timezone = document["timezone"]
    query = f"?{urlencode({'token': token})}" if token else ""
    services = [
        {
            **service,
            "bars": [
                (day, bar_level(day, Decimal(service["month"]["target_percent"])))
                for day in service["days"]
            ],
        }
        for service in document["services"]
    ]
    incidents = document["incidents"]
    return _environment.get_template("status.html").render(
        doc=document,
        services=services,
        banner=BANNERS[document["status"]],
        words=STATUS_WORDS,
        current=[i for i in incidents if i["ongoing"]],
        past=[i for i in incidents if not i["ongoing"]][:20],
        maintenance_now=[m for m in document["maintenance"] if m["state"] != "completed"],
        maintenance_past=[m for m in document["maintenance"] if m["state"] == "completed"][-10:],
        local=lambda text, with_date=True: local_time(text, timezone, with_date),
        refresh_seconds=refresh_seconds,
        query=query,
        first_day=document["services"][0]["days"][0]["date"] if document["services"] else None,
    )


def _atom_time(text: str) -> str:
    return parse_instant(text).astimezone(UTC).isoformat().replace("+00:00", "Z")


def feed_entries(document: dict[str, Any], page_url: str) -> list[dict[str, str]]:
    """Outages, incidents and maintenance as feed entries, newest first. An entry's id
    stays the same as it is updated (an outage that ends, a window that starts)."""
    slug = document["customer"]["slug"]
    entries = []
    for item in document["incidents"]:
        started = item["started_at"]
        summary = (
            f"Ongoing since {started}"
            if item["ongoing"]
            else f"From {started} to {item['ended_at']} ({duration(item['duration_seconds'])})"
        )
        entries.append(
            {
                "id": f"urn:uptally:{slug}:{item['kind']}:{item['service']}:{started}",
                "title": item["title"],
                "updated": _atom_time(item["ended_at"] or started),
                "summary": summary,
                "link": page_url,
            }
        )
    for window in document["maintenance"]:
        state = window["state"].replace("_", " ")
        entries.append(
            {
                "id": f"urn:uptally:{slug}:maintenance:{window['service']}:{window['starts_at']}",
                "title": f"Maintenance ({state}): {window['service_name']}: {window['title']}",
                "updated": _atom_time(window["announced_at"]),
                "summary": f"From {window['starts_at']} to {window['ends_at']}, "
                f"announced {window['announced_at']}",
                "link": page_url,
            }
        )
    entries.sort(key=lambda e: e["updated"], reverse=True)
    return entries


def render_feed(document: dict[str, Any], page_url: str, feed_url: str) -> str:
    entries = feed_entries(document, page_url)
    updated = entries[0]["updated"] if entries else _atom_time(document["as_of"])
    name = escape(document["customer"]["name"])
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<id>{escape(page_url)}</id>",
        f"<title>{name} status</title>",
        f"<updated>{updated}</updated>",
        f'<link rel="alternate" type="text/html" href="{escape(page_url, {chr(34): "&quot;"})}"/>',
        f'<link rel="self" href="{escape(feed_url, {chr(34): "&quot;"})}"/>',
        f"<author><name>{name}</name></author>",
    ]
    for entry in entries:
        parts += [
            "<entry>",
            f"<id>{escape(entry['id'])}</id>",
            f"<title>{escape(entry['title'])}</title>",
            f"<updated>{entry['updated']}</updated>",
            f'<link rel="alternate" href="{escape(entry["link"], {chr(34): "&quot;"})}"/>',
            f"<summary>{escape(entry['summary'])}</summary>",
            "</entry>",
        ]
    parts.append("</feed>")
    return "\n".join(parts) + "\n"


def render_report(report: dict[str, Any]) -> str:
    """The monthly SLA report as HTML fit to print (A4, no navigation)."""
    timezone = report["customer"]["timezone"]
    year, month = (int(part) for part in report["month"].split("-"))
    return _environment.get_template("report.html").render(
        r=report,
        month_name=date(year, month, 1).strftime("%B %Y"),
        local=lambda text: local_time(text, timezone),
    )
