"""The access policy: pure decisions (no I/O) about what an actor may see or do.

Two kinds of answer, and callers keep them apart:
- an *operation* the actor may not perform at all (wrong scope, wrong organisation kind) raises `Forbidden`
  (403) or, without a token where one is needed, `Unauthenticated` (401);
- an *object* the actor may not see is reported as missing: services turn a refused `admits(...)` into
  `NotFound` (404) with the same message as a missing id, so ids are no existence oracle.

Visibility is returned as a small value (`OrgScope`, `RecordVisibility`) that answers for one object
(`admits`) and is turned into a SQL filter by `clearinghouse.policy.filters`; a list and a single read are
therefore decided by the same value and cannot disagree.

Who is staff: principals of a clearinghouse-operator organisation (`OrgKind.CLEARINGHOUSE`), whatever their role
is called, and the `Operator`. Scopes only narrow: every decision needs both what the organisation kind and role
allow and the scope on the token.
"""

from __future__ import annotations

from dataclasses import dataclass

from clearinghouse.errors import Forbidden, Unauthenticated
from clearinghouse.identity.model import OrgKind, Principal, Scope
from clearinghouse.policy.principals import Actor, Anonymous, Operator
from clearinghouse.records.model import RecordStatus, Tlp

_TLP_ORDER = list(Tlp)
# Organisation kinds that review every frontier model (the government side of the order).
GOVERNMENT_KINDS = frozenset({OrgKind.GOVERNMENT_EVALUATOR, OrgKind.CLEARINGHOUSE})
# Records in these states are not public yet: staff only, whatever their TLP label.
UNRELEASED_STATUSES = frozenset({RecordStatus.DRAFT, RecordStatus.EMBARGOED})
RELEASED_STATUSES = frozenset(RecordStatus) - UNRELEASED_STATUSES


def labels_up_to(ceiling: Tlp) -> frozenset[Tlp]:
    return frozenset(_TLP_ORDER[: _TLP_ORDER.index(ceiling) + 1])


@dataclass(frozen=True)
class OrgScope:
    """Whose objects an actor may see: every organisation's, one organisation's, or none."""

    every_organisation: bool = False
    organisation_id: str | None = None

    def admits(self, owner_organisation_id: str) -> bool:
        return self.every_organisation or (
            self.organisation_id is not None and self.organisation_id == owner_organisation_id
        )


NOBODY = OrgScope()
EVERYONE = OrgScope(every_organisation=True)


@dataclass(frozen=True)
class RecordVisibility:
    """Which records an actor may read: TLP labels and record states."""

    labels: frozenset[Tlp]
    statuses: frozenset[RecordStatus]

    def admits(self, label: Tlp, status: RecordStatus) -> bool:
        return label in self.labels and status in self.statuses


# Who -------------------------------------------------------------------------------------------------------------


def is_staff(actor: Actor) -> bool:
    """Clearinghouse staff: the operator, or a principal of a clearinghouse-operator organisation."""
    return isinstance(actor, Operator) or (
        isinstance(actor, Principal) and actor.organisation.kind is OrgKind.CLEARINGHOUSE
    )


def holds(actor: Actor, scope: Scope) -> bool:
    """The operator holds every scope; a principal what its token carries; the anonymous caller none."""
    return isinstance(actor, Operator) or (isinstance(actor, Principal) and scope in actor.scopes)


def require_scope(actor: Actor, scope: Scope) -> Principal | Operator:
    """The operation needs a token carrying `scope`: 401 without a token, 403 without the scope."""
    if isinstance(actor, Anonymous):
        raise Unauthenticated("this operation needs a bearer token")
    if not holds(actor, scope):
        raise Forbidden(f"this token may not do this (needs scope {scope.value})")
    return actor


def _require_kind(actor: Principal | Operator, kinds: frozenset[OrgKind], what: str) -> None:
    if isinstance(actor, Principal) and actor.organisation.kind not in kinds:
        raise Forbidden(f"only {what} may do this")


# Records -----------------------------------------------------------------------------------------------------------


def record_visibility(actor: Actor) -> RecordVisibility:
    """CLEAR for everyone; GREEN (community) for any organisation's token with `records:read`; AMBER and above,
    and records not released yet (draft, embargoed), for staff only. A token without `records:read` reads none."""
    if isinstance(actor, Anonymous):
        return RecordVisibility(labels_up_to(Tlp.CLEAR), RELEASED_STATUSES)
    require_scope(actor, Scope.RECORDS_READ)
    if is_staff(actor):
        return RecordVisibility(labels_up_to(Tlp.RED), frozenset(RecordStatus))
    return RecordVisibility(labels_up_to(Tlp.GREEN), RELEASED_STATUSES)


def export_visibility(actor: Actor, max_tlp: Tlp) -> RecordVisibility:
    """What an export may publish: what the actor may read, at most `max_tlp`, and only released records."""
    readable = record_visibility(actor)
    return RecordVisibility(readable.labels & labels_up_to(max_tlp), readable.statuses & RELEASED_STATUSES)


# Reports -----------------------------------------------------------------------------------------------------------


def report_scope(actor: Actor) -> OrgScope:
    """Reports an actor reads: staff every organisation's, others their own organisation's (`reports:read`)."""
    reader = require_scope(actor, Scope.REPORTS_READ)
    if is_staff(reader):
        return EVERYONE
    if isinstance(reader, Principal):
        return OrgScope(organisation_id=reader.organisation.id)
    return NOBODY


def require_report_submitter(actor: Actor) -> Principal:
    """Reports are submitted by an organisation's user (the report belongs to that organisation)."""
    submitter = require_scope(actor, Scope.REPORTS_SUBMIT)
    if not isinstance(submitter, Principal):
        raise Forbidden("a report is submitted by an organisation's user")
    return submitter


def require_triage(actor: Actor) -> Principal | Operator:
    """Lifecycle changes, reprocessing and duplicate clusters: clearinghouse staff with `reports:triage`."""
    triager = require_scope(actor, Scope.REPORTS_TRIAGE)
    if not is_staff(triager):
        raise Forbidden("only clearinghouse staff triage reports")
    return triager


def sees_other_organisations_duplicates(actor: Actor) -> bool:
    """Duplicate evidence that names another organisation's report (its id, score, shared code locations and
    identifiers) is for staff; a reporter learns only that an earlier report may describe the same issue."""
    return is_staff(actor)


# Frontier-model review -----------------------------------------------------------------------------------------


def model_scope(actor: Actor) -> OrgScope:
    """Frontier models an actor reads: government evaluators and staff every model, a developer its own."""
    if isinstance(actor, Operator):
        return EVERYONE
    if not isinstance(actor, Principal):
        return NOBODY
    if actor.organisation.kind in GOVERNMENT_KINDS:
        return EVERYONE
    if actor.organisation.kind is OrgKind.AI_DEVELOPER:
        return OrgScope(organisation_id=actor.organisation.id)
    return NOBODY


def require_frontier_reader(actor: Actor) -> Principal | Operator:
    return require_scope(actor, Scope.FRONTIER_READ)


def require_developer(actor: Actor) -> Principal | Operator:
    """Developer actions (register, self-assess, offer, move, withdraw, approve): an AI developer's token."""
    developer = require_scope(actor, Scope.FRONTIER_SUBMIT)
    _require_kind(developer, frozenset({OrgKind.AI_DEVELOPER}), "an AI-developer organisation")
    return developer


def require_registrant(actor: Actor) -> Principal:
    """A model is registered by its developer's user: the model belongs to that organisation."""
    developer = require_developer(actor)
    if not isinstance(developer, Principal):
        raise Forbidden("a model is registered by its developer's user")
    return developer


def require_determiner(actor: Actor) -> bool:
    """Who may apply criteria to a model: government evaluators (a government determination) or an AI developer
    (a self-assessment, of its own model). True for a self-assessment."""
    if holds(actor, Scope.FRONTIER_EVALUATE) and (
        isinstance(actor, Operator) or (isinstance(actor, Principal) and actor.organisation.kind in GOVERNMENT_KINDS)
    ):
        return False
    require_developer(actor)
    return True


def is_developer_of(actor: Actor, developer_org_id: str) -> bool:
    return isinstance(actor, Operator) or (isinstance(actor, Principal) and actor.organisation.id == developer_org_id)


def require_developer_of(actor: Actor, developer_org_id: str) -> None:
    """An action on a model the actor can see but did not develop (e.g. an evaluator approving a grant)."""
    if not is_developer_of(actor, developer_org_id):
        raise Forbidden("only the model's developer may do this")


def require_evaluator(actor: Actor) -> Principal | Operator:
    """Government evaluation (criteria, determinations, milestones, runs, findings, reminders)."""
    evaluator = require_scope(actor, Scope.FRONTIER_EVALUATE)
    _require_kind(evaluator, GOVERNMENT_KINDS, "government evaluators and clearinghouse staff")
    return evaluator


def require_cleared(actor: Actor) -> Principal | Operator:
    """The NSA classified-review path and restricted determinations: cleared government evaluators."""
    cleared = require_scope(actor, Scope.FRONTIER_RESTRICTED)
    _require_kind(cleared, GOVERNMENT_KINDS, "cleared government evaluators")
    return cleared


def sees_restricted(actor: Actor) -> bool:
    """Restricted determinations and their details: cleared government evaluators and the operator."""
    if isinstance(actor, Operator):
        return True
    return (
        isinstance(actor, Principal)
        and actor.organisation.kind in GOVERNMENT_KINDS
        and Scope.FRONTIER_RESTRICTED in actor.scopes
    )


def sees_classified_reviews(actor: Actor) -> bool:
    """That a classified (NSA) review exists, who holds it and how it ended: staff and cleared evaluators only.
    A developer never sees them on its own model's timeline; a concluded designation reaches it only through
    the determinations that use it."""
    return is_staff(actor) or sees_restricted(actor)


def require_nominator(actor: Actor, developer_org_id: str) -> None:
    """Nominating (or revoking) an early-access partner: the model's developer or a government evaluator."""
    nominator = require_scope(actor, Scope.FRONTIER_NOMINATE)
    if isinstance(nominator, Principal) and nominator.organisation.kind not in GOVERNMENT_KINDS:
        require_developer_of(nominator, developer_org_id)


def may_revoke_grant(actor: Actor, developer_org_id: str) -> bool:
    return is_developer_of(actor, developer_org_id) or (
        isinstance(actor, Principal) and actor.organisation.kind in GOVERNMENT_KINDS
    )


def grant_visible(actor: Actor, partner_org_id: str, developer_org_id: str) -> bool:
    """A grant is seen by its partner and by whoever sees its model."""
    own = isinstance(actor, Principal) and actor.organisation.id == partner_org_id
    return own or model_scope(actor).admits(developer_org_id)


def require_partner(actor: Actor) -> Principal:
    """Using early access: a critical-infrastructure partner's token with `frontier:early-access`."""
    partner = require_scope(actor, Scope.FRONTIER_EARLY_ACCESS)
    if not isinstance(partner, Principal) or partner.organisation.kind is not OrgKind.CRITICAL_INFRASTRUCTURE:
        raise Forbidden("only critical-infrastructure partners use early access")
    return partner


def holds_grant(actor: Principal, partner_org_id: str) -> bool:
    """Someone else's grant is, to this caller, a grant that does not exist."""
    return actor.organisation.id == partner_org_id
