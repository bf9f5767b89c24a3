"""The status page's JSON (documentation only: the document is built as plain JSON
by app.status.document and served from a cache)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Overall = Literal["operational", "degraded", "partial_outage", "major_outage", "maintenance"]
ServiceStatus = Literal["operational", "degraded", "down", "maintenance", "no_data"]


class StatusDay(BaseModel):
    date: str = Field(description="a calendar day in the customer's time zone, YYYY-MM-DD")
    uptime_percent: str | None = Field(
        description="truncated to 4 decimals; null before the service began or after it ended"
    )
    downtime_seconds: int
    excused_seconds: int = Field(description="announced maintenance")
    no_data_seconds: int


class StatusMonth(BaseModel):
    month: str
    uptime_percent: str | None
    target_percent: str
    downtime_seconds: int
    breached: bool


class StatusWindow(BaseModel):
    uptime_percent: str | None = Field(description="over the 90 days as one window")
    downtime_seconds: int


class StatusService(BaseModel):
    slug: str
    name: str
    status: ServiceStatus
    month: StatusMonth = Field(description="month to date")
    window: StatusWindow
    days: list[StatusDay] = Field(description="the last 90 days, oldest first")


class StatusUpdate(BaseModel):
    at: str
    message: str


class StatusOutage(BaseModel):
    """An outage the monitors measured (``kind: outage``: its downtime period), or an
    incident (``kind: incident``: opened by the provider, the customer or the monitors;
    its public comments as ``updates``). An outage an incident tells of is listed once,
    as the incident."""

    kind: Literal["outage", "incident"]
    service: str
    service_name: str
    title: str
    started_at: str
    ended_at: str | None
    ongoing: bool
    duration_seconds: int
    priority: str | None = Field(description="incidents: P1 to P4")
    state: str | None = Field(description="incidents: open, acknowledged, paused, resolved")
    updates: list[StatusUpdate]


class StatusMaintenance(BaseModel):
    service: str
    service_name: str
    title: str
    starts_at: str
    ends_at: str
    announced_at: str
    state: Literal["scheduled", "in_progress", "completed"]


class StatusCustomer(BaseModel):
    slug: str
    name: str


class StatusPage(BaseModel):
    customer: StatusCustomer
    timezone: str
    as_of: str
    status: Overall
    services: list[StatusService]
    incidents: list[StatusOutage] = Field(description="newest first")
    maintenance: list[StatusMaintenance] = Field(description="by start")
