"""Build the ASGI application; nothing is created at import time."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from varsel import config, web
from varsel.alerts.worker import start_background as start_alerts
from varsel.api import errors, federation, limits, metrics, rest, search, stream, taxii
from varsel.clearances import rules as clearance_rules
from varsel.clearances import views as clearance_views
from varsel.config import Settings
from varsel.db import make_engine, make_sessionmaker
from varsel.federation.worker import start_background as start_federation
from varsel.http.deps import HubState
from varsel.incidents import views as incident_views
from varsel.matching import views as matching_views
from varsel.misp import views as misp_views
from varsel.misp.views import root as misp_root
from varsel.orgs import service as orgs
from varsel.sharing import ingest as ingesting
from varsel.sharing.ingest.helper import WarningListHelper, helper_enabled


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: HubState = app.state.hub
    # The helper process loads its own copy of the lists meanwhile (varsel.sharing.ingest.helper).
    helper = WarningListHelper() if helper_enabled() else None
    if helper is not None:
        helper.start()
        state.warnings_helper = helper
    # The server starts answering once the warning lists are in memory, so the first share
    # does not wait seconds for them. Without a lifespan (tests) they load on first use.
    await run_in_threadpool(ingesting.preload_warning_lists)
    # Every process starts one; the lease in the database lets exactly one run the links.
    federation = (
        start_federation(state.sessions, readers=state.readers, hub_name=state.settings.hub_name)
        if state.settings.federation
        else None
    )
    # Likewise the alerts evaluator (docs/alerts.md); a lease lets one process evaluate.
    alerts = (
        start_alerts(
            state.sessions, readers=state.readers, interval_s=state.settings.alerts_interval
        )
        if state.settings.alerts
        else None
    )
    # Everything alive now lives as long as the process. Frozen, the collector stops walking
    # it on every full collection: those walks took ~0.1 s each, every dozen envelopes. Once
    # per process: an application started again in the same process (tests) adds nothing.
    if not gc.get_freeze_count():
        gc.collect()
        gc.freeze()
    # The process's stream wake-ups: a LISTEN connection on PostgreSQL, a poll on SQLite.
    await stream.start(app)
    try:
        yield
    finally:
        if federation is not None:
            await run_in_threadpool(federation.stop)
        if alerts is not None:
            await run_in_threadpool(alerts.stop)
        await stream.stop(app)
        if helper is not None:
            state.warnings_helper = None
            await run_in_threadpool(helper.stop)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Return a hub application for ``settings`` (from the environment by default)."""
    settings = settings or Settings()
    # A bad ceiling or agreements file stops the start, in one line, never a request later.
    clearance_rules.check_configuration(settings)
    config.use(settings)  # what the domain modules read (config.current())
    orgs.prepare_sign_in()  # the unknown-user hash, before any sign-in could be timed
    engine = make_engine(settings.database_url)
    app = FastAPI(
        lifespan=_lifespan,
        title=settings.title,
        version="0.1.0",
        description="Varsel hub: TAXII 2.1 server, REST API and web interface.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.hub = HubState(
        settings=settings,
        sessions=make_sessionmaker(engine),
        readers=make_sessionmaker(engine, read_only=True),
    )
    app.state.engine = engine
    errors.install(app)
    app.add_middleware(errors.RejectNul)
    # Outermost of the application's own middleware: bodies are limited (and anonymous ones
    # refused) before anything reads them.
    limits.install(app)
    # Outside even that: PyMISP("http://HUB/misp") asks for /events/… (varsel.misp.views.root).
    app.add_middleware(misp_root.MispAtRoot)
    # Every router is listed here explicitly (no registration by import side effects).
    app.include_router(taxii.router)
    app.include_router(rest.router)
    app.include_router(search.router)
    app.include_router(stream.router)
    app.include_router(federation.router)
    app.include_router(matching_views.router)
    app.include_router(clearance_views.router)
    app.include_router(incident_views.router)
    app.include_router(metrics.router)
    app.include_router(misp_views.router)
    app.include_router(web.router)
    web.install(app)  # HTML error pages and sign-in redirects on page routes only
    logging.getLogger("varsel").setLevel(logging.INFO)
    return app
