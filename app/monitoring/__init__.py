"""Glue between probes, storage and the accounting: ingest, fold, schedule, notify."""
