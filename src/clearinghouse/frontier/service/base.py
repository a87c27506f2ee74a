"""What every frontier service shares: the repository, the audit log, the clock, and the model and submission
reads every area starts from.

Who may see or do what is the policy's (`clearinghouse.policy.rules`): a developer sees its own models, government
evaluators and clearinghouse staff see all; an object the caller may not see is `NotFound`, so ids are no
existence oracle. Every audit entry for the review of a model sits under subject
("frontier-model", model id), which is the report's timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from clearinghouse.errors import FrontierConflict, IllegalTransition, NotFound
from clearinghouse.frontier.repository import FrontierRepository
from clearinghouse.frontier.views import MetricView
from clearinghouse.frontier.window import SubmissionState
from clearinghouse.policy import Actor, rules
from clearinghouse.store.audit import AuditLog

SUBJECT = "frontier-model"
SUBMISSION_FINAL = frozenset({SubmissionState.CLOSED.value, SubmissionState.WITHDRAWN.value})


class FrontierBase:
    def __init__(self, engine: sa.Engine, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.audit = AuditLog(engine)
        self.repository = FrontierRepository(engine)
        self.clock = clock or (lambda: datetime.now(UTC))

    def today(self) -> date:
        return self.clock().date()

    def _model_row(self, conn: sa.Connection, actor: Actor, model_id: str) -> Any:
        """The model's row if the actor may see it; `NotFound` otherwise, as for a missing id."""
        row = self.repository.model_row(conn, model_id)
        if row is None or not rules.model_scope(actor).admits(row.developer_org_id):
            raise NotFound(f"no frontier model with id {model_id!r}")
        return row

    def _submission_row(self, conn: sa.Connection, principal: Actor, submission_id: str) -> Any:
        row = self.repository.submission_row(conn, submission_id)
        if row is None:
            raise NotFound(f"no submission with id {submission_id!r}")
        self._model_row(conn, principal, row.model_id)  # same visibility as the model
        return row


def require_active(submission: Any) -> None:
    if submission.state in SUBMISSION_FINAL:
        raise IllegalTransition(f"the submission is {submission.state}; nothing more can change")


def metric_values(metrics: Mapping[str, Any]) -> dict[str, MetricView]:
    """Metrics as {name: {value, ci_low, ci_high}}; a bare number is a value without an interval."""
    normalised: dict[str, MetricView] = {}
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
