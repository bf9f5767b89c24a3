"""Uptally: uptime monitoring and exact SLA accounting for hosting providers."""

__version__ = "0.1.0"
