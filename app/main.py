"""The application factory: ``create_app(settings)`` and the lifespan that owns the
engine (and, when enabled, the scheduler and background folder)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from app import __version__, metrics
from app.api import (
    billing,
    customers,
    health,
    heartbeat,
    maintenance,
    monitors,
    policies,
    results,
    services,
)
from app.config import Settings
from app.db import make_engine, make_sessionmaker
from app.metrics import build_registry
from app.monitoring.buffer import ResultBuffer
from app.monitoring.folding import run_folder
from app.monitoring.ingest import MonitorDirectory
from app.monitoring.scheduler import ServerScheduler
from probes.guard import AddressPolicy
from probes.registry import ProbeContext


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        app.state.engine = engine
        app.state.sessions = make_sessionmaker(engine)
        # Background loops stop between passes when `stop` is set (cancelling one
        # inside a database call would strand the driver's worker thread).
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(
                run_folder(app.state.sessions, settings.fold_interval_seconds, stop),
                name="folder",
            )
        ]
        scheduler = None
        if settings.scheduler_enabled:
            probes = ProbeContext(
                policy=AddressPolicy.from_settings(
                    settings.allow_private_targets, settings.allowed_target_cidrs
                )
            )
            buffer = ResultBuffer(app.state.sessions)
            scheduler = ServerScheduler(
                app.state.sessions, settings.location, probes, buffer, observe_lag=lag.observe
            )
            app.state.scheduler = scheduler
            app.state.on_monitor_change = scheduler.sync
            tasks.append(asyncio.create_task(buffer.run(stop), name="result-buffer"))
            await scheduler.start_all()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown()
                await scheduler.drain(timeout=10)
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            if scheduler is not None:
                await scheduler.probes.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Uptally",
        version=__version__,
        description="Uptime monitoring and exact SLA accounting for hosting providers.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.monitors = MonitorDirectory()
    app.state.metrics, lag = build_registry(app.state)
    for module in (
        health,
        customers,
        policies,
        services,
        monitors,
        maintenance,
        results,
        billing,
        heartbeat,
        metrics,
    ):
        app.include_router(module.router)

    @app.exception_handler(IntegrityError)
    async def integrity_error(_: Request, exc: IntegrityError) -> JSONResponse:
        # A constraint caught what validation did not (e.g. a concurrent insert):
        # the transaction was rolled back, so nothing was stored.
        return JSONResponse({"detail": "conflicts with stored data"}, status_code=409)

    return app
