"""Who may run and read reproductions (issue 17).

A reproduction belongs to its report: whoever may read the report (its organisation with `reports:read`, staff
every organisation's) reads its reproductions, so a report invisible to the caller makes them 404 as well.
Running one executes a proof of concept in the sandbox: clearinghouse staff with `reports:triage` only.
"""

from __future__ import annotations

from clearinghouse.identity.model import Principal
from clearinghouse.policy import rules
from clearinghouse.policy.principals import Actor, Operator
from clearinghouse.policy.rules import OrgScope


def reproduction_scope(actor: Actor) -> OrgScope:
    """The organisations whose reports' reproductions the actor reads (the report policy's own scope)."""
    return rules.report_scope(actor)


def require_reproducer(actor: Actor) -> Principal | Operator:
    """Running or re-running a reproduction: clearinghouse staff who triage reports."""
    return rules.require_triage(actor)
