"""Determinations (a model evaluated against a criteria version) and classified reviews (only that one exists,
who holds it, and its outcome: never its content)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from clearinghouse.errors import Forbidden, IllegalTransition, NotFound
from clearinghouse.frontier import views
from clearinghouse.frontier.determination import Designation, EvaluationResult, ModelFacts, determine
from clearinghouse.frontier.service.base import SUBJECT
from clearinghouse.frontier.service.criteria import CriteriaService
from clearinghouse.frontier.views import ClassifiedReviewView, DeterminationMade, DeterminationView
from clearinghouse.policy import Actor, actor_name, rules


class DeterminationService(CriteriaService):
    def facts(self, conn: sa.Connection, model: Any, actor: Actor) -> ModelFacts:
        """What the store knows about a model, as `actor` may know it: compute, the newest run of each suite,
        designations, and open classified reviews only if the policy lets the actor see them."""
        runs = self.repository.evaluation_runs_of(conn, model.id, oldest_first_by_id=True)
        latest = {run.suite: run for run in runs}  # later runs of a suite replace earlier ones
        reviews = self.repository.classified_reviews_of(conn, model.id)
        return ModelFacts(
            name=model.name,
            version=model.version,
            developer=model.developer,
            modality=model.modality,
            training_compute_flop=model.training_compute_flop,
            evaluations={
                suite: EvaluationResult(suite, run.run_id, {k: v["value"] for k, v in run.metrics.items()})
                for suite, run in latest.items()
            },
            designations=frozenset(Designation(r.authority, r.designation) for r in reviews if r.designation),
            pending_reviews=frozenset(r.authority for r in reviews if r.concluded_at is None),
            classified_reviews_visible=rules.sees_classified_reviews(actor),
        )

    def determine(
        self,
        principal: Actor,
        model_id: str,
        criteria_id: str,
        criteria_version: int | None = None,
        restricted: bool = False,
    ) -> DeterminationMade:
        """Evaluate the model against a criteria version and keep the determination (who, when, on what): a
        government determination for evaluators, the developer's self-assessment for its own model."""
        self_assessment = rules.require_determiner(principal)
        if restricted and not rules.sees_restricted(principal):
            raise Forbidden("a restricted determination needs scope frontier:restricted (a cleared evaluator)")
        criteria = self.criteria_set(criteria_id, criteria_version)
        basis = "self-assessment" if self_assessment else "government-evaluation"
        determination_id = str(uuid.uuid4())
        with self.audit.writing() as conn:
            model = self._model_row(conn, principal, model_id)
            if self_assessment:
                rules.require_developer_of(principal, model.developer_org_id)
            outcome = determine(criteria, self.facts(conn, model, principal), actor_name(principal), self.clock())
            self.repository.insert_determination(
                conn,
                dict(
                    id=determination_id,
                    model_id=model_id,
                    criteria_id=criteria.id,
                    criteria_version=criteria.version,
                    basis=basis,
                    coverage=outcome.coverage.value,
                    results=[r.as_json() for r in outcome.results],
                    restricted=restricted,
                    decided_by=outcome.decided_by,
                    decided_at=outcome.decided_at,
                ),
            )
            # A restricted determination's audit entry says only that one was made.
            details: dict[str, Any] = {"determination_id": determination_id, "restricted": restricted}
            if not restricted:
                details |= {"criteria": criteria.key, "coverage": outcome.coverage.value, "basis": basis}
            self.audit.append(conn, actor_name(principal), "frontier.determination", SUBJECT, model_id, details)
        return DeterminationMade(
            id=determination_id,
            model=outcome.model,
            criteria=outcome.criteria,
            rule=outcome.rule,
            coverage=outcome.coverage.value,
            results=[r.as_json() for r in outcome.results],
            missing=outcome.missing,
            decided_by=outcome.decided_by,
            decided_at=outcome.decided_at.isoformat(),
            gates_release=False,
            basis=basis,
            restricted=restricted,
        )

    def determinations(self, principal: Actor, model_id: str) -> list[DeterminationView]:
        """Determinations the caller may see: restricted ones only with scope frontier:restricted."""
        rules.require_frontier_reader(principal)
        with self.engine.connect() as conn:
            self._model_row(conn, principal, model_id)
            rows = self.repository.determinations(conn, model_id, rules.sees_restricted(principal))
        return [views.determination_json(row) for row in rows]

    def open_classified_review(
        self, principal: Actor, model_id: str, authority: str, holder: str
    ) -> ClassifiedReviewView:
        """Record that a classified review exists and who holds it; its content never enters this system."""
        rules.require_cleared(principal)
        review_id = str(uuid.uuid4())
        with self.audit.writing() as conn:
            self._model_row(conn, principal, model_id)
            self.repository.insert_classified_review(
                conn, dict(id=review_id, model_id=model_id, authority=authority, holder=holder, opened_at=self.clock())
            )
            details = {"review_id": review_id, "authority": authority, "holder": holder}
            self.audit.append(
                conn, actor_name(principal), "frontier.classified-review.opened", SUBJECT, model_id, details
            )
        return {"id": review_id, "model_id": model_id, "authority": authority, "holder": holder, "designation": None}

    def conclude_classified_review(
        self, principal: Actor, review_id: str, designation: str | None
    ) -> ClassifiedReviewView:
        """Close a classified review with its designation (or none): only the outcome, never the reasoning."""
        rules.require_cleared(principal)
        with self.audit.writing() as conn:
            row = self.repository.classified_review(conn, review_id)
            if row is None:
                raise NotFound(f"no classified review with id {review_id!r}")
            self._model_row(conn, principal, row.model_id)
            if row.concluded_at is not None:
                raise IllegalTransition("this classified review is already concluded")
            self.repository.conclude_classified_review(conn, review_id, designation, self.clock())
            details = {"review_id": review_id, "authority": row.authority, "designation": designation}
            self.audit.append(
                conn, actor_name(principal), "frontier.classified-review.concluded", SUBJECT, row.model_id, details
            )
        return {
            "id": review_id,
            "model_id": row.model_id,
            "authority": row.authority,
            "holder": row.holder,
            "designation": designation,
        }
