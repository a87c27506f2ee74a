"""Every error as an RFC 9457 problem (``application/problem+json``) with a stable code, mapped in one place."""

from __future__ import annotations

import inspect
import logging
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from clearinghouse.errors import ClearinghouseError, InvalidRecord, StoreUnavailable

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("clearinghouse.api")

_TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


def problem(status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {
        "type": f"urn:clearinghouse:problem:{code}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _domain(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ClearinghouseError)  # registered for this class only
    status = error.status
    # A client's mistake is one line naming the problem code, never a traceback: a flood of hostile requests
    # must not flood the log (one 900-deep document used to write 0.6 MB of traceback).
    log.info("%s %s -> %d %s", request.method, request.url.path, status, error.code)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        headers = {"Retry-After": str(retry_after)}
    extra: dict[str, Any] = {}
    if isinstance(error, InvalidRecord) and error.location.field:
        extra["field"] = error.location.field
    return problem(status, error.code, error.message, headers, **extra)


async def _validation(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [{"field": ".".join(str(part) for part in e["loc"]), "message": e["msg"]} for e in error.errors()]
    first = errors[0] if errors else {"field": "", "message": "invalid request"}
    log.info("%s %s -> 422 invalid-request", request.method, request.url.path)
    return problem(422, "invalid-request", f"{first['field']}: {first['message']}", errors=errors)


async def _http(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = _TITLES.get(error.status_code, "error").lower().replace(" ", "-")
    return problem(error.status_code, code, str(error.detail), dict(error.headers or {}) or None)


async def _database(request: Request, error: Exception) -> Response:
    assert isinstance(error, sa.exc.DBAPIError)
    if error.connection_invalidated:
        # Connections idle for less than `store.db.PING_AFTER` are used without a ping: one the server dropped
        # meanwhile fails its first statement here. The client can send again at once; a 500 would say it cannot.
        log.warning("%s %s -> 503 store-unavailable: %s", request.method, request.url.path, error.orig)
        # Answered as the app answers its own errors (the web interface's pages with an HTML page).
        handler = request.app.exception_handlers.get(ClearinghouseError, _domain)
        answer = handler(request, StoreUnavailable())
        response: Response = await answer if inspect.isawaitable(answer) else answer
        return response
    log.error("%s %s -> 500", request.method, request.url.path, exc_info=error)
    return problem(500, "internal-error", "the request failed inside the clearinghouse; it has been logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ClearinghouseError, _domain)
    app.add_exception_handler(sa.exc.DBAPIError, _database)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
