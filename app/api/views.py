"""Read models built from rows, for resources more than one router shows: a monitor
(to admins and customers in monitors.py, to agents in results.py). Routers import
this, never each other."""

from __future__ import annotations

from fastapi import Request

from app.api.deps import get_runtime
from app.models import Monitor
from app.schemas.monitors import MonitorRead


def monitor_read(monitor: Monitor, request: Request) -> MonitorRead:
    """A monitor as the API shows it; a heartbeat monitor gets its ping URL, under
    UPTALLY_PUBLIC_URL or else the URL the request came to."""
    read = MonitorRead.model_validate(monitor)
    if monitor.heartbeat_token:
        base = get_runtime(request).settings.public_url or str(request.base_url)
        read.heartbeat_url = f"{base.rstrip('/')}/heartbeat/{monitor.heartbeat_token}"
    return read
