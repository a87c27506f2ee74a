"""Coordination cases: the list, a case's page (vendors and statuses, the thread, the timeline, the embargo in UTC
and the viewer's zone with a countdown, the publication gate and what blocks it, export downloads), the staff's
actions on it, a vendor's statements, and the vendor portal (its cases and the packages it declared it owns)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from clearinghouse.cases.rules import CaseState, VendorStatement, VendorStatus, VexJustification
from clearinghouse.cases.service import CaseService
from clearinghouse.errors import InvalidRecord, Location
from clearinghouse.policy import pages
from clearinghouse.policy.cases import CaseRole
from clearinghouse.web.forms import Form
from clearinghouse.web.session import CheckedForm, CurrentViewer
from clearinghouse.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
ZONE_COOKIE = "ch_zone"  # the viewer's IANA zone, set by keys.js from the browser (UTC without it)


def _service(request: Request) -> CaseService:
    return CaseService(request.app.state.engine)


def _zone(request: Request, asked: str) -> str:
    """The zone asked for (the service refuses an unknown one by name), else the browser's, else UTC."""
    if asked:
        return asked
    remembered = unquote(request.cookies.get(ZONE_COOKIE, ""))[:64]
    try:
        ZoneInfo(remembered)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"  # no cookie yet, or one the browser got wrong: UTC is always shown anyway
    return remembered


def _choice(enum: type[StrEnum], value: str, field: str) -> str:
    """`value` if it names a member of `enum`; the form's field named in the refusal otherwise."""
    if value not in {member.value for member in enum}:
        allowed = ", ".join(member.value for member in enum)
        raise InvalidRecord(f"{value!r} is not one of: {allowed}", Location(field=field))
    return value


def _listed(form: Form, name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in form.get(name).replace("\n", ",").split(",") if item.strip())


@router.get("/cases")
def case_list(request: Request, current: CurrentViewer) -> Response:
    cases = _service(request).list_cases(current.actor)
    return render(request, current, "cases.html", {"cases": cases.cases})


@router.get("/cases/{case_id}")
def case_page(
    request: Request, current: CurrentViewer, case_id: str, zone: Annotated[str, Query(max_length=64)] = ""
) -> Response:
    service = _service(request)
    view = service.view(current.actor, case_id, _zone(request, zone), message_limit=200)
    coordinating = pages.may_coordinate_cases(current.actor)
    context = {
        "case": view,
        "coordinating": coordinating,
        "proposal": service.propose(current.actor, case_id) if coordinating else None,
        "own_vendor": pages.states_vendor_status(
            current.actor, {p.organisation_id for p in view.participants if p.role == CaseRole.VENDOR.value}
        ),
        "statuses": list(VendorStatus),
        "justifications": list(VexJustification),
        "now": service.clock(),
    }
    return render(request, current, "case.html", context)


@router.post("/cases/{case_id}/participants")
async def add_participant(request: Request, current: CurrentViewer, form: CheckedForm, case_id: str) -> Response:
    role = CaseRole(_choice(CaseRole, form.required("role", "the role"), "role"))
    await run_in_threadpool(
        _service(request).add_participant,
        current.actor,
        case_id,
        form.required("organisation", "the organisation"),
        role,
        form.required("reason", "a reason"),
    )
    return redirect(f"/cases/{case_id}")


@router.post("/cases/{case_id}/state")
async def move_case(request: Request, current: CurrentViewer, form: CheckedForm, case_id: str) -> Response:
    target = CaseState(_choice(CaseState, form.required("target", "the new state"), "target"))
    await run_in_threadpool(_service(request).move, current.actor, case_id, target, form.required("reason", "a reason"))
    return redirect(f"/cases/{case_id}")


@router.post("/cases/{case_id}/embargo")
async def set_embargo(request: Request, current: CurrentViewer, form: CheckedForm, case_id: str) -> Response:
    try:
        local = datetime.fromisoformat(form.required("public_at", "the public date"))
    except ValueError:
        raise InvalidRecord("a date and time like 2027-03-01T09:00", Location(field="public_at")) from None
    await run_in_threadpool(
        _service(request).set_embargo,
        current.actor,
        case_id,
        local.replace(tzinfo=None),
        form.required("zone", "the time zone"),
        form.get("reason"),
        _listed(form, "agreed_by"),
    )
    return redirect(f"/cases/{case_id}")


@router.post("/cases/{case_id}/messages")
async def post_message(request: Request, current: CurrentViewer, form: CheckedForm, case_id: str) -> Response:
    to_vendor = form.get("to") or None
    await run_in_threadpool(
        _service(request).post_message, current.actor, case_id, form.required("body", "the message"), to_vendor
    )
    return redirect(f"/cases/{case_id}#thread")


@router.post("/cases/{case_id}/status")
async def state_status(request: Request, current: CurrentViewer, form: CheckedForm, case_id: str) -> Response:
    justification = form.get("justification")
    statement = VendorStatement(
        status=VendorStatus(_choice(VendorStatus, form.required("status", "the status"), "status")),
        justification=VexJustification(_choice(VexJustification, justification, "justification"))
        if justification
        else None,
        fixed_versions=_listed(form, "fixed_versions"),
        fix_commits=_listed(form, "fix_commits"),
        advisory_url=form.get("advisory_url").strip() or None,
        note=form.get("note").strip(),
        packages=_listed(form, "packages"),
    )
    vendor = form.get("vendor") or None
    await run_in_threadpool(_service(request).state_status, current.actor, case_id, statement, vendor)
    return redirect(f"/cases/{case_id}")


@router.post("/cases/{case_id}/publish")
async def publish(request: Request, current: CurrentViewer, form: CheckedForm, case_id: str) -> Response:
    override = form.get("override_reason").strip() or None
    await run_in_threadpool(_service(request).publish, current.actor, case_id, override)
    return redirect(f"/cases/{case_id}")


@router.post("/reports/{report_id}/case")
async def open_case(request: Request, current: CurrentViewer, form: CheckedForm, report_id: str) -> Response:
    view = await run_in_threadpool(
        _service(request).open_case, current.actor, [report_id], None, form.get("title").strip() or None
    )
    return redirect(f"/cases/{view.id}")


@router.get("/vendor")
def vendor_portal(request: Request, current: CurrentViewer) -> Response:
    service = _service(request)
    context = {
        "cases": service.list_cases(current.actor).cases,
        "declarations": service.declarations(current.actor).declarations,
    }
    return render(request, current, "vendor.html", context)
