"""The whole HTTP application: the API (`api.app`) with the web interface mounted under `/`.

`clearinghouse serve` and `demo --serve` serve this. API paths keep answering problem+json; a domain error on a
page is rendered as an error page (401 on a GET: to the sign-in page and back).
"""

from __future__ import annotations

import inspect
from pathlib import Path

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from clearinghouse.api.app import create_app as create_api_app
from clearinghouse.api.limits import SharedRateLimiter
from clearinghouse.config import Settings
from clearinghouse.errors import ClearinghouseError, NotFound
from clearinghouse.store.rate_limits import RateLimitStore
from clearinghouse.store.web_accounts import WebAccounts
from clearinghouse.web.guard import SignInGuard
from clearinghouse.web.pages import admin, auth, cases, frontier, partners, public, reports
from clearinghouse.web.session import viewer
from clearinghouse.web.templating import HttpRefusal, error_page, render

STATIC = Path(__file__).parent / "static"
# Paths that belong to the API (and its docs): their errors stay problem+json.
_API_PREFIXES = ("/api/", "/docs", "/openapi.json", "/healthz")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    app = create_api_app(settings)
    app.state.web_accounts = WebAccounts(app.state.engine)
    app.state.sign_in_guard = SignInGuard(sign_in_failures(settings, app.state.engine))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    pages = (auth, reports, cases, partners, frontier, admin, public)
    for router in (page.router for page in pages):
        app.include_router(router)
    problem_handler = app.exception_handlers[ClearinghouseError]

    async def domain_error(request: Request, error: Exception) -> Response:
        if request.url.path.startswith(_API_PREFIXES) or not isinstance(error, ClearinghouseError):
            answer = problem_handler(request, error)
            return await answer if inspect.isawaitable(answer) else answer
        return error_page(request, await viewer(request), error)

    app.add_exception_handler(ClearinghouseError, domain_error)
    http_handler = app.exception_handlers[StarletteHTTPException]

    async def http_error(request: Request, error: Exception) -> Response:
        """A page that does not exist (or a method a page does not take) is an HTML page too."""
        if request.url.path.startswith(_API_PREFIXES) or not isinstance(error, StarletteHTTPException):
            answer = http_handler(request, error)
            return await answer if inspect.isawaitable(answer) else answer
        if error.status_code == 404:
            return error_page(request, await viewer(request), NotFound("no such page"))
        refused = HttpRefusal(error.status_code, f"http-{error.status_code}", str(error.detail))
        return render(request, await viewer(request), "error.html", {"error": refused}, status=error.status_code)

    app.add_exception_handler(StarletteHTTPException, http_error)
    return app


def sign_in_failures(settings: Settings, engine: sa.Engine) -> SharedRateLimiter | None:
    """The per-address budget of failed sign-ins: the API's budget of failed token guesses, in its own bucket."""
    if not settings.rate_limits:
        return None
    per_minute = settings.auth_failures_per_minute
    return SharedRateLimiter(RateLimitStore(engine), per_minute / 60, max(1, int(per_minute)), chunk=1)
