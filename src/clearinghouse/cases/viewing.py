"""One case as one viewer may see it: the policy decides each part (participants, statuses, threads, timeline),
the queries fetch only those parts (a vendor's view never loads another vendor's thread)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from clearinghouse.cases import repository as repo
from clearinghouse.cases.rules import CASE_LIFECYCLE, CaseState, PublicDate
from clearinghouse.cases.views import (
    AttachmentView,
    CaseView,
    EmbargoView,
    EventView,
    GateView,
    MessageView,
    ParticipantView,
    PatchFlagView,
    VendorStatusView,
)
from clearinghouse.policy import Actor
from clearinghouse.policy import cases as policy
from clearinghouse.policy.cases import CaseRole, Participation
from clearinghouse.policy.rules import is_staff


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _embargo(row: Any, zone: str) -> EmbargoView | None:
    at = _utc(row.public_at)
    if at is None:
        return None
    date = PublicDate(at, row.public_tz or "UTC")
    return EmbargoView(
        public_at_utc=at,
        set_in_zone=date.zone,
        in_set_zone=date.shown_in(date.zone),
        viewer_zone=zone,
        in_viewer_zone=date.shown_in(zone),
    )


def _statuses(
    conn: sa.Connection, actor: Actor, case_id: str, participation: Participation, vendors: list[Any]
) -> list[VendorStatusView]:
    current = repo.current_statuses(conn, case_id)
    views = []
    for vendor in vendors:
        if not policy.sees_vendor_status(actor, participation, vendor.organisation_id):
            continue
        row = current.get(vendor.organisation_id)
        if row is None:
            views.append(
                VendorStatusView(
                    organisation_id=vendor.organisation_id, organisation=vendor.organisation, status="unknown"
                )
            )
            continue
        views.append(
            VendorStatusView(
                organisation_id=vendor.organisation_id,
                organisation=vendor.organisation,
                status=row.status,
                justification=row.justification,
                fixed_versions=list(row.fixed_versions),
                fix_commits=list(row.fix_commits),
                advisory_url=row.advisory_url,
                note=row.note,
                packages=list(row.packages),
                flags=[PatchFlagView.model_validate(f) for f in row.flags],
                author=row.author,
                at=_utc(row.at),
            )
        )
    return views


def _threads(actor: Actor, participation: Participation) -> set[str] | None:
    """The vendor threads the viewer reads besides messages to everyone (None: every thread)."""
    if is_staff(actor):
        return None
    own = policy.organisation_of(actor)
    return {own} if own is not None and policy.sees_thread(actor, participation, own) else set()


def _messages(
    conn: sa.Connection, actor: Actor, case_id: str, participation: Participation, limit: int
) -> tuple[list[MessageView], int]:
    if not is_staff(actor) and not policy.sees_thread(actor, participation, None):
        return [], 0
    rows, total = repo.messages(conn, case_id, _threads(actor, participation), limit)
    views = [
        MessageView(
            id=r.id,
            to="all" if r.thread is None else r.thread,
            author=r.author,
            body=r.body,
            attachments=[AttachmentView.model_validate(a) for a in r.attachments],
            at=_utc(r.at) or r.at,
        )
        for r in rows
    ]
    return views, total


def _timeline(conn: sa.Connection, actor: Actor, case_id: str, limit: int) -> list[EventView]:
    own = policy.organisation_of(actor)
    audiences = None if is_staff(actor) else {"all", *((own,) if own else ())}
    return [
        EventView(at=_utc(e.at) or e.at, actor=e.actor, kind=e.kind, details=policy.event_details_for(actor, e.details))
        for e in repo.events(conn, case_id, audiences, limit)
    ]


def build_case_view(
    conn: sa.Connection,
    actor: Actor,
    row: Any,
    participation: Participation,
    zone: str,
    message_limit: int,
    gate: GateView | None,
    now: datetime,
) -> CaseView:
    members = repo.participants(conn, row.id)
    vendors = [p for p in members if p.role == CaseRole.VENDOR]
    messages, total = _messages(conn, actor, row.id, participation, message_limit)
    staff = is_staff(actor)
    sees_reports = staff or CaseRole.REPORTER in participation.roles
    return CaseView(
        id=row.id,
        title=row.title,
        state=row.state,
        tlp=row.tlp,
        advisory_id=row.advisory_id,
        opened_by=row.opened_by,
        created_at=_utc(row.created_at) or now,
        updated_at=_utc(row.updated_at) or now,
        first_notified_at=_utc(row.first_notified_at),
        published_at=_utc(row.published_at),
        embargo=_embargo(row, zone),
        reports=repo.linked_reports(conn, row.id) if sees_reports else [],
        records=repo.linked_records(conn, row.id),
        participants=[
            ParticipantView(
                organisation_id=p.organisation_id,
                organisation=p.organisation,
                role=p.role,
                rule=p.rule if staff else None,
                added_at=_utc(p.added_at) or now,
            )
            for p in members
            if policy.sees_participant(actor, participation, p.organisation_id, CaseRole(p.role))
        ],
        vendor_statuses=_statuses(conn, actor, row.id, participation, vendors),
        messages=messages,
        messages_total=total,
        timeline=_timeline(conn, actor, row.id, 200),
        gate=gate,
        allowed_transitions=sorted(s.value for s in CASE_LIFECYCLE.allowed(CaseState(row.state))) if staff else [],
    )
