"""Who may see and do what on a coordination case (pure decisions, no I/O).

A case is seen by clearinghouse staff and by the organisations taking part in it (`CaseRole`): the reporter's
organisation, each confirmed vendor, and critical-infrastructure partners named for early warning. Anyone else is
told the case does not exist (404, also when posting to it). Inside a case:

- a vendor reads messages to everyone and its own private thread, and its own status; never another vendor's
  thread or status details;
- a partner named for early warning reads the case, its advisory and its embargo terms, not the vendors' threads
  or statuses;
- the reporter's organisation reads messages to everyone and every vendor's status (not their private threads).

The advisory record of an unpublished case is `embargoed`: besides staff, only the case's participants read it
(`record_visible`), on every read path.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from clearinghouse.errors import Forbidden
from clearinghouse.identity.model import OrgKind, Principal, Scope
from clearinghouse.policy.principals import Actor, Operator
from clearinghouse.policy.rules import holds, is_staff, record_visibility, require_scope
from clearinghouse.records.model import RecordStatus, Tlp


class CaseRole(StrEnum):
    REPORTER = "reporter"
    VENDOR = "vendor"
    COORDINATOR = "coordinator"
    EARLY_WARNING = "early_warning"


@dataclass(frozen=True)
class Participation:
    """The roles the actor's organisation holds in one case (empty: not a participant)."""

    roles: frozenset[CaseRole] = frozenset()

    @property
    def vendor(self) -> bool:
        return CaseRole.VENDOR in self.roles


NOT_PARTICIPATING = Participation()


# Timeline details only staff read: who agreed to an embargo extension names organisations, possibly vendors that
# other vendors must not learn are on the case.
STAFF_ONLY_DETAILS = frozenset({"agreed_by"})


def event_details_for(actor: Actor, details: dict[str, object]) -> dict[str, object]:
    """A timeline event's details as this actor may read them."""
    if is_staff(actor):
        return details
    return {k: v for k, v in details.items() if k not in STAFF_ONLY_DETAILS}


def organisation_of(actor: Actor) -> str | None:
    return actor.organisation.id if isinstance(actor, Principal) else None


def require_case_reader(actor: Actor) -> Principal | Operator:
    return require_scope(actor, Scope.CASES_READ)


def require_case_writer(actor: Actor) -> Principal | Operator:
    """Vendor statements, messages and declarations."""
    return require_scope(actor, Scope.CASES_WRITE)


def require_coordinator(actor: Actor) -> Principal | Operator:
    """Opening, routing, moving, embargo and publication: clearinghouse staff with `cases:coordinate`."""
    coordinator = require_scope(actor, Scope.CASES_COORDINATE)
    if not is_staff(coordinator):
        raise Forbidden("only clearinghouse staff coordinate cases")
    return coordinator


# Organisations that can be a case's vendor (an AI developer is the vendor of its models).
VENDOR_KINDS = frozenset({OrgKind.VENDOR, OrgKind.AI_DEVELOPER})


def require_vendor_or_staff(actor: Actor) -> Principal | Operator:
    """Vendor declarations and statements: a vendor organisation's user for its organisation; staff for any."""
    writer = require_case_writer(actor)
    if isinstance(writer, Principal) and not is_staff(writer) and writer.organisation.kind not in VENDOR_KINDS:
        raise Forbidden("only vendor organisations (or clearinghouse staff for them) do this")
    return writer


def case_visible(actor: Actor, participation: Participation) -> bool:
    """Staff see every case; a participant's token with `cases:read` its own cases; nobody else any."""
    if not holds(actor, Scope.CASES_READ):
        return False
    return is_staff(actor) or bool(participation.roles)


def may_post(actor: Actor, participation: Participation) -> bool:
    """Messages come from staff, the reporter's organisation and vendors (early-warning partners only read)."""
    if not holds(actor, Scope.CASES_WRITE):
        return False
    return is_staff(actor) or bool(participation.roles - {CaseRole.EARLY_WARNING})


def sees_thread(actor: Actor, participation: Participation, thread: str | None) -> bool:
    """`thread` None: the message is to everyone in the case; otherwise it is one vendor's private thread."""
    if is_staff(actor):
        return True
    if not participation.roles - {CaseRole.EARLY_WARNING}:
        return False
    return thread is None or thread == organisation_of(actor)


def sees_vendor_status(actor: Actor, participation: Participation, vendor_id: str) -> bool:
    if is_staff(actor) or CaseRole.REPORTER in participation.roles:
        return True
    return participation.vendor and vendor_id == organisation_of(actor)


def sees_participant(actor: Actor, participation: Participation, organisation_id: str, role: CaseRole) -> bool:
    """Vendors and partners do not learn which other vendors are on the case (only staff and the reporter do)."""
    if is_staff(actor) or CaseRole.REPORTER in participation.roles:
        return True
    return role in (CaseRole.COORDINATOR, CaseRole.REPORTER) or organisation_id == organisation_of(actor)


def may_speak_for(actor: Actor, participation: Participation, vendor_id: str) -> bool:
    """A vendor statement: the vendor itself, or staff recording it on the vendor's behalf."""
    if is_staff(actor):
        return True
    return participation.vendor and vendor_id == organisation_of(actor)


def record_visible(actor: Actor, tlp: Tlp, status: RecordStatus, participation: Participation) -> bool:
    """A record is readable when the record policy admits it, or when it is the advisory of a case the actor
    takes part in (embargoed, at the case's TLP) and the actor holds `records:read`."""
    visibility = record_visibility(actor)  # raises for a token without records:read
    if visibility.admits(tlp, status):
        return True
    return bool(participation.roles) and holds(actor, Scope.RECORDS_READ) and holds(actor, Scope.CASES_READ)
