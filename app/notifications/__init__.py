"""Notifications through Apprise: who is told (channels: Apprise URLs per customer
and per service, and the operators' own from settings), what about (messages decided
from state changes, degraded monitors, burning error budgets, reminders), and the
delivery of each message to each channel in the background, retried with back-off.

Deciding never sends: the state-change handler and the notifier loop only write
messages and their pending deliveries (the outbox) in the database, so checks and
ingestion never wait on a channel. The delivery loop claims due deliveries with a
lease (several processes share the work), sends them through Apprise in its own
threads, and keeps the record of what was sent.

channels.py    the URLs: validation, masking, storage, who gets what
messages.py    what each event says, and the retry schedule (pure)
outbox.py      messages and deliveries in the database: enqueue, claim, finish
notifier.py    deciding: the state-change handler and the periodic pass
episodes.py    episodes in the database, and the periodic checks (degraded, budget,
               reminder, incident)
sender.py      sending through Apprise, and the delivery loop
cli.py         `uptally notify test URL`
"""
