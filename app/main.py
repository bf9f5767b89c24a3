"""The application factory: ``create_app(settings)`` builds the app's ``Runtime``
(app.runtime) once, and the lifespan runs its background work: the folder, the
state-change dispatcher, the current-month figures cache, and when enabled the
scheduler with its result buffer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import __version__, metrics
from app.api import (
    billing,
    customers,
    docs,
    health,
    heartbeat,
    incidents,
    keys,
    maintenance,
    monitors,
    notifications,
    policies,
    reports,
    results,
    services,
    status,
    support,
)
from app.api.errors import http_error, validation_error
from app.api.limits import BodyLimits
from app.availability import UNREACHABLE, DatabaseHealth
from app.config import Settings
from app.db import make_engine, make_sessionmaker
from app.incidents.outages import outage_incidents
from app.metrics import AppCollector, lag_histogram
from app.monitoring.buffer import ResultBuffer
from app.monitoring.dispatch import change_logger, run_dispatcher
from app.monitoring.folding import run_folder
from app.monitoring.ingest import MonitorDirectory
from app.monitoring.latest import LatestResults
from app.monitoring.retention import run_retention
from app.monitoring.roster import MonitorRoster
from app.monitoring.server import ServerScheduler
from app.notifications.notifier import Notifier
from app.notifications.sender import DeliveryLoop
from app.reporting.cache import CurrentMonthFigures
from app.runtime import Runtime
from app.status.cache import ClearOnCatalogWrites, StatusCache
from app.telemetry.exposition import Exposition
from app.telemetry.looplag import LoopLag
from app.telemetry.process import ProcessStats
from app.telemetry.upkeep import run_upkeep
from probes.guard import AddressPolicy
from probes.registry import ProbeContext

DRAIN_SECONDS = 10  # how long checks in flight may take to finish on stop
RETRY_AFTER_SECONDS = 5  # what a 503 during a database outage asks clients to wait
UPKEEP_SECONDS = 5.0  # how often /metrics' roster and backlog gauges are looked after


@dataclass(frozen=True)
class Background:
    """A loop that runs while the app runs. ``run(stop)`` must return soon after
    ``stop`` is set, between passes: cancelling a loop inside a database call would
    strand the driver's worker thread, so loops are stopped, never cancelled."""

    name: str
    run: Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def background_tasks(runtime: Runtime) -> list[Background]:
    """The app's background loops, all stopped by one shared event."""
    settings = runtime.settings
    tasks = [
        Background(
            "folder",
            partial(
                run_folder,
                runtime.sessions,
                settings.fold_interval_seconds,
                on_folded=lambda folded: runtime.figures.invalidate(folded.services),
            ),
        ),
        Background(
            "state-changes",
            partial(
                run_dispatcher,
                runtime.sessions,
                runtime.change_handlers,
                settings.dispatch_interval_seconds,
            ),
        ),
        Background("current-figures", partial(runtime.figures.run, settings.fold_interval_seconds)),
        Background(
            "metrics-upkeep",
            partial(
                run_upkeep,
                runtime.sessions,
                runtime.roster,
                runtime.latest,
                runtime.stats,
                UPKEEP_SECONDS,
            ),
        ),
        Background("metrics-series", runtime.exposition.run),
        Background("loop-lag", runtime.loop_lag.run),
        Background("key-usage", partial(runtime.key_usage.run, runtime.sessions)),
        Background(
            "result-retention",
            partial(
                run_retention,
                runtime.sessions,
                settings.result_retention_days,
                settings.retention_interval_seconds,
                settings.retention_batch_rows,
            ),
        ),
        Background("notifier", runtime.notifier.run),
        # Built per run: its sending threads end with the run.
        Background(
            "notification-deliveries",
            DeliveryLoop(settings, runtime.sessions, runtime.stats).run,
        ),
    ]
    if runtime.buffer is not None:
        tasks.append(Background("result-buffer", runtime.buffer.run))
    return tasks


def build_runtime(settings: Settings) -> Runtime:
    engine = make_engine(  # connects only when first used
        settings.database_url,
        connect_timeout=settings.db_connect_timeout_seconds,
        statement_timeout=settings.db_statement_timeout_seconds,
    )
    registry = CollectorRegistry()
    sessions = make_sessionmaker(engine)
    figures = CurrentMonthFigures(sessions, max_age=settings.figures_max_age_seconds)
    roster, latest = MonitorRoster(), LatestResults()
    notifier = Notifier(settings, sessions, roster, latest, figures)
    runtime = Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        monitors=MonitorDirectory(),
        registry=registry,
        lag=lag_histogram(registry),
        figures=figures,
        change_handlers=[
            change_logger(roster),
            notifier.handle_changes,
            outage_incidents(sessions, settings.incident_outage_priority),
        ],
        database=DatabaseHealth(),
        status=StatusCache(settings.status_max_age_seconds),
        latest=latest,
        roster=roster,
        stats=ProcessStats(registry),
        exposition=Exposition(registry, roster, latest, figures),
        notifier=notifier,
        loop_lag=LoopLag(registry),
    )
    registry.register(AppCollector(runtime))
    return runtime


def spool_path(settings: Settings) -> Path:
    """Where results that could not be written on stop wait for the next start:
    ``UPTALLY_SPOOL_PATH``, else next to a SQLite database file (``uptally.db`` ->
    ``uptally.spool.db``), else ``uptally-spool.db`` in the working directory."""
    if settings.spool_path:
        return Path(settings.spool_path)
    url = make_url(settings.database_url)
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database and database != ":memory:":
        return Path(database).with_suffix(".spool.db")
    return Path("uptally-spool.db")


def build_scheduler(runtime: Runtime) -> ServerScheduler:
    settings = runtime.settings
    probes = ProbeContext(
        policy=AddressPolicy.from_settings(
            settings.allow_private_targets, settings.allowed_target_cidrs
        )
    )
    return ServerScheduler(
        runtime.sessions,
        settings.location,
        probes,
        ResultBuffer(
            runtime.sessions,
            database=runtime.database,
            spool=spool_path(settings),
            on_written=partial(runtime.stored, "scheduler"),
        ),
        database=runtime.database,
        observe_lag=runtime.lag.observe,
    )


@asynccontextmanager
async def run_runtime(runtime: Runtime) -> AsyncIterator[None]:
    """Start the scheduler (if enabled) and the background loops; on exit, let checks
    in flight finish, stop the loops (the buffer writes what is left), and dispose
    of the engine."""
    if runtime.settings.scheduler_enabled:
        # Built per run: its probe clients are closed when the run ends.
        runtime.scheduler = build_scheduler(runtime)
    scheduler = runtime.scheduler
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(task.run(stop), name=task.name) for task in background_tasks(runtime)
    ]
    try:
        if scheduler is not None:
            await scheduler.start_all()
        yield
    finally:
        if scheduler is not None:
            scheduler.shutdown()
            await scheduler.drain(timeout=DRAIN_SECONDS)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        if scheduler is not None:
            await scheduler.probes.aclose()
        runtime.scheduler = None
        await runtime.engine.dispose()


def create_app(settings: Settings) -> FastAPI:
    runtime = build_runtime(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with run_runtime(runtime):
            yield

    app = FastAPI(
        title="Uptally",
        version=__version__,
        description="Uptime monitoring and exact SLA accounting for hosting providers.",
        lifespan=lifespan,
        # /docs comes with its Swagger UI files from the package (app.api.docs), not
        # from FastAPI's default CDN; there is no /redoc.
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime  # read only by app.api.deps.get_runtime
    app.add_middleware(ClearOnCatalogWrites, cache=runtime.status)
    # Bodies are capped, and /api/v1 needs a token, before any body is read or parsed.
    app.add_middleware(
        BodyLimits,
        default=settings.max_body_bytes,
        results=settings.max_results_body_bytes,
        sessions=runtime.sessions,
        settings=settings,
    )
    for module in (
        status,  # first: matched first, the busiest public paths
        health,
        customers,
        policies,
        services,
        monitors,
        maintenance,
        incidents,
        support,
        notifications,
        keys,
        results,
        billing,
        reports,
        heartbeat,
        metrics,
    ):
        app.include_router(module.router)

    docs.install(app)  # GET /, /docs and its assets

    # Every 422 renders, whatever was sent (NaN, invalid Unicode): app.api.errors.
    app.exception_handler(RequestValidationError)(validation_error)
    # A 405's Allow names every method of the path (app.api.errors).
    app.exception_handler(StarletteHTTPException)(http_error)

    async def database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        # Our outage, not bad input: say so, and when to come back. Logged once.
        runtime.database.failed(exc)
        return JSONResponse(
            {"detail": "the database is unavailable; try again shortly"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    for error in UNREACHABLE:
        app.add_exception_handler(error, database_unavailable)

    @app.exception_handler(IntegrityError)
    async def integrity_error(_: Request, exc: IntegrityError) -> JSONResponse:
        # A constraint caught what validation did not (e.g. a concurrent insert):
        # the transaction was rolled back, so nothing was stored.
        return JSONResponse({"detail": "conflicts with stored data"}, status_code=409)

    return app
