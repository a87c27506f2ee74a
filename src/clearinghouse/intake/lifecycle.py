"""The report lifecycle: one Enum of states and one transition table.

received -> triaged -> needs_info / invalid / duplicate / validated -> coordinating -> fixed -> published,
with withdrawn (the reporter or an analyst takes the report back) and disputed (a reporter or vendor contests
a decision) reachable from the states where that can happen. Nothing is deleted: "closing" a report is a move
to a state, recorded with who, when and why.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from clearinghouse.statemachine import StateMachine, Transition


class ReportState(StrEnum):
    RECEIVED = "received"
    TRIAGED = "triaged"
    NEEDS_INFO = "needs_info"
    INVALID = "invalid"
    DUPLICATE = "duplicate"
    VALIDATED = "validated"
    COORDINATING = "coordinating"
    FIXED = "fixed"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"
    DISPUTED = "disputed"


_S = ReportState
REPORT_TRANSITIONS: dict[ReportState, frozenset[ReportState]] = {
    _S.RECEIVED: frozenset({_S.TRIAGED, _S.WITHDRAWN}),
    _S.TRIAGED: frozenset({_S.NEEDS_INFO, _S.INVALID, _S.DUPLICATE, _S.VALIDATED, _S.WITHDRAWN}),
    # The reporter answered: back to triage, or the answer settles it.
    _S.NEEDS_INFO: frozenset({_S.TRIAGED, _S.INVALID, _S.VALIDATED, _S.WITHDRAWN}),
    _S.INVALID: frozenset({_S.DISPUTED}),
    # An analyst splitting a duplicate cluster sends the report back to triage.
    _S.DUPLICATE: frozenset({_S.TRIAGED, _S.DISPUTED}),
    _S.VALIDATED: frozenset({_S.COORDINATING, _S.DISPUTED, _S.WITHDRAWN}),
    _S.COORDINATING: frozenset({_S.FIXED, _S.DISPUTED, _S.WITHDRAWN}),
    _S.FIXED: frozenset({_S.PUBLISHED, _S.DISPUTED}),
    # A published advisory can still be withdrawn (OSV's `withdrawn`) or disputed (CVE's DISPUTED tag).
    _S.PUBLISHED: frozenset({_S.WITHDRAWN, _S.DISPUTED}),
    _S.DISPUTED: frozenset({_S.TRIAGED, _S.INVALID, _S.VALIDATED, _S.WITHDRAWN}),
    _S.WITHDRAWN: frozenset(),
}
REPORT_LIFECYCLE = StateMachine("report", REPORT_TRANSITIONS)


def transition(
    current: ReportState, target: ReportState, actor: str, reason: str, at: datetime
) -> Transition[ReportState]:
    """Check one change against the table; raises `IllegalTransition` naming the allowed moves."""
    return REPORT_LIFECYCLE.transition(current, target, actor, reason, at)
