"""Typed read models of coordination cases, as one viewer may see them (the service filters before building them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class ParticipantView(BaseModel):
    organisation_id: str
    organisation: str
    role: str
    rule: str | None
    added_at: datetime


class PatchFlagView(BaseModel):
    package: str
    version: str
    reason: str


class VendorStatusView(BaseModel):
    organisation_id: str
    organisation: str
    status: str
    justification: str | None = None
    fixed_versions: list[str] = []
    fix_commits: list[str] = []
    advisory_url: str | None = None
    note: str = ""
    packages: list[str] = []
    flags: list[PatchFlagView] = []
    author: str | None = None
    at: datetime | None = None


class AttachmentView(BaseModel):
    name: str
    media_type: str
    size: int
    sha256: str


class MessageView(BaseModel):
    id: int
    to: str  # "all", or the vendor organisation whose private thread it is
    author: str
    body: str
    attachments: list[AttachmentView]
    at: datetime


class EventView(BaseModel):
    at: datetime
    actor: str
    kind: str
    details: dict[str, Any]


class EmbargoView(BaseModel):
    """The public date in UTC, in the zone it was set in, and in the viewer's zone."""

    public_at_utc: datetime
    set_in_zone: str
    in_set_zone: str
    viewer_zone: str
    in_viewer_zone: str


class GateView(BaseModel):
    open: bool
    reason: str
    opens_at: datetime | None


class CaseView(BaseModel):
    id: str
    title: str
    state: str
    tlp: str
    advisory_id: str
    opened_by: str
    created_at: datetime
    updated_at: datetime
    first_notified_at: datetime | None
    published_at: datetime | None
    embargo: EmbargoView | None
    reports: list[str]
    records: list[str]
    participants: list[ParticipantView]
    vendor_statuses: list[VendorStatusView]
    messages: list[MessageView]
    messages_total: int
    timeline: list[EventView]
    gate: GateView | None  # staff only
    allowed_transitions: list[str]


class CaseSummary(BaseModel):
    id: str
    title: str
    state: str
    tlp: str
    public_at_utc: datetime | None


class CaseList(BaseModel):
    cases: list[CaseSummary]


class MatchView(BaseModel):
    organisation_id: str
    organisation: str
    subject: str
    rule: str
    on_case: bool


class ProposalView(BaseModel):
    case_id: str
    matches: list[MatchView]
    no_vendor_on_file: list[str]


class DeclarationView(BaseModel):
    id: int
    organisation_id: str
    organisation: str
    kind: str
    pattern: str
    declared_at: datetime


class DeclarationList(BaseModel):
    declarations: list[DeclarationView]


class MessagePosted(BaseModel):
    id: int
    case_id: str
    to: str


class PublicationView(BaseModel):
    case_id: str
    record_id: str
    reason: str
    tlp: str
    documents: dict[str, dict[str, Any]]  # osv, csaf, cve5 as the exporters write them
    not_exported: dict[str, str]  # format -> why it could not be produced (e.g. CVE 5 without a CVE id)


class AttachmentContent(BaseModel):
    name: str
    media_type: str
    sha256: str
    content_base64: str


class AttachmentList(BaseModel):
    message_id: int
    case_id: str
    attachments: list[AttachmentContent]
