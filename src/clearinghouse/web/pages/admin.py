"""Administration: organisations, users, API tokens, and the audit log with its chain verification and checkpoint."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from clearinghouse.errors import NotFound, Unauthenticated
from clearinghouse.policy import Anonymous, pages
from clearinghouse.store.audit import AuditLog
from clearinghouse.store.identity import IdentityStore
from clearinghouse.web.session import CurrentViewer, Viewer, accounts
from clearinghouse.web.templating import render

router = APIRouter(include_in_schema=False)
AUDIT_ROWS = 100


def _require_admin(current: Viewer) -> None:
    """Administration is invisible (404) to anyone but staff administrators; anonymous visitors sign in first."""
    if isinstance(current.actor, Anonymous):
        raise Unauthenticated("sign in to see this page")
    if not pages.may_administer(current.actor):
        raise NotFound("no such page")


@router.get("/admin")
def administration(request: Request, current: CurrentViewer) -> Response:
    _require_admin(current)
    engine = request.app.state.engine
    identity = IdentityStore(engine)
    audit = AuditLog(engine)
    context = {
        "organisations": identity.organisations(),
        "users": accounts(request).accounts(),
        "tokens": identity.list_tokens(),
        "entries": audit.latest(AUDIT_ROWS),
        "checkpoint": audit.checkpoint(),
        "public_key": audit.keys.public_key_base64(),
        "missing_triggers": audit.missing_triggers(),
        "now": datetime.now(UTC),
    }
    return render(request, current, "admin.html", context)


@router.get("/admin/audit/verify")
def verify_chain(request: Request, current: CurrentViewer) -> Response:
    """Every link and HMAC of the audit log, checked now (linear in the log's length: asked for, not on every view;
    htmx loads the answer into the administration page, a plain link shows it alone)."""
    _require_admin(current)
    chain = AuditLog(request.app.state.engine).verify()
    template = "_chain.html" if request.headers.get("hx-request") == "true" else "admin_chain.html"
    return render(request, current, template, {"chain": chain})
