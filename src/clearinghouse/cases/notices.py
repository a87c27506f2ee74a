"""Telling a case's participants what changed, through `clearinghouse.notify` (in the caller's transaction).

The audience follows the timeline's: "all" is every participant organisation, "staff" only the coordinator, and an
organisation id is that organisation plus the coordinator (a vendor's private thread, its status). Partners named
for early warning hear about the case, its embargo and its publication, never its messages. The body carries
only what every member of the audience may see.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from clearinghouse.notify import Event, publish
from clearinghouse.policy.cases import STAFF_ONLY_DETAILS, CaseRole
from clearinghouse.store.tables import case_participants

# Timeline kinds to the notification kinds subscribers choose from.
NOTIFIED_AS = {
    "case.opened": "case.opened",
    "case.vendor_added": "case.vendor_added",
    "case.participant_added": "case.opened",  # a partner named for early warning learns of the case
    "case.status_changed": "case.status_changed",
    "case.vendor_status": "case.status_changed",
    "case.message": "case.message",
    "case.embargo_changed": "case.embargo_changed",
    "case.published": "case.published",
}
_NOT_FOR_EARLY_WARNING = frozenset({"case.message", "case.vendor_status"})


@dataclass(frozen=True)
class Announcement:
    kind: str  # a timeline kind (see NOTIFIED_AS)
    case_id: str
    audience: str  # "all", "staff" or one organisation id
    title: str
    details: Mapping[str, Any]
    at: datetime


def audience_of(conn: sa.Connection, announcement: Announcement) -> frozenset[str]:
    rows = conn.execute(
        sa.select(case_participants.c.organisation_id, case_participants.c.role).where(
            case_participants.c.case_id == announcement.case_id
        )
    ).all()
    coordinators = {r.organisation_id for r in rows if r.role == CaseRole.COORDINATOR}
    if announcement.audience == "staff":
        return frozenset(coordinators)
    if announcement.audience != "all":
        return frozenset(coordinators | {announcement.audience})
    early_warning_only = {r.organisation_id for r in rows} - {
        r.organisation_id for r in rows if r.role != CaseRole.EARLY_WARNING
    }
    everyone = {r.organisation_id for r in rows}
    if announcement.kind in _NOT_FOR_EARLY_WARNING:
        everyone -= early_warning_only
    return frozenset(everyone)


def announce(conn: sa.Connection, announcement: Announcement) -> int:
    """Queue the notifications of one change; how many deliveries were queued."""
    kind = NOTIFIED_AS.get(announcement.kind)
    audience = audience_of(conn, announcement)
    if kind is None or not audience:
        return 0
    # Every organisation of the audience gets the same body: details only staff may read stay out of it.
    shown = {k: v for k, v in announcement.details.items() if k not in STAFF_ONLY_DETAILS}
    body = {"case": announcement.case_id, "change": announcement.kind, **shown}
    return publish(conn, Event(kind, announcement.case_id, audience, announcement.title, body, announcement.at))
