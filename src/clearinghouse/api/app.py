"""The FastAPI application: OpenAPI at /openapi.json, interactive docs at /docs served without any CDN."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from typing_extensions import TypedDict  # pydantic needs this one below Python 3.12

from clearinghouse import __version__
from clearinghouse.api import problems
from clearinghouse.api.limits import BodySizeLimit, JsonBodyGuard, RateLimit, RateLimits, SharedRateLimiter
from clearinghouse.api.routers import audit, frontier, metrics, notifications, partners, records, reports, reproductions
from clearinghouse.api.routers import cases as case_routes
from clearinghouse.api.routers import csaf as csaf_routes
from clearinghouse.api.routers import osv as osv_routes
from clearinghouse.api.routers import taxii as taxii_routes
from clearinghouse.cases.service import CaseService
from clearinghouse.config import Settings
from clearinghouse.feeds.csaf_provider import CsafProvider
from clearinghouse.feeds.osv_api import OsvApi
from clearinghouse.feeds.signing import Signer
from clearinghouse.feeds.taxii import TaxiiServer
from clearinghouse.intake.backpressure import IntakeGate
from clearinghouse.intake.group_commit import AcceptanceWriter
from clearinghouse.intake.service import ReportService
from clearinghouse.notify.service import NotificationService
from clearinghouse.reproduce.jobs import reproduction_service
from clearinghouse.store.audit import AuditLog
from clearinghouse.store.db import open_engine
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.rate_limits import RateLimitStore
from clearinghouse.store.records import RecordStore
from clearinghouse.workers import build_worker


class Health(TypedDict):
    status: str
    version: str


TOKEN_CACHE_SECONDS = 2.0


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    engine = open_engine(settings)
    record_store = RecordStore(engine)
    report_store = ReportService(engine)
    # Queued reports are processed by `clearinghouse worker` processes (`serve` starts one); the app keeps the
    # pipeline and a worker only so that tests and operators can run due jobs in-process.
    pipeline, worker = build_worker(engine, settings)
    acceptance = AcceptanceWriter(report_store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        acceptance.close()  # commit and answer what is queued before the server goes

    app = FastAPI(
        title="Clearinghouse",
        version=__version__,
        description="AI cybersecurity clearinghouse: vulnerability records, report intake and triage.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.records = record_store
    app.state.reports = report_store
    app.state.acceptance = acceptance
    app.state.intake_gate = IntakeGate(settings.backlog_limit, report_store.backlog, report_store.credibility_record)
    app.state.audit = AuditLog(engine)
    # Verified tokens are remembered for 2 s: revocation here is immediate, from another process within 2 s.
    app.state.identity = IdentityStore(engine, cache_seconds=TOKEN_CACHE_SECONDS)
    app.state.pipeline = pipeline
    app.state.worker = worker
    app.state.notifications = NotificationService(engine, settings)
    app.state.cases = CaseService(engine)
    app.state.reproductions = reproduction_service(engine, settings)
    app.add_middleware(JsonBodyGuard)  # added first, so it runs inside the size limit
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    if settings.rate_limits:
        app.add_middleware(RateLimit, limits=rate_limits(settings, RateLimitStore(engine)))  # outermost: first
    problems.install(app)
    app.include_router(records.router)
    app.include_router(reports.router)
    app.include_router(frontier.router)
    app.include_router(audit.router)
    app.include_router(notifications.router)
    # Feeds (OSV API, CSAF 2.0 provider, TAXII 2.1): the records again, for clients that read those protocols.
    app.state.osv_api = OsvApi(record_store)
    app.state.csaf_provider = CsafProvider(record_store, Signer(settings.home))
    app.state.taxii = TaxiiServer(record_store)
    app.include_router(osv_routes.router)
    app.include_router(csaf_routes.router)
    app.include_router(taxii_routes.router)
    app.include_router(case_routes.router)
    app.include_router(partners.router)
    app.include_router(reproductions.router)
    app.include_router(metrics.router)
    _offline_docs(app)

    @app.get("/healthz", tags=["service"], description="Liveness. **Access:** anyone.")
    def healthz() -> Health:
        return Health(status="ok", version=__version__)

    return app


def rate_limits(settings: Settings, store: RateLimitStore) -> RateLimits:
    failures = settings.auth_failures_per_minute
    return RateLimits(
        per_token=SharedRateLimiter(store, settings.rate_per_second, settings.rate_burst),
        per_address=SharedRateLimiter(store, settings.address_rate_per_second, settings.address_rate_burst),
        failed_logins=SharedRateLimiter(store, failures / 60, max(1, int(failures)), chunk=1),
    )


def _offline_docs(app: FastAPI) -> None:
    # FastAPI's /docs loads Swagger UI from a CDN; these machines (and many evaluation hosts) have no internet.
    assets = Path(swagger_ui_bundle.swagger_ui_path)
    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Clearinghouse API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )
