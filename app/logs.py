"""How the ``uptally`` processes log: one handler on the root logger, plain text or
one JSON object per line (``UPTALLY_LOG_FORMAT=json``), and quiet per check.

Per-check chatter is silenced below DEBUG: APScheduler's "Running job" and "executed
successfully" lines and httpx's line per request (a probe's request, an agent's push
and poll) would be two to four lines per check, for nothing an operator acts on. What
is logged at INFO is what changed: a confirmed state change (one line each,
``app.monitoring.dispatch``), an outage of the database, an agent's assignment.
``UPTALLY_LOG_LEVEL=debug`` brings the chatter back.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# Loggers that speak once per check or per request (and Alembic's list of the plugins it
# loads on every start), kept at WARNING unless debugging.
CHATTY = ("apscheduler", "httpx", "httpcore", "alembic.runtime.plugins")

# A LogRecord's own attributes; anything else on a record came from ``extra=`` and
# goes into the JSON object as a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...extra fields, "exception"?}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def formatter(kind: str) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(level: str = "info", kind: str = "text") -> None:
    """Log at ``level`` to stderr as ``kind`` (text or json). Idempotent; a handler
    someone else installed on the root logger (a test runner's) is left alone."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "uptally", False)]
    if ours:
        handler = ours[0]
    elif root.handlers:
        handler = None
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.uptally = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    if handler is not None:
        handler.setFormatter(formatter(kind))
    numeric = logging.getLevelName(level.upper())
    root.setLevel(numeric if isinstance(numeric, int) else logging.INFO)
    quiet = logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    for name in CHATTY:
        logging.getLogger(name).setLevel(quiet)
