"""Validation errors in FastAPI's own 422 shape, for checks a handler makes itself.

Every 422 the API returns is ``{"detail": [{"type", "loc", "msg", "input"?}]}``, with a
``loc`` naming where the bad value was (``["query", "month"]``, ``["body", "ends_at"]``,
``["body", "results", 3, "location"]``), whether pydantic found it or a handler did.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.sla.periods import to_epoch, utc_text

Loc = tuple[str | int, ...]
_NO_INPUT: Any = object()
_MAX_ECHO_DEPTH = 40  # deeper input is echoed as "..."


class ErrorMessage(BaseModel):
    """Every error but a 422: ``{"detail": "what is wrong"}``."""

    detail: str


class ValidationIssue(BaseModel):
    """One bad value: where it was (``loc``), what is wrong (``msg``, ``type``), and what
    was sent (``input``, when it can be echoed)."""

    model_config = ConfigDict(extra="allow")

    type: str
    loc: list[str | int] = Field(description='e.g. ["body", "results", 3, "location"]')
    msg: str
    input: Any = None


class ValidationErrors(BaseModel):
    """A 422: every bad value found (a results batch: every bad row, up to 1,000)."""

    detail: list[ValidationIssue]


ERRORS: dict[int, tuple[str, type[BaseModel]]] = {
    401: ("no token, or an unknown, revoked or expired one", ErrorMessage),
    403: ("the key's scope (or its locations) does not allow this", ErrorMessage),
    404: ("no such resource, or one the key may not see", ErrorMessage),
    409: ("conflicts with stored data (a duplicate, or something still in use)", ErrorMessage),
    413: ("the request body is over the size cap (1 MiB; results: 16 MiB)", ErrorMessage),
    422: ("a bad value, named by its loc; nothing was stored", ValidationErrors),
    503: ("the database is unavailable; retry after Retry-After seconds", ErrorMessage),
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for the error statuses an operation may answer."""
    return {code: {"model": ERRORS[code][1], "description": ERRORS[code][0]} for code in codes}


# Every /api/v1 operation: a token is needed and checked, a value may be bad, the
# database may be down. Routers add 404 (an id in the path), 409 and 413 (a body).
AUTHENTICATED = error_responses(401, 403, 422, 503)


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


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """FastAPI's own answer to an HTTP error, with a 405's ``Allow`` naming every method
    the OpenAPI document gives the path: the router names only those of the first route
    matching it (a path with a GET route and a POST route answered ``Allow: GET``)."""
    if exc.status_code == 400 and exc.detail == _UNPARSABLE:
        # FastAPI's answer to a body that is not even text (not UTF-8): a 422 like any
        # other body that is not JSON (json_invalid), in the API's one 422 shape.
        error = {"type": "json_invalid", "loc": ["body"], "msg": "the body is not UTF-8 JSON"}
        return JSONResponse({"detail": [error]}, status_code=422)
    if exc.status_code == 405:
        methods = allowed_methods(request.app.openapi(), request.url.path)
        if methods:
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(methods)}
    return await http_exception_handler(request, exc)


_UNPARSABLE = "There was an error parsing the body"  # FastAPI's 400 detail
_HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


def allowed_methods(openapi: dict[str, Any], path: str) -> list[str]:
    """The methods documented for the paths (templates such as ``/a/{id}``) matching
    ``path``."""
    methods: set[str] = set()
    for template, item in openapi.get("paths", {}).items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            methods |= {m.upper() for m in item if m.upper() in _HTTP_METHODS}
    return sorted(methods)


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
