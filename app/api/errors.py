"""Validation errors in FastAPI's own 422 shape, for checks a handler makes itself.

Every 422 the API returns is ``{"detail": [{"type", "loc", "msg", "input"?}]}``, with a
``loc`` naming where the bad value was (``["query", "month"]``, ``["body", "ends_at"]``,
``["body", "results", 3, "location"]``), whether pydantic found it or a handler did.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from app.sla.periods import to_epoch, utc_text

Loc = tuple[str | int, ...]
_NO_INPUT: Any = object()
_MAX_ECHO_DEPTH = 40  # deeper input is echoed as "..."


def _jsonable(value: Any) -> Any:
    # Instants are echoed the way the API writes them (RFC 3339, whole seconds, "Z").
    if isinstance(value, datetime) and value.tzinfo:
        try:
            return utc_text(to_epoch(value))
        except (OverflowError, ValueError):  # its UTC form is outside years 1-9999
            return value.isoformat()
    return value


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON that always renders: a 422 echoes what was sent, and
    what was sent may be NaN, Infinity (``1e400``), invalid Unicode (lone surrogates)
    or deeply nested. Non-finite numbers become their names as strings, lone
    surrogates ``\\udXXX`` text, exceptions (pydantic's ``ctx.error``) ``{}``."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if depth >= _MAX_ECHO_DEPTH:
        return "..."
    if isinstance(value, dict):
        return {str(json_safe(k, depth + 1)): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item, depth + 1) for item in value]
    if isinstance(value, datetime):
        return json_safe(_jsonable(value) if value.tzinfo else value.isoformat())
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return json_safe(str(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, BaseModel):
        return json_safe(value.model_dump(mode="python"), depth + 1)
    if isinstance(value, BaseException):
        return {}
    return json_safe(str(value))


async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, ``{"detail": [...]}``, made JSON-safe (see ``json_safe``)."""
    return JSONResponse({"detail": json_safe(list(exc.errors()))}, status_code=422)


def error_entry(
    loc: Loc, msg: str, input: Any = _NO_INPUT, type: str = "value_error"
) -> dict[str, Any]:
    """One entry of a 422's ``detail`` list: the bad value at ``loc``."""
    error: dict[str, Any] = {"type": type, "loc": loc, "msg": msg}
    if input is not _NO_INPUT:
        error["input"] = _jsonable(input)
    return error


def invalid(
    loc: Loc, msg: str, input: Any = _NO_INPUT, type: str = "value_error"
) -> RequestValidationError:
    """A 422 for one bad value at ``loc``; ``raise invalid(("query", "month"), ...)``."""
    return RequestValidationError([error_entry(loc, msg, input, type)])


def located(
    exc: ValidationError, prefix: Loc, *, with_input: bool = True, limit: int | None = None
) -> RequestValidationError:
    """pydantic's errors for a model validated by hand, each ``loc`` under ``prefix``
    (the first ``limit`` of them, when given)."""
    errors: Sequence[dict[str, Any]] = [
        {
            "type": e["type"],
            "loc": (*prefix, *e["loc"]),
            "msg": e["msg"],
            **({"input": _jsonable(e["input"])} if with_input else {}),
        }
        for e in exc.errors(include_url=False, include_context=False)[:limit]
    ]
    return RequestValidationError(errors)
