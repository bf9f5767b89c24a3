"""Request bodies are bounded before they are read, and /api/v1 asks for a token
before it reads one.

A pure ASGI middleware, outside the routes (and so before FastAPI reads and parses a
body, which it does before resolving any dependency, authentication included):

- a body over its cap is a **413** ``{"detail": "..."}`` naming the cap: at once when
  ``Content-Length`` says so, otherwise as soon as the bytes received pass it (a
  chunked body is counted as it arrives and nothing more is read);
- a request to ``/api/v1/...`` without ``Authorization: Bearer <token>`` is the same
  **401** as ``get_principal``'s, before a byte of its body is read; one that carries a
  body has its token checked by ``principal_of`` (``get_principal``'s check) first, so
  an unknown token is its 401 before the body is read too (the route checks it again,
  and the scopes, as before). Public paths (heartbeats, health, metrics, docs) are
  outside ``/api/v1`` and untouched.

The cap is ``Settings.max_body_bytes`` for every request but ``POST /api/v1/results``,
which has ``Settings.max_results_body_bytes`` (a batch of 10,000 rows; that endpoint
resolves its token before reading its body).
"""

from __future__ import annotations

from fastapi import HTTPException, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.deps import MISSING_TOKEN, principal_of
from app.config import Settings

PROTECTED_PREFIX = "/api/v1/"
RESULTS = ("POST", "/api/v1/results")
# Routes that resolve the token before they read their body (they read it themselves):
# no need to check it here as well.
TOKEN_FIRST = {RESULTS}


def describe(size: int) -> str:
    """``1048576`` as "1,048,576 bytes (1 MiB)"."""
    if size >= 1024 * 1024 and size % (1024 * 1024) == 0:
        return f"{size:,} bytes ({size // (1024 * 1024)} MiB)"
    if size >= 1024 and size % 1024 == 0:
        return f"{size:,} bytes ({size // 1024} KiB)"
    return f"{size:,} bytes"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when the bytes received pass the cap. An HTTPException,
    so FastAPI re-raises it while reading a body (instead of its generic 400) and it
    renders as the 413 wherever it surfaces."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,  # Content Too Large
            f"request body too large: at most {describe(limit)} here",
            headers={"Connection": "close"},
        )
        self.limit = limit


# Under /api/v1 but public: a status page's JSON twin (app.api.status decides).
PUBLIC_PREFIXES = ("/api/v1/status/",)


def needs_token(path: str) -> bool:
    if path.startswith(PUBLIC_PREFIXES):
        return False
    return path.startswith(PROTECTED_PREFIX) or path == PROTECTED_PREFIX.rstrip("/")


def has_bearer(headers: Headers) -> bool:
    """What ``HTTPBearer`` and ``get_principal`` accept as a token's shape: the
    ``Bearer`` scheme (any case) and something after it."""
    scheme, credentials = get_authorization_scheme_param(headers.get("authorization"))
    return scheme.lower() == "bearer" and bool(credentials)


def content_length(headers: Headers) -> int | None:
    try:
        return int(headers["content-length"])
    except (KeyError, ValueError):
        return None  # none (chunked), or malformed: counted as it arrives


def has_body(headers: Headers, length: int | None) -> bool:
    return bool(length) or (length is None and "transfer-encoding" in headers)


class BodyLimits:
    """The middleware; ``app.add_middleware(BodyLimits, default=..., results=...)``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        default: int,
        results: int,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> None:
        self.app = app
        self.default = default
        self.results = results
        self.sessions = sessions
        self.settings = settings

    def limit_for(self, scope: Scope) -> int:
        return self.results if (scope["method"], scope["path"]) == RESULTS else self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        headers = Headers(scope=scope)
        length = content_length(headers)
        if length is not None and length > limit:
            await self.refuse(BodyTooLarge(limit), scope, receive, send)
            return
        if needs_token(scope["path"]):
            refusal = await self.check_token(scope, headers, length)
            if refusal is not None:
                await self.refuse(refusal, scope, receive, send)
                return

        received = 0
        started = False

        async def capped_receive() -> Message:
            nonlocal received
            if received > limit:  # the app asked again after being told: read no more
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, capped_receive, watched_send)
        except BodyTooLarge as exc:
            # Normally rendered by the app's own HTTPException handler; this is for a
            # body read somewhere that handler does not reach.
            if started:
                raise
            await self.refuse(exc, scope, receive, send)

    async def check_token(
        self, scope: Scope, headers: Headers, length: int | None
    ) -> HTTPException | None:
        """The 401 for a request to /api/v1 that FastAPI would otherwise answer only
        after reading (and parsing) its body, or None."""
        if not has_bearer(headers):
            return HTTPException(
                status.HTTP_401_UNAUTHORIZED, MISSING_TOKEN, headers={"WWW-Authenticate": "Bearer"}
            )
        if not has_body(headers, length) or (scope["method"], scope["path"]) in TOKEN_FIRST:
            return None
        scheme, token = get_authorization_scheme_param(headers["authorization"])
        credentials = HTTPAuthorizationCredentials(scheme=scheme, credentials=token)
        try:
            async with self.sessions() as session:
                await principal_of(session, self.settings, credentials)
        except HTTPException as exc:
            return exc
        except Exception:
            # The database may be down: the route checks the token again and answers
            # that its own way.
            return None
        return None

    @staticmethod
    async def refuse(exc: HTTPException, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
        await response(scope, receive, send)
