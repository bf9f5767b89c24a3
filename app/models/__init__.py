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

__all__ = [
    "ApiKey",
    "Customer",
    "MaintenanceWindow",
    "Monitor",
    "Service",
    "SlaPolicy",
]
