"""Rendering pages: one Jinja2 environment (autoescaped) over `web/templates/`, and the error pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from clearinghouse.errors import ClearinghouseError, Forbidden, NotFound
from clearinghouse.web.session import Viewer, set_presession_cookie


def _utc_text(value: datetime | str | None) -> str:
    """A timestamp as `2026-12-06 14:05 UTC` (every time on a page says its zone)."""
    if value is None or value == "":
        return "-"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _zoned_text(iso: str) -> str:
    """An ISO 8601 time with its offset as `2027-03-01 09:00 (UTC+01:00)`: the wall clock of that zone."""
    moment = datetime.fromisoformat(iso)
    offset = moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M} (UTC{offset[:3]}:{offset[3:]})" if offset else f"{moment:%Y-%m-%d %H:%M}"


def _time_tag(value: datetime | str | None) -> Markup:
    """A <time> element: UTC as text, the ISO instant for the viewer's zone (keys.js adds the local time)."""
    if value is None or value == "":
        return Markup("-")
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    iso = moment.astimezone(UTC).isoformat()
    return Markup('<time datetime="{}">{}</time>').format(iso, _utc_text(moment))


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("clearinghouse.web", "templates"),
        autoescape=select_autoescape(["html", "svg"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["utc"] = _utc_text
    env.filters["time"] = _time_tag
    env.filters["zoned"] = _zoned_text
    return env


# Every page: never cached (pages show who is signed in and what they may see), never framed (clickjacking), and
# only this site's own scripts, styles and form targets (htmx's injected indicator style is off in base.html).
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def render(
    request: Request, viewer: Viewer, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    page = (
        environment()
        .get_template(template)
        .render(request=request, viewer=viewer, path=request.url.path, **(context or {}))
    )
    response = HTMLResponse(page, status_code=status)
    if viewer.new_presession is not None:
        set_presession_cookie(request, response, viewer.new_presession)
    response.headers.update(PAGE_HEADERS)
    return response


@dataclass(frozen=True)
class HttpRefusal:
    """What the error page shows for a refusal raised by the framework (e.g. 405), not by a service."""

    status: int
    code: str
    message: str


def redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


def error_page(request: Request, viewer: Viewer, error: ClearinghouseError) -> Response:
    """An error as a page: 401 sends the visitor to sign in and back; 404 is the same page whether the object is
    missing or invisible to this viewer. A page the viewer's role may not open at all (403 in the API, where a
    client needs to know its token lacks a scope) is also "not found": a browser user is shown no door they
    cannot use, and no URL tells them more than that."""
    if error.status == 401 and viewer.session is None and request.method == "GET":
        return redirect(f"/sign-in?next={quote(request.url.path)}")
    if isinstance(error, Forbidden) and request.method == "GET":
        error = NotFound("no such page")
    return render(request, viewer, "error.html", {"error": error}, status=error.status)
