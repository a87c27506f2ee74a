"""Signing in and out, and the front door (`/`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from clearinghouse.errors import AccountLocked, RateLimited, SignInFailed
from clearinghouse.identity.model import OrgKind
from clearinghouse.policy import pages
from clearinghouse.web.guard import SignInGuard
from clearinghouse.web.session import (
    SESSION_COOKIE,
    CheckedForm,
    CurrentViewer,
    Viewer,
    accounts,
    clear_session_cookie,
    set_session_cookie,
)
from clearinghouse.web.templating import redirect, render

router = APIRouter(include_in_schema=False)


def home_of(viewer: Viewer) -> str:
    """Where a signed-in user starts: the page of what their organisation does."""
    principal = viewer.principal
    if principal is None:
        return "/sign-in"
    kind = principal.organisation.kind
    if kind in (OrgKind.GOVERNMENT_EVALUATOR, OrgKind.AI_DEVELOPER):
        return "/frontier"
    if kind is OrgKind.CRITICAL_INFRASTRUCTURE and pages.may_read_assets(principal):
        return "/partner"
    if pages.may_read_reports(principal):
        return "/inbox"  # the queue for staff, their own organisation's reports for reporters and vendors
    return "/advisories"


def _safe_next(target: str) -> str:
    """Only a path on this site (never `//host` or a scheme): an open redirect would lend phishing our name."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target and len(target) < 500:
        return target
    return ""


@router.get("/")
def front_door(current: CurrentViewer) -> Response:
    return redirect(home_of(current))


@router.get("/sign-in")
def sign_in_page(request: Request, current: CurrentViewer, next: str = "") -> Response:
    if current.session is not None:
        return redirect(_safe_next(next) or home_of(current))
    return render(request, current, "sign_in.html", {"next": _safe_next(next), "error": None, "login": ""})


@router.post("/sign-in")
async def sign_in(request: Request, current: CurrentViewer, form: CheckedForm) -> Response:
    login = form.get("login").strip()
    target = _safe_next(form.get("next"))
    guard: SignInGuard = request.app.state.sign_in_guard
    address = request.client.host if request.client else "unknown"
    try:
        guard.check(address)
        signed_in = await run_in_threadpool(
            accounts(request).sign_in, login, form.get("password"), form.get("code") or None
        )
    except SignInFailed as refused:
        await run_in_threadpool(guard.failed, address)
        context = {"next": target, "error": refused.message, "login": login}
        return render(request, current, "sign_in.html", context, status=refused.status)
    except (AccountLocked, RateLimited) as refused:
        context = {"next": target, "error": refused.message, "login": login}
        return render(request, current, "sign_in.html", context, status=refused.status)
    response = redirect(target or home_of(Viewer(signed_in.session.principal, signed_in.session, "")))
    set_session_cookie(request, response, signed_in.cookie, signed_in.session.expires_at)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, current: CurrentViewer, _form: CheckedForm) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await run_in_threadpool(accounts(request).sign_out, cookie)
    response = redirect("/sign-in")
    clear_session_cookie(response)
    return response
