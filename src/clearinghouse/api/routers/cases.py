"""Coordination cases over HTTP: open, route to vendors, statuses, messages, embargo, publication; and vendor
declarations. Every rule is the service's and the policy's (`clearinghouse.policy.cases`): a case the caller does
not take part in is 404, also when posting to it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import Field, field_validator

from clearinghouse.api.auth import access_note, authorised
from clearinghouse.api.routers.frontier import _Body
from clearinghouse.cases.routing import DeclarationKind
from clearinghouse.cases.rules import CaseState, VendorStatement, VendorStatus, VexJustification
from clearinghouse.cases.service import CaseService, NewAttachment
from clearinghouse.cases.views import (
    AttachmentList,
    CaseList,
    CaseView,
    DeclarationList,
    DeclarationView,
    MessagePosted,
    ProposalView,
    PublicationView,
    VendorStatusView,
)
from clearinghouse.identity.model import Principal
from clearinghouse.policy.cases import (
    CaseRole,
    require_case_reader,
    require_case_writer,
    require_coordinator,
    require_vendor_or_staff,
)
from clearinghouse.records.model import Tlp

router = APIRouter(prefix="/api/v1", tags=["cases"])


class _CaseBody(_Body):
    @field_validator("*", mode="after")
    @classmethod
    def _no_nul_in_lists(cls, value: object) -> object:
        # As `_Body` for strings: PostgreSQL text cannot hold NUL, so a list item with one is a 422, not a 500.
        if isinstance(value, list) and any(isinstance(item, str) and "\x00" in item for item in value):
            raise ValueError("NUL characters are not accepted")
        return value


_Text = Annotated[str, Field(min_length=1, max_length=2000)]
_Short = Annotated[str, Field(min_length=1, max_length=200)]
_Zone = Annotated[str, Query(min_length=1, max_length=64, examples=["Europe/Berlin"])]


class CaseOpen(_CaseBody):
    report_ids: Annotated[list[Annotated[str, Field(max_length=36)]], Field(max_length=100)] = []
    cluster_id: Annotated[str, Field(max_length=36)] | None = None
    title: Annotated[str, Field(min_length=5, max_length=300)] | None = None
    tlp: Literal["GREEN", "AMBER", "AMBER+STRICT", "RED"] = "AMBER"
    cve_id: Annotated[str, Field(max_length=32)] | None = None


class ReportsIn(_CaseBody):
    report_ids: Annotated[list[Annotated[str, Field(max_length=36)]], Field(min_length=1, max_length=100)]


class ParticipantChange(_CaseBody):
    organisation: _Short
    role: CaseRole = CaseRole.VENDOR
    action: Literal["add", "remove"] = "add"
    reason: _Text


class StateChange(_CaseBody):
    target: CaseState
    reason: _Text


class EmbargoChange(_CaseBody):
    public_at: datetime  # a wall-clock time in `zone` (or with an offset)
    zone: Annotated[str, Field(min_length=1, max_length=64)]
    reason: Annotated[str, Field(max_length=2000)] = ""
    agreed_by: Annotated[list[_Short], Field(max_length=50)] = []


class StatusIn(_CaseBody):
    vendor: _Short | None = None  # staff stating it for a vendor
    status: VendorStatus
    justification: VexJustification | None = None
    fixed_versions: Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]], Field(max_length=50)] = []
    fix_commits: Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=50)] = []
    advisory_url: Annotated[str, Field(max_length=2000)] | None = None
    note: Annotated[str, Field(max_length=5000)] = ""
    packages: Annotated[list[Annotated[str, Field(min_length=5, max_length=500)]], Field(max_length=50)] = []


class AttachmentIn(_CaseBody):
    name: _Short
    media_type: Annotated[str, Field(max_length=100)] = "application/octet-stream"
    content_base64: Annotated[str, Field(max_length=1_400_000)]


class MessageIn(_CaseBody):
    body: Annotated[str, Field(min_length=1, max_length=20_000)]
    to_vendor: _Short | None = None
    attachments: Annotated[list[AttachmentIn], Field(max_length=5)] = []


class PublishIn(_CaseBody):
    override_reason: Annotated[str, Field(max_length=2000)] | None = None
    cve_id: Annotated[str, Field(max_length=32)] | None = None


class DeclarationIn(_CaseBody):
    kind: DeclarationKind
    pattern: Annotated[str, Field(min_length=1, max_length=500)]
    organisation: _Short | None = None  # staff declaring for a vendor


def case_service(request: Request) -> CaseService:
    service: CaseService = request.app.state.cases
    return service


Service = Annotated[CaseService, Depends(case_service)]
Reader = Annotated[Principal, Depends(authorised(require_case_reader))]
Writer = Annotated[Principal, Depends(authorised(require_case_writer))]
Coordinator = Annotated[Principal, Depends(authorised(require_coordinator))]
VendorOrStaff = Annotated[Principal, Depends(authorised(require_vendor_or_staff))]
_READ = access_note("scope `cases:read`; staff see every case, other organisations the cases they take part in")
_WRITE = access_note("scope `cases:write`, on a case the caller takes part in")
_VENDOR = access_note("scope `cases:write`: a vendor on the case for itself, or staff for a vendor")
_COORDINATE = access_note("clearinghouse staff with scope `cases:coordinate`")


@router.get("/cases", description="The cases the caller may see. " + _READ)
def list_cases(service: Service, principal: Reader) -> CaseList:
    return service.list_cases(principal)


@router.post("/cases", status_code=201, description="Open a case from validated reports or a cluster. " + _COORDINATE)
def open_case(body: CaseOpen, service: Service, principal: Coordinator) -> CaseView:
    return service.open_case(principal, body.report_ids, body.cluster_id, body.title, Tlp(body.tlp), body.cve_id)


@router.get("/cases/{case_id}", description="A case as the caller may see it, times in UTC and `zone`. " + _READ)
def get_case(case_id: str, service: Service, principal: Reader, zone: _Zone = "UTC") -> CaseView:
    return service.view(principal, case_id, zone)


@router.get("/cases/{case_id}/proposals", description="Vendors proposed from the case's packages. " + _COORDINATE)
def proposals(case_id: str, service: Service, principal: Coordinator) -> ProposalView:
    return service.propose(principal, case_id)


@router.post("/cases/{case_id}/reports", description="Link more validated reports to the case. " + _COORDINATE)
def add_reports(case_id: str, body: ReportsIn, service: Service, principal: Coordinator) -> CaseView:
    return service.add_reports(principal, case_id, body.report_ids)


@router.post("/cases/{case_id}/participants", description="Confirm, add or remove a participant. " + _COORDINATE)
def change_participant(case_id: str, body: ParticipantChange, service: Service, principal: Coordinator) -> CaseView:
    if body.action == "remove":
        return service.remove_participant(principal, case_id, body.organisation, body.role, body.reason)
    return service.add_participant(principal, case_id, body.organisation, body.role, body.reason)


@router.post("/cases/{case_id}/state", description="Move the case along its lifecycle. " + _COORDINATE)
def change_state(case_id: str, body: StateChange, service: Service, principal: Coordinator) -> CaseView:
    return service.move(principal, case_id, body.target, body.reason)


@router.post("/cases/{case_id}/embargo", description="Set or extend the public date. " + _COORDINATE)
def change_embargo(case_id: str, body: EmbargoChange, service: Service, principal: Coordinator) -> CaseView:
    return service.set_embargo(principal, case_id, body.public_at, body.zone, body.reason, body.agreed_by)


@router.post("/cases/{case_id}/vendor-status", description="A vendor's status and evidence. " + _VENDOR)
def state_status(case_id: str, body: StatusIn, service: Service, principal: VendorOrStaff) -> VendorStatusView:
    statement = VendorStatement(
        status=body.status,
        justification=body.justification,
        fixed_versions=tuple(body.fixed_versions),
        fix_commits=tuple(body.fix_commits),
        advisory_url=body.advisory_url,
        note=body.note,
        packages=tuple(body.packages),
    )
    return service.state_status(principal, case_id, statement, body.vendor)


@router.post("/cases/{case_id}/messages", status_code=201, description="Post to everyone or one vendor. " + _WRITE)
def post_message(case_id: str, body: MessageIn, service: Service, principal: Writer) -> MessagePosted:
    files = [NewAttachment(a.name, a.media_type, a.content_base64) for a in body.attachments]
    return service.post_message(principal, case_id, body.body, body.to_vendor, files)


@router.get(
    "/case-messages/{message_id}/attachments",
    description="A message's attachments (base64), for whoever reads the message. " + _READ,
)
def attachments(
    message_id: Annotated[int, Path(ge=1, le=2**31 - 1)], service: Service, principal: Reader
) -> AttachmentList:
    return service.attachments(principal, message_id)


@router.post("/cases/{case_id}/publish", description="Publish through the publication gate. " + _COORDINATE)
def publish(case_id: str, body: PublishIn, service: Service, principal: Coordinator) -> PublicationView:
    return service.publish(principal, case_id, body.override_reason, body.cve_id)


@router.post(
    "/vendors/declarations",
    status_code=201,
    description="Declare a purl pattern, CPE or repository a vendor owns. "
    + access_note("scope `cases:write`: a vendor organisation for itself, staff for any vendor"),
)
def declare(body: DeclarationIn, service: Service, principal: VendorOrStaff) -> DeclarationView:
    return service.declare(principal, body.kind, body.pattern, body.organisation)


@router.get(
    "/vendors/declarations",
    description="Vendor declarations. " + access_note("scope `cases:read`: an organisation its own, staff any"),
)
def declarations(
    service: Service,
    principal: Reader,
    organisation: Annotated[str | None, Query(max_length=200)] = None,
) -> DeclarationList:
    return service.declarations(principal, organisation)
