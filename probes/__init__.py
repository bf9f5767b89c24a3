"""Probes: check one target and report what was seen.

This package knows nothing of the app: no database, no FastAPI, no scheduler.
"""
