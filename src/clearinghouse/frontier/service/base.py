"""What every frontier service shares: the repository, the audit log, the clock, and who may see a model.

A developer sees its own models; government evaluators and clearinghouse staff see all; anyone else gets
`NotFound`, so ids are no existence oracle. Every audit entry for the review of a model sits under subject
("frontier-model", model id), which is the report's timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from clearinghouse.errors import ClearinghouseError, IllegalTransition, NotFound
from clearinghouse.frontier.repository import FrontierRepository
from clearinghouse.frontier.window import SubmissionState
from clearinghouse.identity.model import OrgKind, Principal
from clearinghouse.store.audit import AuditLog
from clearinghouse.store.identity import Forbidden

SUBJECT = "frontier-model"
GOVERNMENT = frozenset({OrgKind.GOVERNMENT_EVALUATOR, OrgKind.CLEARINGHOUSE})
SUBMISSION_FINAL = frozenset({SubmissionState.CLOSED.value, SubmissionState.WITHDRAWN.value})


class FrontierConflict(ClearinghouseError):
    code = "frontier-conflict"


def actor_of(principal: Principal) -> str:
    return f"{principal.user}@{principal.organisation.name}"


class FrontierBase:
    def __init__(self, engine: sa.Engine, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.audit = AuditLog(engine)
        self.repository = FrontierRepository(engine)
        self.clock = clock or (lambda: datetime.now(UTC))

    def today(self) -> date:
        return self.clock().date()

    def _model_row(self, conn: sa.Connection, principal: Principal | None, model_id: str) -> Any:
        row = self.repository.model_row(conn, model_id)
        if row is None or (principal is not None and not _may_see_model(principal, row.developer_org_id)):
            raise NotFound(f"no frontier model with id {model_id!r}")
        return row

    def _submission_row(self, conn: sa.Connection, principal: Principal | None, submission_id: str) -> Any:
        row = self.repository.submission_row(conn, submission_id)
        if row is None:
            raise NotFound(f"no submission with id {submission_id!r}")
        self._model_row(conn, principal, row.model_id)  # same visibility as the model
        return row


def _may_see_model(principal: Principal, developer_org_id: str) -> bool:
    return principal.organisation.kind in GOVERNMENT or principal.organisation.id == developer_org_id


def require_developer(principal: Principal, model: Any) -> None:
    if principal.organisation.id != model.developer_org_id:
        raise Forbidden("only the model's developer may do this")


def require_active(submission: Any) -> None:
    if submission.state in SUBMISSION_FINAL:
        raise IllegalTransition(f"the submission is {submission.state}; nothing more can change")


def metric_values(metrics: Mapping[str, Any]) -> dict[str, dict[str, float | None]]:
    """Metrics as {name: {value, ci_low, ci_high}}; a bare number is a value without an interval."""
    normalised: dict[str, dict[str, float | None]] = {}
    for name, metric in metrics.items():
        if isinstance(metric, int | float) and not isinstance(metric, bool):
            normalised[name] = {"value": float(metric), "ci_low": None, "ci_high": None}
        elif isinstance(metric, Mapping) and isinstance(metric.get("value"), int | float):
            low, high = metric.get("ci_low"), metric.get("ci_high")
            normalised[name] = {
                "value": float(metric["value"]),
                "ci_low": None if low is None else float(low),
                "ci_high": None if high is None else float(high),
            }
        else:
            raise FrontierConflict(f"metric {name!r} needs a number or {{value, ci_low, ci_high}}")
    return normalised
