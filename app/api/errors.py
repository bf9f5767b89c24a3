"""Validation errors in FastAPI's own 422 shape, for checks a handler makes itself.

Every 422 the API returns is ``{"detail": [{"type", "loc", "msg", "input"?}]}``, with a
``loc`` naming where the bad value was (``["query", "month"]``, ``["body", "ends_at"]``,
``["body", "results", 3, "location"]``), whether pydantic found it or a handler did.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app.sla.periods import to_epoch, utc_text

Loc = tuple[str | int, ...]
_NO_INPUT: Any = object()


def _jsonable(value: Any) -> Any:
    # Instants are echoed the way the API writes them (RFC 3339, whole seconds, "Z").
    return utc_text(to_epoch(value)) if isinstance(value, datetime) and value.tzinfo else value


def invalid(
    loc: Loc, msg: str, input: Any = _NO_INPUT, type: str = "value_error"
) -> RequestValidationError:
    """A 422 for one bad value at ``loc``; ``raise invalid(("query", "month"), ...)``."""
    error: dict[str, Any] = {"type": type, "loc": loc, "msg": msg}
    if input is not _NO_INPUT:
        error["input"] = _jsonable(input)
    return RequestValidationError([error])


def located(
    exc: ValidationError, prefix: Loc, *, with_input: bool = True
) -> RequestValidationError:
    """pydantic's errors for a model validated by hand, each ``loc`` under ``prefix``."""
    errors: Sequence[dict[str, Any]] = [
        {
            "type": e["type"],
            "loc": (*prefix, *e["loc"]),
            "msg": e["msg"],
            **({"input": _jsonable(e["input"])} if with_input else {}),
        }
        for e in exc.errors(include_url=False, include_context=False)
    ]
    return RequestValidationError(errors)
