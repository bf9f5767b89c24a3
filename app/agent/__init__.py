"""The remote probe agent (``uptally agent``): probes the monitors of one location and
pushes the results to the server.

- Assignments come from ``GET /api/v1/agent/monitors?location=`` (polled, with ETag)
  and are kept on disk, so a restarted agent probes on while the server is down.
- Every result is written to a local SQLite buffer before anything else, and sent in
  order by ``POST /api/v1/results``; a row leaves the buffer only once the server has
  accepted it. Delivery is at least once; the server stores a duplicate (same monitor,
  location and second) once, so nothing counts twice.
- Several agents may serve one location: give each ``--shard K/N`` to split the
  monitors between them (monitor id modulo N), or run them unsharded for redundancy
  (their results simply interleave).

The package owns the agent's side only: ``buffer`` (the disk buffer), ``client`` (the
two calls to the server and their wire format) and ``runner`` (the poll and send
loops around the check scheduler). It imports the check scheduler, the checks' value
types, ``app.sla.periods`` and ``probes/``, never the database layer or the web
framework (a test holds it to that), so an agent host needs neither.
"""

from app.agent.buffer import DiskBuffer
from app.agent.runner import Agent, run_agent

__all__ = ["Agent", "DiskBuffer", "run_agent"]
