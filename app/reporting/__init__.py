"""Reporting: SLA figures from stored state, for any window and any consumer.

- ``load``: the services and the stored state (segments, monitors, maintenance) of a
  span of time, in a handful of queries, never the raw results.
- ``compute``: the pure per-service step (``app.sla``) over any window (a day, 30 or
  90 days, a month) and the monthly figures billing pays on.
- ``documents``: the API's JSON documents of those figures.
- ``statements``: closed months: the versioned statement format (independent of the
  API), its digest, adjustments from late data, and closing a month.
- ``cache``: the latest figures of every service's current month, refreshed in the
  background, for pages and metrics that must not compute on each request.
"""
