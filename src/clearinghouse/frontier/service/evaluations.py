"""Evaluation runs (metrics attached to a model) and the findings an evaluator records."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from clearinghouse.errors import FrontierConflict
from clearinghouse.frontier import views
from clearinghouse.frontier.service.base import SUBJECT, FrontierBase, metric_values
from clearinghouse.frontier.views import FindingView, RunView
from clearinghouse.policy import Actor, actor_name, rules

SEVERITIES = ("low", "medium", "high", "critical")


class EvaluationService(FrontierBase):
    def record_evaluation_run(
        self,
        actor: Actor,
        model_id: str,
        suite: str,
        run_id: str,
        metrics: Mapping[str, Any],
        log_location: str | None = None,
    ) -> RunView:
        """Attach one evaluation run's metrics ({name: value} or {name: {value, ci_low, ci_high}}) to a model:
        government evaluators over HTTP, the operator's evaluation harness locally."""
        rules.require_evaluator(actor)
        recorded_by = actor_name(actor)
        normalised = metric_values(metrics)
        row_id = str(uuid.uuid4())
        now = self.clock()
        with self.audit.writing() as conn:
            self._model_row(conn, actor, model_id)
            self.repository.insert_evaluation_run(
                conn,
                dict(
                    id=row_id,
                    model_id=model_id,
                    suite=suite,
                    run_id=run_id,
                    log_location=log_location,
                    metrics=normalised,
                    recorded_by=recorded_by,
                    created_at=now,
                ),
            )
            details = {"evaluation_id": row_id, "suite": suite, "run_id": run_id, "metrics": sorted(normalised)}
            self.audit.append(conn, recorded_by, "frontier.evaluation.recorded", SUBJECT, model_id, details)
        return {
            "id": row_id,
            "model_id": model_id,
            "suite": suite,
            "run_id": run_id,
            "log_location": log_location,
            "metrics": normalised,
            "recorded_by": recorded_by,
            "created_at": now.isoformat(),
        }

    def evaluation_runs(self, principal: Actor, model_id: str) -> list[RunView]:
        rules.require_frontier_reader(principal)
        with self.engine.connect() as conn:
            self._model_row(conn, principal, model_id)
            rows = self.repository.evaluation_runs_of(conn, model_id)
        return [views.run_json(row) for row in rows]

    def add_finding(
        self,
        principal: Actor,
        model_id: str,
        severity: str,
        capability_area: str,
        title: str,
        description: str,
        evaluation_run_id: str | None = None,
    ) -> FindingView:
        rules.require_evaluator(principal)
        if severity not in SEVERITIES:
            raise FrontierConflict(f"severity must be one of {', '.join(SEVERITIES)}")
        finding_id = str(uuid.uuid4())
        with self.audit.writing() as conn:
            self._model_row(conn, principal, model_id)
            self.repository.insert_finding(
                conn,
                dict(
                    id=finding_id,
                    model_id=model_id,
                    severity=severity,
                    capability_area=capability_area,
                    title=title,
                    description=description,
                    evaluation_run_id=evaluation_run_id,
                    recorded_by=actor_name(principal),
                    created_at=self.clock(),
                ),
            )
            details = {"finding_id": finding_id, "severity": severity, "capability_area": capability_area}
            self.audit.append(conn, actor_name(principal), "frontier.finding.recorded", SUBJECT, model_id, details)
        return self.findings(principal, model_id)[-1]

    def findings(self, principal: Actor, model_id: str) -> list[FindingView]:
        rules.require_frontier_reader(principal)
        with self.engine.connect() as conn:
            self._model_row(conn, principal, model_id)
            rows = self.repository.findings_of(conn, model_id)
        return [views.finding_json(row) for row in rows]
