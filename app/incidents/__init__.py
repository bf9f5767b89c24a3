"""Incidents and the support SLA (SLA_RULES.md section 8).

- clocks.py: an incident's response and resolution clocks from its events (pure)
- compliance.py: monthly compliance, met / evaluated, overall and by priority (pure)
- store.py: loading calendars, targets and incidents; recording incidents and events
- outages.py: the state-change handler opening and resolving incidents of outages
- report.py: what the monthly report and the status page call (month_support,
  month_incidents)
- cli.py: ``uptally incidents list|show|ack|resolve``

The calendar arithmetic itself is app.sla.business_time.
"""
