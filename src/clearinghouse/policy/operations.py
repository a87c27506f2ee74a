"""Who may watch the clearinghouse run (issue 16): the processing backlog and the pipeline's timings.

They say how far behind intake is and how fast each step runs, not what any report says; still, how busy the
clearinghouse is, and when, is operational detail for its own staff (and the Prometheus that scrapes with a
staff token), not for every reporter.
"""

from __future__ import annotations

from clearinghouse.errors import Forbidden
from clearinghouse.identity.model import Principal, Scope
from clearinghouse.policy.principals import Actor, Operator
from clearinghouse.policy.rules import is_staff, require_scope


def require_operations_reader(actor: Actor) -> Principal | Operator:
    """`/metrics` and the processing figures: clearinghouse staff with `reports:triage` (401 without a token, 403
    for anyone else)."""
    reader = require_scope(actor, Scope.REPORTS_TRIAGE)
    if not is_staff(reader):
        raise Forbidden("only clearinghouse staff read the processing metrics")
    return reader
