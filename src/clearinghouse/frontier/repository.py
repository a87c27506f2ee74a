"""Frontier review in the store: SQL only, by area. The services hold access checks, transactions, audit and
the clock; every write here runs on the connection of the service's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from clearinghouse.frontier.criteria import CriteriaStatus
from clearinghouse.frontier.grants import GrantState
from clearinghouse.frontier.window import SubmissionState
from clearinghouse.identity.model import OrgKind
from clearinghouse.policy.filters import org_filter
from clearinghouse.policy.rules import OrgScope
from clearinghouse.store.tables import (
    evaluation_runs,
    frontier_classified_reviews,
    frontier_criteria_sets,
    frontier_determinations,
    frontier_findings,
    frontier_grants,
    frontier_models,
    frontier_submissions,
    organisations,
)


def _criteria_key(criteria_id: str, version: int) -> sa.ColumnElement[bool]:
    return sa.and_(frontier_criteria_sets.c.criteria_id == criteria_id, frontier_criteria_sets.c.version == version)


class FrontierRepository:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # Criteria ---------------------------------------------------------------------------------------------------

    @staticmethod
    def criteria_row(conn: sa.Connection, criteria_id: str, version: int) -> Any | None:
        return conn.execute(sa.select(frontier_criteria_sets).where(_criteria_key(criteria_id, version))).first()

    @staticmethod
    def delete_criteria(conn: sa.Connection, criteria_id: str, version: int) -> None:
        conn.execute(sa.delete(frontier_criteria_sets).where(_criteria_key(criteria_id, version)))

    @staticmethod
    def criteria_status(conn: sa.Connection, criteria_id: str, version: int) -> str | None:
        status: str | None = conn.execute(
            sa.select(frontier_criteria_sets.c.status).where(_criteria_key(criteria_id, version))
        ).scalar_one_or_none()
        return status

    @staticmethod
    def set_criteria_status(conn: sa.Connection, criteria_id: str, version: int, status: CriteriaStatus) -> None:
        conn.execute(
            sa.update(frontier_criteria_sets).where(_criteria_key(criteria_id, version)).values(status=status.value)
        )

    @staticmethod
    def insert_criteria(conn: sa.Connection, values: dict[str, Any]) -> None:
        conn.execute(frontier_criteria_sets.insert().values(**values))

    def criteria_document(self, criteria_id: str, version: int | None) -> dict[str, Any] | None:
        """A stored criteria document; without a version, the newest published one."""
        query = sa.select(frontier_criteria_sets.c.document).where(frontier_criteria_sets.c.criteria_id == criteria_id)
        if version is not None:
            query = query.where(frontier_criteria_sets.c.version == version)
        else:
            query = query.where(frontier_criteria_sets.c.status == CriteriaStatus.PUBLISHED.value)
        with self.engine.connect() as conn:
            document: dict[str, Any] | None = conn.execute(
                query.order_by(frontier_criteria_sets.c.version.desc()).limit(1)
            ).scalar()
        return document

    def all_criteria(self) -> list[Any]:
        query = sa.select(frontier_criteria_sets).order_by(
            frontier_criteria_sets.c.criteria_id, frontier_criteria_sets.c.version
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    # Models --------------------------------------------------------------------------------------------------------

    @staticmethod
    def model_registered(conn: sa.Connection, developer_org_id: str, name: str, version: str) -> bool:
        taken = conn.execute(
            sa.select(frontier_models.c.id).where(
                frontier_models.c.developer_org_id == developer_org_id,
                frontier_models.c.name == name,
                frontier_models.c.version == version,
            )
        ).first()
        return taken is not None

    @staticmethod
    def insert_model(conn: sa.Connection, values: dict[str, Any]) -> None:
        conn.execute(frontier_models.insert().values(**values))

    @staticmethod
    def model_row(conn: sa.Connection, model_id: str) -> Any | None:
        """The model with its developer's name (column `developer`)."""
        return conn.execute(
            sa.select(frontier_models, organisations.c.name.label("developer"))
            .join(organisations, organisations.c.id == frontier_models.c.developer_org_id)
            .where(frontier_models.c.id == model_id)
        ).first()

    @staticmethod
    def models_visible(conn: sa.Connection, scope: OrgScope) -> list[Any]:
        """Models of the organisations the policy's `scope` admits, with their developer's name, by name."""
        return list(
            conn.execute(
                sa.select(frontier_models, organisations.c.name.label("developer"))
                .join(organisations, organisations.c.id == frontier_models.c.developer_org_id)
                .where(org_filter(scope, frontier_models.c.developer_org_id))
                .order_by(frontier_models.c.name, frontier_models.c.version)
            )
        )

    @staticmethod
    def set_planned_partner_release(conn: sa.Connection, model_id: str, release_on: date) -> None:
        conn.execute(
            sa.update(frontier_models)
            .where(frontier_models.c.id == model_id)
            .values(planned_partner_release=release_on)
        )

    # Determinations and classified reviews -------------------------------------------------------------------------

    @staticmethod
    def insert_determination(conn: sa.Connection, values: dict[str, Any]) -> None:
        conn.execute(frontier_determinations.insert().values(**values))

    @staticmethod
    def determinations(conn: sa.Connection, model_id: str, include_restricted: bool) -> list[Any]:
        query = sa.select(frontier_determinations).where(frontier_determinations.c.model_id == model_id)
        if not include_restricted:
            query = query.where(frontier_determinations.c.restricted.is_(False))
        return list(conn.execute(query.order_by(frontier_determinations.c.decided_at)))

    @staticmethod
    def classified_reviews_of(conn: sa.Connection, model_id: str) -> list[Any]:
        return list(
            conn.execute(
                sa.select(frontier_classified_reviews).where(frontier_classified_reviews.c.model_id == model_id)
            )
        )

    @staticmethod
    def insert_classified_review(conn: sa.Connection, values: dict[str, Any]) -> None:
        conn.execute(frontier_classified_reviews.insert().values(**values))

    @staticmethod
    def classified_review(conn: sa.Connection, review_id: str) -> Any | None:
        return conn.execute(
            sa.select(frontier_classified_reviews).where(frontier_classified_reviews.c.id == review_id)
        ).first()

    @staticmethod
    def conclude_classified_review(
        conn: sa.Connection, review_id: str, designation: str | None, concluded_at: datetime
    ) -> None:
        conn.execute(
            sa.update(frontier_classified_reviews)
            .where(frontier_classified_reviews.c.id == review_id)
            .values(designation=designation, concluded_at=concluded_at)
        )

    # Submissions and windows ---------------------------------------------------------------------------------------

    @staticmethod
    def insert_submission(conn: sa.Connection, values: dict[str, Any]) -> None:
        conn.execute(frontier_submissions.insert().values(**values))

    @staticmethod
    def submission_row(conn: sa.Connection, submission_id: str) -> Any | None:
        return conn.execute(sa.select(frontier_submissions).where(frontier_submissions.c.id == submission_id)).first()

    @staticmethod
    def submissions_of(conn: sa.Connection, model_id: str) -> list[Any]:
        return list(
            conn.execute(
                sa.select(frontier_submissions)
                .where(frontier_submissions.c.model_id == model_id)
                .order_by(frontier_submissions.c.created_at)
            )
        )

    @staticmethod
    def update_submission(conn: sa.Connection, submission_id: str, values: dict[str, Any]) -> None:
        conn.execute(sa.update(frontier_submissions).where(frontier_submissions.c.id == submission_id).values(**values))

    def submissions_in(self, states: Sequence[SubmissionState]) -> list[Any]:
        """Submissions in these states with their model's name and version, soonest partner release first."""
        query = (
            sa.select(frontier_submissions, frontier_models.c.name, frontier_models.c.version)
            .join(frontier_models, frontier_models.c.id == frontier_submissions.c.model_id)
            .where(frontier_submissions.c.state.in_([s.value for s in states]))
            .order_by(frontier_submissions.c.partner_release_on)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    @staticmethod
    def access_method(conn: sa.Connection, submission_id: str) -> dict[str, Any]:
        method: dict[str, Any] = conn.execute(
            sa.select(frontier_submissions.c.access_method).where(frontier_submissions.c.id == submission_id)
        ).scalar_one()
        return method

    # Early-access grants -------------------------------------------------------------------------------------------

    @staticmethod
    def partner_named(conn: sa.Connection, name: str) -> Any | None:
        """The critical-infrastructure organisation of that name (None for any other kind, as for none at all)."""
        return conn.execute(
            sa.select(organisations).where(
                organisations.c.name == name, organisations.c.kind == OrgKind.CRITICAL_INFRASTRUCTURE.value
            )
        ).first()

    @staticmethod
    def insert_grant(conn: sa.Connection, values: dict[str, Any]) -> None:
        conn.execute(frontier_grants.insert().values(**values))

    @staticmethod
    def grant_row(conn: sa.Connection, grant_id: str) -> Any | None:
        """The grant with its partner organisation's name (column `partner`) and its model's developer."""
        return conn.execute(
            sa.select(frontier_grants, organisations.c.name.label("partner"), frontier_models.c.developer_org_id)
            .join(organisations, organisations.c.id == frontier_grants.c.partner_org_id)
            .join(frontier_models, frontier_models.c.id == frontier_grants.c.model_id)
            .where(frontier_grants.c.id == grant_id)
        ).first()

    @staticmethod
    def grants_of(conn: sa.Connection, model_id: str) -> list[Any]:
        """A model's grants (columns as `grant_row`), oldest first."""
        return list(
            conn.execute(
                sa.select(frontier_grants, organisations.c.name.label("partner"), frontier_models.c.developer_org_id)
                .join(organisations, organisations.c.id == frontier_grants.c.partner_org_id)
                .join(frontier_models, frontier_models.c.id == frontier_grants.c.model_id)
                .where(frontier_grants.c.model_id == model_id)
                .order_by(frontier_grants.c.created_at, frontier_grants.c.id)
            )
        )

    @staticmethod
    def set_grant_state(conn: sa.Connection, grant_id: str, state: GrantState, now: datetime) -> None:
        conn.execute(
            sa.update(frontier_grants).where(frontier_grants.c.id == grant_id).values(state=state.value, updated_at=now)
        )

    @staticmethod
    def revoke_open_grants(conn: sa.Connection, submission_id: str, now: datetime) -> None:
        conn.execute(
            sa.update(frontier_grants)
            .where(
                frontier_grants.c.submission_id == submission_id,
                frontier_grants.c.state.in_([GrantState.NOMINATED.value, GrantState.APPROVED.value]),
            )
            .values(state=GrantState.REVOKED.value, updated_at=now)
        )

    # Evaluation runs and findings ----------------------------------------------------------------------------------

    @staticmethod
    def insert_evaluation_run(conn: sa.Connection, values: dict[str, Any]) -> None:
        conn.execute(evaluation_runs.insert().values(**values))

    @staticmethod
    def evaluation_runs_of(conn: sa.Connection, model_id: str, oldest_first_by_id: bool = False) -> list[Any]:
        order = [evaluation_runs.c.created_at, *([evaluation_runs.c.id] if oldest_first_by_id else [])]
        return list(
            conn.execute(sa.select(evaluation_runs).where(evaluation_runs.c.model_id == model_id).order_by(*order))
        )

    @staticmethod
    def insert_finding(conn: sa.Connection, values: dict[str, Any]) -> None:
        conn.execute(frontier_findings.insert().values(**values))

    @staticmethod
    def findings_of(conn: sa.Connection, model_id: str) -> list[Any]:
        return list(
            conn.execute(
                sa.select(frontier_findings)
                .where(frontier_findings.c.model_id == model_id)
                .order_by(frontier_findings.c.created_at)
            )
        )
