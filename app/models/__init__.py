"""SQLAlchemy models, split by domain: the catalog (what is monitored and under
which contract) and the timeline (what was observed and what it was worth)."""

from app.models.catalog import (
    ApiKey,
    Customer,
    MaintenanceWindow,
    Monitor,
    Service,
    SlaPolicy,
)
from app.models.timeline import (
    CheckResult,
    ClosedMonth,
    DirtyMarks,
    LateData,
    LocationSegment,
    StateChange,
    Statement,
)

__all__ = [
    "ApiKey",
    "CheckResult",
    "ClosedMonth",
    "Customer",
    "DirtyMarks",
    "LateData",
    "LocationSegment",
    "MaintenanceWindow",
    "Monitor",
    "Service",
    "SlaPolicy",
    "StateChange",
    "Statement",
]
