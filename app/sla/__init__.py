"""Pure SLA accounting (SLA_RULES.md sections 1-7).

Standard library only: no I/O, no clock (``now`` is an argument), no floats. Time is
integer seconds since the Unix epoch (UTC); intervals are half-open ``(start, end)``
tuples; ratios are ``fractions.Fraction`` and money is ``decimal.Decimal``.
"""
