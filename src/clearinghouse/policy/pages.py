"""What the web interface shows each viewer: which controls a page offers. Pure; the services still decide every
action (a control shown by mistake would still be refused), these only keep pages from offering what would be."""

from __future__ import annotations

from collections.abc import Collection

from clearinghouse.identity.model import Principal, Scope
from clearinghouse.policy.principals import Actor
from clearinghouse.policy.rules import GOVERNMENT_KINDS, holds, is_staff


def may_triage(actor: Actor) -> bool:
    """Whether report pages offer state changes and cluster decisions (`rules.require_triage` decides them)."""
    return is_staff(actor) and holds(actor, Scope.REPORTS_TRIAGE)


def may_administer(actor: Actor) -> bool:
    """The administration pages (organisations, users, tokens, the audit log): staff holding the `admin` scope."""
    return is_staff(actor) and holds(actor, Scope.ADMIN)


def may_read_reports(actor: Actor) -> bool:
    return holds(actor, Scope.REPORTS_READ)


def may_read_frontier(actor: Actor) -> bool:
    return holds(actor, Scope.FRONTIER_READ)


def may_evaluate_models(actor: Actor) -> bool:
    """Whether a model's page offers milestone completion (`rules.require_evaluator` decides it)."""
    return holds(actor, Scope.FRONTIER_EVALUATE) and (is_staff(actor) or _government(actor))


def _government(actor: Actor) -> bool:
    return isinstance(actor, Principal) and actor.organisation.kind in GOVERNMENT_KINDS


def may_coordinate_cases(actor: Actor) -> bool:
    """Whether a case page offers routing, moves, the embargo and publication (`cases.require_coordinator`)."""
    return is_staff(actor) and holds(actor, Scope.CASES_COORDINATE)


def states_vendor_status(actor: Actor, vendor_ids: Collection[str]) -> bool:
    """Whether a case page offers the viewer's organisation its own status form: it is one of the case's vendors
    (`cases.may_speak_for` decides the statement itself)."""
    return (
        isinstance(actor, Principal)
        and not is_staff(actor)
        and holds(actor, Scope.CASES_WRITE)
        and actor.organisation.id in vendor_ids
    )


def may_read_assets(actor: Actor) -> bool:
    """Whether the partner portal is the viewer's start page (`partners.require_asset_reader` decides its reads)."""
    return holds(actor, Scope.ASSETS_READ)
