"""Report intake: submit (202 + status URL), read, the analyst queue, lifecycle changes and reprocessing."""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import BaseModel, Field, TypeAdapter

from clearinghouse.api.auth import access_note, authorised
from clearinghouse.api.paging import DEFAULT_LIMIT, Cursor, Limit
from clearinghouse.errors import Location, MissingMergeTarget, UnsupportedMediaType
from clearinghouse.identity.model import Principal
from clearinghouse.intake.backpressure import IntakeGate
from clearinghouse.intake.findings import normalise
from clearinghouse.intake.group_commit import AcceptanceWriter
from clearinghouse.intake.lifecycle import ReportState
from clearinghouse.intake.service import ReportService, Submitted
from clearinghouse.intake.submission import Submission, validate_submission
from clearinghouse.intake.views import ClusterPage, ReportPage, ReportView, ReprocessQueued, SubmissionAccepted
from clearinghouse.policy import rules
from clearinghouse.safeparse import json_loads

router = APIRouter(prefix="/api/v1", tags=["reports"])
_submission = TypeAdapter(Submission)


class StateChange(BaseModel):
    target: ReportState
    reason: Annotated[str, Field(min_length=3, max_length=2000)]


class ClusterAction(StrEnum):
    CONFIRM = "confirm"
    SPLIT = "split"
    MERGE = "merge"


class ClusterChange(BaseModel):
    action: ClusterAction
    into: Annotated[str | None, Field(description="The cluster to merge into (merge only)", max_length=64)] = None
    reason: Annotated[str, Field(min_length=3, max_length=2000)]


async def report_store(request: Request) -> ReportService:  # async: no thread hop for an attribute read
    store: ReportService = request.app.state.reports
    return store


Reports = Annotated[ReportService, Depends(report_store)]
Submitter = Annotated[Principal, Depends(authorised(rules.require_report_submitter))]
Reader = Annotated[Principal, Depends(authorised(rules.report_scope))]
Analyst = Annotated[Principal, Depends(authorised(rules.require_triage))]

_SUBMIT = access_note("a token with scope `reports:submit`")
_READ = access_note("a token with scope `reports:read`: the submitting organisation and clearinghouse staff")
_TRIAGE = access_note("clearinghouse staff (an organisation of kind clearinghouse) with scope `reports:triage`")


@router.post(
    "/reports",
    status_code=202,
    description="Submit a structured report, an OSV record or a SARIF 2.1 log (one report per result), with "
    "provenance. Answers 202 with the report ids and where to follow them. Send `Idempotency-Key` to make "
    "retries safe. While the processing backlog is past its bound, new and low-credibility sources get 503 with "
    "`Retry-After` (nothing accepted; send again then). " + _SUBMIT,
    response_model=SubmissionAccepted,
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _submission.json_schema()}}}
    },
)
async def submit(
    request: Request,
    response: Response,
    principal: Submitter,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> SubmissionAccepted:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType(f"send application/json, not {content_type or 'no content type'}")
    gate: IntakeGate = request.app.state.intake_gate
    gate.check(principal)  # past the backlog bound: 503 + Retry-After before anything is read or accepted
    body = await request.body()
    document = json_loads(body, Location(field="$"))
    submission = validate_submission(document)
    findings = normalise(submission)
    request_hash = hashlib.sha256(body).hexdigest()
    acceptance: AcceptanceWriter = request.app.state.acceptance
    accepted = await acceptance.accept(
        Submitted(principal, findings, submission.provenance.model_dump(mode="json"), idempotency_key, request_hash)
    )
    if accepted.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    status_urls = [f"/api/v1/reports/{report_id}" for report_id in accepted.report_ids]
    response.headers["Location"] = status_urls[0]
    return SubmissionAccepted(report_ids=accepted.report_ids, status_urls=status_urls, state=ReportState.RECEIVED)


@router.get(
    "/reports/{report_id}",
    description="A report with its checks, duplicates and triage explained. The submitting organisation and "
    "clearinghouse staff see it; anyone else gets 404. Duplicate evidence naming another organisation's report is "
    "shown to staff only. " + _READ,
)
def get_report(report_id: str, reports: Reports, principal: Reader) -> ReportView:
    return reports.get(report_id, principal)


@router.get(
    "/reports",
    description="Analysts: the priority queue (SSVC decision, then CVSS, then credibility). Others: their "
    "organisation's reports. A page at a time: `limit` (1-500) and the previous page's `next_cursor`; `total` "
    "counts every match. " + _READ,
)
def list_reports(
    reports: Reports,
    principal: Reader,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    state: ReportState | None = None,
) -> ReportPage:
    return reports.list_for(principal, limit, state, cursor)


@router.post(
    "/reports/{report_id}/state",
    description="Move a report through its lifecycle; the reason is kept in the audit log. " + _TRIAGE,
)
def change_state(report_id: str, change: StateChange, reports: Reports, principal: Analyst) -> ReportView:
    reports.change_state(principal, report_id, change.target, change.reason)
    return reports.get(report_id, principal)


@router.post(
    "/reports/{report_id}/reprocess",
    status_code=202,
    description="Run the intake pipeline again (after new data or a fix). " + _TRIAGE,
)
def reprocess(report_id: str, reports: Reports, principal: Analyst) -> ReprocessQueued:
    reports.reprocess(principal, report_id)
    return ReprocessQueued(report_id=report_id, status_url=f"/api/v1/reports/{report_id}")


@router.get(
    "/clusters/{cluster_id}",
    description="The reports of one duplicate cluster, oldest first. " + _TRIAGE,
)
def get_cluster(
    cluster_id: str, reports: Reports, principal: Analyst, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> ClusterPage:
    return reports.cluster(principal, cluster_id, limit, cursor)


@router.post(
    "/reports/{report_id}/cluster",
    description="Confirm a report's duplicate cluster, split it out into a cluster of its own, or merge its "
    "cluster into another (`into`). Every decision is kept in the audit log. " + _TRIAGE,
)
def change_cluster(report_id: str, change: ClusterChange, reports: Reports, principal: Analyst) -> ClusterPage:
    if change.action is ClusterAction.CONFIRM:
        cluster_id = reports.confirm_cluster(principal, report_id, change.reason)
    elif change.action is ClusterAction.SPLIT:
        cluster_id = reports.split_cluster(principal, report_id, change.reason)
    else:
        if not change.into:
            raise MissingMergeTarget("a merge needs `into`: the id of the cluster to merge into")
        cluster_id = reports.merge_clusters(principal, report_id, change.into, change.reason)
    return reports.cluster(principal, cluster_id)
