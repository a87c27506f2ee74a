"""Critical-infrastructure early access: pure rules for grants.

The order seeks early access for select critical-infrastructure operators too. Evaluators or the developer
nominate a partner organisation (with its sector and a justification); the developer approves; a grant covers
one model version for a period inside the review window and can be revoked at any time.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from clearinghouse.errors import GrantRefused
from clearinghouse.frontier.window import ReviewWindow
from clearinghouse.identity.model import OrgKind
from clearinghouse.statemachine import StateMachine, Transition


class GrantState(StrEnum):
    NOMINATED = "nominated"
    APPROVED = "approved"
    DECLINED = "declined"
    REVOKED = "revoked"


_G = GrantState
GRANT_TRANSITIONS: dict[GrantState, frozenset[GrantState]] = {
    _G.NOMINATED: frozenset({_G.APPROVED, _G.DECLINED, _G.REVOKED}),
    _G.APPROVED: frozenset({_G.REVOKED}),
    _G.DECLINED: frozenset(),
    _G.REVOKED: frozenset(),
}
GRANT_LIFECYCLE = StateMachine("early-access grant", GRANT_TRANSITIONS)


def transition(
    current: GrantState, target: GrantState, actor: str, reason: str, at: datetime
) -> Transition[GrantState]:
    return GRANT_LIFECYCLE.transition(current, target, actor, reason, at)


def check_nomination(partner_kind: OrgKind, window: ReviewWindow, starts_on: date, ends_on: date) -> None:
    """Refuse grants to organisations that are not critical-infrastructure partners, or outside the window."""
    if partner_kind is not OrgKind.CRITICAL_INFRASTRUCTURE:
        raise GrantRefused(
            f"early access goes to critical-infrastructure partners only; this organisation is a {partner_kind.value}"
        )
    if ends_on < starts_on:
        raise GrantRefused(f"the grant ends ({ends_on.isoformat()}) before it starts ({starts_on.isoformat()})")
    if not window.covers(starts_on, ends_on):
        last = window.partner_release_on.toordinal() - 1
        raise GrantRefused(
            f"a grant must lie inside the review window {window.opens_on.isoformat()} to "
            f"{date.fromordinal(last).isoformat()} (the day before the planned partner release)"
        )


def usable(state: GrantState, starts_on: date, ends_on: date, today: date) -> str | None:
    """Why a grant cannot be used today, or None if it can."""
    if state is not GrantState.APPROVED:
        return f"the grant is {state.value}"
    if today < starts_on:
        return f"the grant starts on {starts_on.isoformat()}"
    if today > ends_on:
        return f"the grant expired on {ends_on.isoformat()}"
    return None
