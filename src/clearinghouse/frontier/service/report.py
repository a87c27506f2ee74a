"""The data of the final review report: the model, its determinations, runs, findings, submissions and the
audit timeline, as the caller may see it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clearinghouse.frontier import views
from clearinghouse.frontier.service.base import SUBJECT
from clearinghouse.frontier.service.evaluations import EvaluationService
from clearinghouse.frontier.views import DeterminationView
from clearinghouse.policy import Actor, rules

# Audit actions of the NSA classified path: on a model's timeline only for those the policy lets see them.
CLASSIFIED_REVIEW_ACTIONS = "frontier.classified-review."


class ReviewReportService(EvaluationService):
    def report_data(self, principal: Actor, model_id: str) -> dict[str, Any]:
        """Everything the final review report shows, as the caller may see it (the CLI acts as the operator)."""
        rules.require_frontier_reader(principal)
        cleared = rules.sees_restricted(principal)
        classified = rules.sees_classified_reviews(principal)
        with self.engine.connect() as conn:
            model = views.model_json(self._model_row(conn, principal, model_id))
            determinations = [
                views.determination_json(r) for r in self.repository.determinations(conn, model_id, cleared)
            ]
            submissions = self.repository.submissions_of(conn, model_id)
        timeline = [
            {
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "details": _timeline_details(e.details, cleared),
            }
            for e in self.audit.entries(SUBJECT, model_id)
            if classified or not e.action.startswith(CLASSIFIED_REVIEW_ACTIONS)
        ]
        return {
            "model": model,
            "determination": _headline(determinations),
            "determinations": determinations,
            "evaluation_runs": self.evaluation_runs(principal, model_id),
            "findings": self.findings(principal, model_id),
            "submissions": [views.submission_json(s) for s in submissions],
            "timeline": timeline,
            "generated_at": self.clock().isoformat(),
            "restricted_included": cleared,
        }


def _headline(determinations: list[DeterminationView]) -> DeterminationView | None:
    """The determination a report leads with: the latest government one, else the latest self-assessment."""
    government = [d for d in determinations if d["basis"] == "government-evaluation"]
    chosen = government or determinations
    return chosen[-1] if chosen else None


def _timeline_details(details: Mapping[str, Any], cleared: bool) -> dict[str, Any]:
    if cleared or not details.get("restricted"):
        return dict(details)
    return {"restricted": True}
