"""What operators see in ``/metrics`` besides the process counters: the latest probe
result per monitor and location, and every service's SLA gauges for the month to date.

These families hold one series per monitor and location (10,000 monitors: 60,000
samples and more), too many for prometheus-client's generic exposition (about 1 s at
that size, measured: bench/metrics.py). They are written here in the same text format
from label strings built once per series and reused while the series is unchanged
(text.py, probes.py, sla.py); app/metrics.py serves them after the registry's own.
"""
