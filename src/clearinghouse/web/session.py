"""Who is looking at a page: the session cookie's user (a `Principal`, so the policy decides as for a token), or
the anonymous visitor; and the CSRF defence every form post goes through.

CSRF: a signed-in session's forms carry the session's own CSRF token (stored with the session); before sign-in
(the sign-in form, the public pages) a random pre-session cookie and the same value in the form (double submit).
Every post must also come from this site: an `Origin` (or, without one, `Referer`) naming another origin is
refused whatever the token. Cookies are HttpOnly and SameSite (Lax for the session, so a link from an e-mail lands
signed in; Strict for the pre-session), and Secure when the request came over TLS.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from clearinghouse.errors import CsrfRefused
from clearinghouse.identity.model import Principal
from clearinghouse.policy import ANONYMOUS, Actor
from clearinghouse.store.audit import ACTING_TOKEN
from clearinghouse.store.web_accounts import WebAccounts, WebSession
from clearinghouse.web.forms import Form, read_form

SESSION_COOKIE = "ch_session"
PRESESSION_COOKIE = "ch_presession"


@dataclass(frozen=True)
class Viewer:
    """The actor behind a page request and the CSRF token its forms carry."""

    actor: Actor
    session: WebSession | None
    csrf_token: str
    new_presession: str | None = None  # set this cookie on the response (first visit)

    @property
    def principal(self) -> Principal | None:
        return self.actor if isinstance(self.actor, Principal) else None


def accounts(request: Request) -> WebAccounts:
    found: WebAccounts = request.app.state.web_accounts
    return found


async def viewer(request: Request) -> Viewer:
    cookie = request.cookies.get(SESSION_COOKIE)
    session = await run_in_threadpool(accounts(request).session, cookie) if cookie else None
    if session is not None:
        ACTING_TOKEN.set(session.principal.token_id)  # audit entries this request writes name the session
        return Viewer(session.principal, session, session.csrf_token)
    presession = request.cookies.get(PRESESSION_COOKIE, "")
    if 20 <= len(presession) <= 100:
        return Viewer(ANONYMOUS, None, presession)
    fresh = secrets.token_urlsafe(32)
    return Viewer(ANONYMOUS, None, fresh, new_presession=fresh)


CurrentViewer = Annotated[Viewer, Depends(viewer)]


def _same_origin(request: Request, claimed: str) -> bool:
    parts = urlsplit(claimed)
    return (parts.scheme, parts.netloc) == (request.url.scheme, request.headers.get("host", request.url.netloc))


async def checked_form(request: Request, current: CurrentViewer) -> Form:
    """The posted form, once it is known to come from this site's own page (Origin and CSRF token)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is not None and not _same_origin(request, origin):
        raise CsrfRefused("this form was sent from another site")
    form = await read_form(request)
    expected = current.csrf_token if current.new_presession is None else ""
    if not expected or not hmac.compare_digest(form.get("csrf_token").encode(), expected.encode()):
        raise CsrfRefused("this form has expired or did not come from this site; reload the page and try again")
    return form


CheckedForm = Annotated[Form, Depends(checked_form)]


def is_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(request: Request, response: Response, cookie: str, expires_at: datetime) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        expires=expires_at,
        httponly=True,
        samesite="lax",
        secure=is_secure(request),
        path="/",
    )
    response.delete_cookie(PRESESSION_COOKIE, path="/")


def set_presession_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(PRESESSION_COOKIE, value, httponly=True, samesite="strict", secure=is_secure(request), path="/")


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
