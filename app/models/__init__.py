"""SQLAlchemy models, split by domain: the catalog (what is monitored and under
which contract), the timeline (what was observed and what it was worth), support
(calendars, incidents and their events) and notifications (channels, outbox, record)."""

from app.models.catalog import (
    ApiKey,
    Customer,
    MaintenanceWindow,
    Monitor,
    Service,
    SlaPolicy,
)
from app.models.notifications import (
    NotificationChannel,
    NotificationDelivery,
    NotificationEpisode,
    NotificationMessage,
)
from app.models.support import Incident, IncidentEvent, SupportCalendar
from app.models.timeline import (
    CheckResult,
    ClosedMonth,
    DirtyMarks,
    LateData,
    LocationSegment,
    ResultFloor,
    StateChange,
    Statement,
)

__all__ = [
    "ApiKey",
    "CheckResult",
    "ClosedMonth",
    "Customer",
    "DirtyMarks",
    "Incident",
    "IncidentEvent",
    "LateData",
    "LocationSegment",
    "MaintenanceWindow",
    "Monitor",
    "NotificationChannel",
    "NotificationDelivery",
    "NotificationEpisode",
    "NotificationMessage",
    "ResultFloor",
    "Service",
    "SlaPolicy",
    "StateChange",
    "Statement",
    "SupportCalendar",
]
