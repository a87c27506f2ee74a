"""The analyst inbox (the priority queue), a report's page with its state changes, and duplicate clusters."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from clearinghouse.errors import InvalidRecord, Location
from clearinghouse.intake.lifecycle import REPORT_TRANSITIONS, ReportState
from clearinghouse.intake.service import ReportService
from clearinghouse.intake.triage import SsvcOutcome
from clearinghouse.intake.views import QueueFilter
from clearinghouse.policy import pages, rules
from clearinghouse.web.compare import compare
from clearinghouse.web.session import CheckedForm, CurrentViewer
from clearinghouse.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
ORIGINS = ("ai", "human")


def _service(request: Request) -> ReportService:
    found: ReportService = request.app.state.reports
    return found


def _state(value: str) -> ReportState | None:
    return _required_state(value) if value else None


def _required_state(value: str) -> ReportState:
    try:
        return ReportState(value)
    except ValueError:
        raise InvalidRecord(f"unknown state {value!r}", Location(field="state")) from None


@router.get("/inbox")
def inbox(
    request: Request,
    current: CurrentViewer,
    q: Annotated[str, Query(max_length=200)] = "",
    state: Annotated[str, Query(max_length=20)] = "",
    ssvc: Annotated[str, Query(max_length=10)] = "",
    origin: Annotated[str, Query(max_length=10)] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """The queue the viewer may see (staff: every organisation's, by priority; others: their organisation's)."""
    narrowing = QueueFilter(
        search=q,
        ssvc=ssvc if ssvc in {o.value for o in SsvcOutcome} else None,
        origin=origin if origin in ORIGINS else None,
    )
    page = _service(request).list_for(current.actor, PAGE_SIZE, _state(state), cursor, narrowing)
    context = {
        "page": page,
        "filters": {"q": q, "state": state, "ssvc": narrowing.ssvc or "", "origin": narrowing.origin or ""},
        "states": list(ReportState),
        "outcomes": list(SsvcOutcome),
        "origins": ORIGINS,
        "staff": rules.is_staff(current.actor),
    }
    # htmx asks for the rows alone as the filters change; a plain request (no JavaScript) gets the whole page.
    template = "_inbox_rows.html" if request.headers.get("hx-request") == "true" else "inbox.html"
    return render(request, current, template, context)


@router.get("/reports/{report_id}")
def report_page(request: Request, current: CurrentViewer, report_id: str) -> Response:
    report = _service(request).get(report_id, current.actor)
    may_triage = pages.may_triage(current.actor)
    context = {
        "report": report,
        "moves": sorted(REPORT_TRANSITIONS[report.state]) if may_triage else [],
        "may_triage": may_triage,
        "may_open_case": pages.may_coordinate_cases(current.actor),
    }
    return render(request, current, "report.html", context)


@router.post("/reports/{report_id}/state")
async def change_state(request: Request, current: CurrentViewer, form: CheckedForm, report_id: str) -> Response:
    target = _required_state(form.required("target", "the new state"))
    reason = form.required("reason", "a reason")
    await run_in_threadpool(_service(request).change_state, current.actor, report_id, target, reason)
    return redirect(f"/reports/{report_id}")


@router.get("/clusters/{cluster_id}")
def cluster_page(request: Request, current: CurrentViewer, cluster_id: str) -> Response:
    """A duplicate cluster side by side: its first report against each of the others."""
    cluster = _service(request).cluster(current.actor, cluster_id, limit=20)
    first, others = cluster.reports[0], cluster.reports[1:]
    context = {
        "cluster": cluster,
        "first": first,
        "pairs": [(other, compare(first, other)) for other in others],
    }
    return render(request, current, "cluster.html", context)


@router.post("/clusters/{cluster_id}/decide")
async def decide_cluster(request: Request, current: CurrentViewer, form: CheckedForm, cluster_id: str) -> Response:
    """Confirm that a report belongs to the cluster, split it out, or merge its cluster into another."""
    service = _service(request)
    report_id = form.required("report_id", "the report")
    reason = form.required("reason", "a reason")
    action = form.required("action", "the decision")
    if action == "confirm":
        await run_in_threadpool(service.confirm_cluster, current.actor, report_id, reason)
        return redirect(f"/clusters/{cluster_id}")
    if action == "split":
        await run_in_threadpool(service.split_cluster, current.actor, report_id, reason)
        return redirect(f"/clusters/{cluster_id}")
    if action == "merge":
        into = form.required("into", "the cluster to merge into")
        moved_to = await run_in_threadpool(service.merge_clusters, current.actor, report_id, into, reason)
        return redirect(f"/clusters/{moved_to}")
    raise InvalidRecord(f"unknown decision {action!r} (confirm, split or merge)", Location(field="action"))
