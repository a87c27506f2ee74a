"""The frontier-review service over the store, used by the API and the CLI.

Every access decision is the policy's (`clearinghouse.policy.rules`), asked here for each operation and object:
a developer sees its own models, government evaluators and clearinghouse staff see all; an object the caller may
not see is `NotFound`, so ids are no existence oracle. Every
change is written with its audit entry in one transaction; every audit entry for the review of a model sits
under subject ("frontier-model", model id), which is the report's timeline.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from clearinghouse.errors import ClearinghouseError, Forbidden, IllegalTransition, NotFound
from clearinghouse.frontier import criteria as criteria_mod
from clearinghouse.frontier import grants as grant_rules
from clearinghouse.frontier import views
from clearinghouse.frontier import window as window_rules
from clearinghouse.frontier.criteria import CriteriaSet, CriteriaStatus
from clearinghouse.frontier.determination import Designation, EvaluationResult, ModelFacts, determine
from clearinghouse.frontier.grants import GrantState
from clearinghouse.frontier.window import Milestone, ReviewWindow, SubmissionState
from clearinghouse.identity.model import OrgKind, Scope
from clearinghouse.policy import Actor, actor_name, rules
from clearinghouse.store.audit import AuditLog
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

SUBJECT = "frontier-model"
# Attempts on a grant by another organisation are audited under the grant, not on the model's timeline.
GRANT_SUBJECT = "frontier-grant"
SEVERITIES = ("low", "medium", "high", "critical")
# Audit actions of the NSA classified path: on a model's timeline only for those the policy lets see them.
CLASSIFIED_REVIEW_ACTIONS = "frontier.classified-review."
SUBMISSION_FINAL = frozenset({SubmissionState.CLOSED.value, SubmissionState.WITHDRAWN.value})


class FrontierConflict(ClearinghouseError):
    code = "frontier-conflict"


class CriteriaImmutable(ClearinghouseError):
    """A published criteria version cannot change; publish a new version that supersedes it."""

    code = "criteria-immutable"


class EarlyAccessDenied(Forbidden):
    code = "early-access-denied"


@dataclass(frozen=True)
class ModelRegistration:
    name: str
    version: str
    modality: str
    training_compute_flop: float | None = None
    planned_partner_release: date | None = None
    planned_public_release: date | None = None


@dataclass(frozen=True)
class AccessOffer:
    partner_release_on: date
    endpoint_ref: str
    access_days: int = window_rules.MAX_ACCESS_DAYS_BEFORE_PARTNER_RELEASE
    secret: str | None = None  # stored only as its SHA-256
    secret_ref: str | None = None  # e.g. a vault path; stored as given
    contacts: list[dict[str, str]] = field(default_factory=list)


def actor_of(actor: Actor) -> str:
    return actor_name(actor)


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


class FrontierService:
    def __init__(self, engine: sa.Engine, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.audit = AuditLog(engine)
        self.clock = clock or (lambda: datetime.now(UTC))

    def today(self) -> date:
        return self.clock().date()

    # Criteria -------------------------------------------------------------------------------------------------

    def publish_criteria(self, principal: Actor, text: str, file: str = "<upload>") -> dict[str, Any]:
        """Store a criteria version. Published versions are immutable; `supersedes` retires the older one."""
        rules.require_evaluator(principal)
        criteria = criteria_mod.parse(text, file)
        now = self.clock()
        with self.audit.writing() as conn:
            existing = conn.execute(
                sa.select(frontier_criteria_sets).where(
                    frontier_criteria_sets.c.criteria_id == criteria.id,
                    frontier_criteria_sets.c.version == criteria.version,
                )
            ).first()
            if existing is not None:
                if existing.content_hash == criteria.content_hash:
                    return views.criteria_json(existing)
                if existing.status != CriteriaStatus.DRAFT:
                    raise CriteriaImmutable(
                        f"criteria {criteria.key} is {existing.status} and cannot change; publish version "
                        f"{criteria.version + 1} with supersedes: {criteria.key}"
                    )
                conn.execute(sa.delete(frontier_criteria_sets).where(_criteria_key(criteria.id, criteria.version)))
            if criteria.supersedes and criteria.status is CriteriaStatus.PUBLISHED:
                self._supersede(conn, criteria, principal)
            conn.execute(
                frontier_criteria_sets.insert().values(
                    criteria_id=criteria.id,
                    version=criteria.version,
                    title=criteria.title,
                    status=criteria.status.value,
                    effective_date=criteria.effective_date,
                    supersedes=criteria.supersedes,
                    document=dict(criteria.document),
                    content_hash=criteria.content_hash,
                    published_by=actor_of(principal),
                    created_at=now,
                )
            )
            details = {"status": criteria.status.value, "content_hash": criteria.content_hash}
            self.audit.append(
                conn, actor_of(principal), "frontier.criteria.stored", "frontier-criteria", criteria.key, details
            )
            row = conn.execute(
                sa.select(frontier_criteria_sets).where(_criteria_key(criteria.id, criteria.version))
            ).one()
        return views.criteria_json(row)

    def _supersede(self, conn: sa.Connection, criteria: CriteriaSet, principal: Actor) -> None:
        old_id, _, old_version = (criteria.supersedes or "").partition("@")
        old = conn.execute(
            sa.select(frontier_criteria_sets.c.status).where(_criteria_key(old_id, int(old_version)))
        ).scalar_one_or_none()
        if old is None:
            raise NotFound(f"criteria {criteria.supersedes} (named in supersedes) is not in the store")
        conn.execute(
            sa.update(frontier_criteria_sets)
            .where(_criteria_key(old_id, int(old_version)))
            .values(status=CriteriaStatus.SUPERSEDED.value)
        )
        self.audit.append(
            conn,
            actor_of(principal),
            "frontier.criteria.superseded",
            "frontier-criteria",
            criteria.supersedes or "",
            {"by": criteria.key},
        )

    def criteria_set(self, criteria_id: str, version: int | None = None) -> CriteriaSet:
        """A stored criteria version; without a version, the newest published one."""
        query = sa.select(frontier_criteria_sets.c.document).where(frontier_criteria_sets.c.criteria_id == criteria_id)
        if version is not None:
            query = query.where(frontier_criteria_sets.c.version == version)
        else:
            query = query.where(frontier_criteria_sets.c.status == CriteriaStatus.PUBLISHED.value)
        with self.engine.connect() as conn:
            document = conn.execute(query.order_by(frontier_criteria_sets.c.version.desc()).limit(1)).scalar()
        if document is None:
            wanted = f"{criteria_id}@{version}" if version is not None else f"a published {criteria_id}"
            raise NotFound(f"no criteria {wanted}")
        return criteria_mod.from_stored(document)

    def list_criteria(self, actor: Actor) -> list[dict[str, Any]]:
        rules.require_frontier_reader(actor)
        query = sa.select(frontier_criteria_sets).order_by(
            frontier_criteria_sets.c.criteria_id, frontier_criteria_sets.c.version
        )
        with self.engine.connect() as conn:
            return [views.criteria_json(row) for row in conn.execute(query)]

    # Models and determinations --------------------------------------------------------------------------------

    def register_model(self, actor: Actor, registration: ModelRegistration) -> dict[str, Any]:
        principal = rules.require_registrant(actor)
        model_id = str(uuid.uuid4())
        with self.audit.writing() as conn:
            taken = conn.execute(
                sa.select(frontier_models.c.id).where(
                    frontier_models.c.developer_org_id == principal.organisation.id,
                    frontier_models.c.name == registration.name,
                    frontier_models.c.version == registration.version,
                )
            ).first()
            if taken is not None:
                raise FrontierConflict(f"{registration.name} {registration.version} is already registered")
            conn.execute(
                frontier_models.insert().values(
                    id=model_id,
                    developer_org_id=principal.organisation.id,
                    name=registration.name,
                    version=registration.version,
                    modality=registration.modality,
                    training_compute_flop=registration.training_compute_flop,
                    planned_partner_release=registration.planned_partner_release,
                    planned_public_release=registration.planned_public_release,
                    registered_by=actor_of(principal),
                    created_at=self.clock(),
                )
            )
            details = {"name": registration.name, "version": registration.version}
            self.audit.append(conn, actor_of(principal), "frontier.model.registered", SUBJECT, model_id, details)
        return self.model(principal, model_id)

    def model(self, actor: Actor, model_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return views.model_json(self._model_row(conn, actor, model_id))

    def _model_row(self, conn: sa.Connection, actor: Actor, model_id: str) -> Any:
        """The model's row if the actor may see it; `NotFound` otherwise, as for a missing id."""
        row = conn.execute(
            sa.select(frontier_models, organisations.c.name.label("developer"))
            .join(organisations, organisations.c.id == frontier_models.c.developer_org_id)
            .where(frontier_models.c.id == model_id)
        ).first()
        if row is None or not rules.model_scope(actor).admits(row.developer_org_id):
            raise NotFound(f"no frontier model with id {model_id!r}")
        return row

    def facts(self, conn: sa.Connection, model: Any) -> ModelFacts:
        """What the store knows about a model: compute, the newest run of each suite, designations."""
        runs = conn.execute(
            sa.select(evaluation_runs)
            .where(evaluation_runs.c.model_id == model.id)
            .order_by(evaluation_runs.c.created_at, evaluation_runs.c.id)
        ).all()
        latest = {run.suite: run for run in runs}  # later runs of a suite replace earlier ones
        reviews = conn.execute(
            sa.select(frontier_classified_reviews).where(frontier_classified_reviews.c.model_id == model.id)
        ).all()
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
        )

    def determine(
        self,
        principal: Actor,
        model_id: str,
        criteria_id: str,
        criteria_version: int | None = None,
        restricted: bool = False,
    ) -> dict[str, Any]:
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
            outcome = determine(criteria, self.facts(conn, model), actor_of(principal), self.clock())
            conn.execute(
                frontier_determinations.insert().values(
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
                )
            )
            # A restricted determination's audit entry says only that one was made.
            details: dict[str, Any] = {"determination_id": determination_id, "restricted": restricted}
            if not restricted:
                details |= {"criteria": criteria.key, "coverage": outcome.coverage.value, "basis": basis}
            self.audit.append(conn, actor_of(principal), "frontier.determination", SUBJECT, model_id, details)
        return {**outcome.as_json(), "id": determination_id, "basis": basis, "restricted": restricted}

    def determinations(self, principal: Actor, model_id: str) -> list[dict[str, Any]]:
        """Determinations the caller may see: restricted ones only with scope frontier:restricted."""
        rules.require_frontier_reader(principal)
        query = sa.select(frontier_determinations).where(frontier_determinations.c.model_id == model_id)
        if not rules.sees_restricted(principal):
            query = query.where(frontier_determinations.c.restricted.is_(False))
        with self.engine.connect() as conn:
            self._model_row(conn, principal, model_id)
            rows = conn.execute(query.order_by(frontier_determinations.c.decided_at)).all()
        return [views.determination_json(row) for row in rows]

    def open_classified_review(self, principal: Actor, model_id: str, authority: str, holder: str) -> dict[str, Any]:
        """Record that a classified review exists and who holds it; its content never enters this system."""
        rules.require_cleared(principal)
        review_id = str(uuid.uuid4())
        with self.audit.writing() as conn:
            self._model_row(conn, principal, model_id)
            conn.execute(
                frontier_classified_reviews.insert().values(
                    id=review_id, model_id=model_id, authority=authority, holder=holder, opened_at=self.clock()
                )
            )
            details = {"review_id": review_id, "authority": authority, "holder": holder}
            self.audit.append(
                conn, actor_of(principal), "frontier.classified-review.opened", SUBJECT, model_id, details
            )
        return {"id": review_id, "model_id": model_id, "authority": authority, "holder": holder, "designation": None}

    def conclude_classified_review(self, principal: Actor, review_id: str, designation: str | None) -> dict[str, Any]:
        """Close a classified review with its designation (or none): only the outcome, never the reasoning."""
        rules.require_cleared(principal)
        with self.audit.writing() as conn:
            row = conn.execute(
                sa.select(frontier_classified_reviews).where(frontier_classified_reviews.c.id == review_id)
            ).first()
            if row is None:
                raise NotFound(f"no classified review with id {review_id!r}")
            self._model_row(conn, principal, row.model_id)
            if row.concluded_at is not None:
                raise IllegalTransition("this classified review is already concluded")
            conn.execute(
                sa.update(frontier_classified_reviews)
                .where(frontier_classified_reviews.c.id == review_id)
                .values(designation=designation, concluded_at=self.clock())
            )
            details = {"review_id": review_id, "authority": row.authority, "designation": designation}
            self.audit.append(
                conn, actor_of(principal), "frontier.classified-review.concluded", SUBJECT, row.model_id, details
            )
        return {
            "id": review_id,
            "model_id": row.model_id,
            "authority": row.authority,
            "holder": row.holder,
            "designation": designation,
        }

    # Submission and window ------------------------------------------------------------------------------------

    def offer(self, principal: Actor, model_id: str, offer: AccessOffer) -> dict[str, Any]:
        """The developer's voluntary offer of access; the window follows the order's 30-day rule."""
        rules.require_developer(principal)
        window = window_rules.plan_window(self.today(), offer.partner_release_on, offer.access_days)
        submission_id = str(uuid.uuid4())
        now = self.clock()
        with self.audit.writing() as conn:
            model = self._model_row(conn, principal, model_id)
            rules.require_developer_of(principal, model.developer_org_id)
            conn.execute(
                frontier_submissions.insert().values(
                    id=submission_id,
                    model_id=model_id,
                    state=SubmissionState.OFFERED.value,
                    opens_on=window.opens_on,
                    partner_release_on=window.partner_release_on,
                    access_method=_access_method(offer),
                    contacts=offer.contacts,
                    milestones=_milestones(window, {}),
                    plan_changes=[],
                    offered_by=actor_of(principal),
                    created_at=now,
                    updated_at=now,
                )
            )
            conn.execute(
                sa.update(frontier_models)
                .where(frontier_models.c.id == model_id)
                .values(planned_partner_release=window.partner_release_on)
            )
            details = {
                "submission_id": submission_id,
                "opens_on": window.opens_on.isoformat(),
                "partner_release_on": window.partner_release_on.isoformat(),
                "window_days": window.days,
            }
            self.audit.append(conn, actor_of(principal), "frontier.submission.offered", SUBJECT, model_id, details)
        return self.submission(principal, submission_id)

    def submission(self, principal: Actor, submission_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = self._submission_row(conn, principal, submission_id)
        return views.submission_json(row)

    def submissions(self, principal: Actor, model_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            self._model_row(conn, principal, model_id)
            rows = conn.execute(
                sa.select(frontier_submissions)
                .where(frontier_submissions.c.model_id == model_id)
                .order_by(frontier_submissions.c.created_at)
            ).all()
        return [views.submission_json(row) for row in rows]

    def _submission_row(self, conn: sa.Connection, principal: Actor, submission_id: str) -> Any:
        row = conn.execute(sa.select(frontier_submissions).where(frontier_submissions.c.id == submission_id)).first()
        if row is None:
            raise NotFound(f"no submission with id {submission_id!r}")
        self._model_row(conn, principal, row.model_id)  # same visibility as the model
        return row

    def move_release(self, principal: Actor, submission_id: str, new_release_on: date, reason: str) -> dict[str, Any]:
        """The developer moves its partner release. Earlier shrinks the window; it is recorded, never refused."""
        rules.require_developer(principal)
        with self.audit.writing() as conn:
            row = self._submission_row(conn, principal, submission_id)
            rules.require_developer_of(principal, self._model_row(conn, principal, row.model_id).developer_org_id)
            _require_active(row)
            moved, change = window_rules.move_release(
                ReviewWindow(row.opens_on, row.partner_release_on), new_release_on, self.today(), reason
            )
            change_json = {
                "on": change.on.isoformat(),
                "by": actor_of(principal),
                "partner_release_from": change.partner_release_from.isoformat(),
                "partner_release_to": change.partner_release_to.isoformat(),
                "opens_from": change.opens_from.isoformat(),
                "opens_to": change.opens_to.isoformat(),
                "window_shrank_by_days": change.window_shrank_by_days,
                "reason": reason,
            }
            conn.execute(
                sa.update(frontier_submissions)
                .where(frontier_submissions.c.id == submission_id)
                .values(
                    opens_on=moved.opens_on,
                    partner_release_on=moved.partner_release_on,
                    milestones=_milestones(moved, row.milestones),
                    plan_changes=[*row.plan_changes, change_json],
                    updated_at=self.clock(),
                )
            )
            conn.execute(
                sa.update(frontier_models)
                .where(frontier_models.c.id == row.model_id)
                .values(planned_partner_release=moved.partner_release_on)
            )
            details = {"submission_id": submission_id, **change_json}
            self.audit.append(
                conn, actor_of(principal), "frontier.submission.release-moved", SUBJECT, row.model_id, details
            )
        return self.submission(principal, submission_id)

    def complete_milestone(
        self, principal: Actor, submission_id: str, milestone: Milestone, note: str
    ) -> dict[str, Any]:
        """Mark a milestone done; access confirmed, plan agreed and final report also move the lifecycle on."""
        rules.require_evaluator(principal)
        now = self.clock()
        with self.audit.writing() as conn:
            row = self._submission_row(conn, principal, submission_id)
            state = SubmissionState(row.state)
            if milestone in window_rules.STATE_AFTER_MILESTONE:
                target = window_rules.STATE_AFTER_MILESTONE[milestone]
                window_rules.transition(state, target, actor_of(principal), note, now)
                state = target
            else:
                _require_active(row)
            milestones = dict(row.milestones)
            milestones[milestone.value] = {
                **milestones[milestone.value],
                "completed_at": now.isoformat(),
                "completed_by": actor_of(principal),
            }
            conn.execute(
                sa.update(frontier_submissions)
                .where(frontier_submissions.c.id == submission_id)
                .values(state=state.value, milestones=milestones, updated_at=now)
            )
            details = {"submission_id": submission_id, "milestone": milestone.value, "state": state.value, "note": note}
            self.audit.append(conn, actor_of(principal), "frontier.milestone.completed", SUBJECT, row.model_id, details)
        return self.submission(principal, submission_id)

    def withdraw(self, principal: Actor, submission_id: str, reason: str) -> dict[str, Any]:
        """The developer takes its offer back, at any point; open grants are revoked with it."""
        rules.require_developer(principal)
        now = self.clock()
        with self.audit.writing() as conn:
            row = self._submission_row(conn, principal, submission_id)
            rules.require_developer_of(principal, self._model_row(conn, principal, row.model_id).developer_org_id)
            window_rules.transition(
                SubmissionState(row.state), SubmissionState.WITHDRAWN, actor_of(principal), reason, now
            )
            conn.execute(
                sa.update(frontier_submissions)
                .where(frontier_submissions.c.id == submission_id)
                .values(state=SubmissionState.WITHDRAWN.value, updated_at=now)
            )
            conn.execute(
                sa.update(frontier_grants)
                .where(
                    frontier_grants.c.submission_id == submission_id,
                    frontier_grants.c.state.in_([GrantState.NOMINATED.value, GrantState.APPROVED.value]),
                )
                .values(state=GrantState.REVOKED.value, updated_at=now)
            )
            details = {"submission_id": submission_id, "from": row.state, "reason": reason}
            self.audit.append(
                conn, actor_of(principal), "frontier.submission.withdrawn", SUBJECT, row.model_id, details
            )
        return self.submission(principal, submission_id)

    def reminders(self, actor: Actor, today: date | None = None) -> list[dict[str, Any]]:
        """Milestone reminders for every active submission (for `clearinghouse frontier reminders`)."""
        rules.require_evaluator(actor)
        today = today or self.today()
        active = [SubmissionState.OFFERED, SubmissionState.ACCESS_CONFIRMED, SubmissionState.IN_EVALUATION]
        query = (
            sa.select(frontier_submissions, frontier_models.c.name, frontier_models.c.version)
            .join(frontier_models, frontier_models.c.id == frontier_submissions.c.model_id)
            .where(frontier_submissions.c.state.in_([s.value for s in active]))
            .order_by(frontier_submissions.c.partner_release_on)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        out: list[dict[str, Any]] = []
        for row in rows:
            due = {Milestone(k): date.fromisoformat(v["due_on"]) for k, v in row.milestones.items()}
            done = {Milestone(k) for k, v in row.milestones.items() if v.get("completed_at")}
            for reminder in window_rules.due_reminders(due, done, today):
                out.append(views.reminder_json(row, reminder))
        return out

    # Early-access grants --------------------------------------------------------------------------------------

    def nominate(
        self,
        principal: Actor,
        submission_id: str,
        partner: str,
        justification: str,
        starts_on: date,
        ends_on: date,
    ) -> dict[str, Any]:
        """Nominate a critical-infrastructure partner (by organisation name) for early access to this model."""
        grant_id = str(uuid.uuid4())
        now = self.clock()
        with self.audit.writing() as conn:
            row = self._submission_row(conn, principal, submission_id)
            rules.require_nominator(principal, self._model_row(conn, principal, row.model_id).developer_org_id)
            _require_active(row)
            # One answer whether the name is unknown or names another kind of organisation: a nomination
            # reveals neither that an organisation exists nor its kind.
            partner_org = conn.execute(
                sa.select(organisations).where(
                    organisations.c.name == partner, organisations.c.kind == OrgKind.CRITICAL_INFRASTRUCTURE.value
                )
            ).first()
            if partner_org is None:
                raise grant_rules.GrantRefused(f"no critical-infrastructure partner organisation named {partner!r}")
            window = ReviewWindow(row.opens_on, row.partner_release_on)
            grant_rules.check_nomination(OrgKind(partner_org.kind), window, starts_on, ends_on)
            conn.execute(
                frontier_grants.insert().values(
                    id=grant_id,
                    submission_id=submission_id,
                    model_id=row.model_id,
                    partner_org_id=partner_org.id,
                    sector=partner_org.sector,
                    justification=justification,
                    state=GrantState.NOMINATED.value,
                    starts_on=starts_on,
                    ends_on=ends_on,
                    nominated_by=actor_of(principal),
                    created_at=now,
                    updated_at=now,
                )
            )
            details = {
                "grant_id": grant_id,
                "partner": partner,
                "sector": partner_org.sector,
                "starts_on": starts_on.isoformat(),
                "ends_on": ends_on.isoformat(),
            }
            self.audit.append(conn, actor_of(principal), "frontier.grant.nominated", SUBJECT, row.model_id, details)
        return self.grant(principal, grant_id)

    def grant(self, principal: Actor, grant_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = self._grant_row(conn, principal, grant_id)
        return views.grant_json(row)

    def _grant_row(self, conn: sa.Connection, actor: Actor, grant_id: str) -> Any:
        """The grant's row if the actor may see it (its partner, or whoever sees its model); `NotFound` otherwise."""
        row = conn.execute(
            sa.select(frontier_grants, organisations.c.name.label("partner"), frontier_models.c.developer_org_id)
            .join(organisations, organisations.c.id == frontier_grants.c.partner_org_id)
            .join(frontier_models, frontier_models.c.id == frontier_grants.c.model_id)
            .where(frontier_grants.c.id == grant_id)
        ).first()
        if row is None or not rules.grant_visible(actor, row.partner_org_id, row.developer_org_id):
            raise NotFound(f"no early-access grant with id {grant_id!r}")
        return row

    def decide_grant(self, principal: Actor, grant_id: str, target: GrantState, reason: str) -> dict[str, Any]:
        """Approve or decline (the developer), or revoke (the developer or a government evaluator)."""
        if target is GrantState.REVOKED:
            rules.require_scope(principal, Scope.FRONTIER_NOMINATE)
        else:
            rules.require_developer(principal)
        now = self.clock()
        with self.audit.writing() as conn:
            row = self._grant_row(conn, principal, grant_id)
            model = self._model_row(conn, principal, row.model_id)
            if target is GrantState.REVOKED:
                rules.require_nominator(principal, model.developer_org_id)
            else:
                rules.require_developer_of(principal, model.developer_org_id)
            grant_rules.transition(GrantState(row.state), target, actor_of(principal), reason, now)
            conn.execute(
                sa.update(frontier_grants)
                .where(frontier_grants.c.id == grant_id)
                .values(state=target.value, updated_at=now)
            )
            details = {"grant_id": grant_id, "from": row.state, "to": target.value, "reason": reason}
            self.audit.append(
                conn, actor_of(principal), f"frontier.grant.{target.value}", SUBJECT, row.model_id, details
            )
        return self.grant(principal, grant_id)

    def use_grant(self, actor: Actor, grant_id: str, purpose: str) -> dict[str, Any]:
        """A partner uses its grant. Every attempt is audited; a refused one answers `EarlyAccessDenied`.

        Another organisation's grant is, to this caller, a grant that does not exist (`NotFound`, as for a missing
        id). The attempt is still audited, under the grant itself rather than on the model's timeline, which the
        developer reads and which must not name other organisations' attempts."""
        principal = rules.require_partner(actor)
        today = self.today()
        details: dict[str, Any] = {"grant_id": grant_id, "purpose": purpose, "partner": principal.organisation.name}
        with self.audit.writing() as conn:
            row = conn.execute(sa.select(frontier_grants).where(frontier_grants.c.id == grant_id)).first()
            foreign = row is not None and not rules.holds_grant(principal, row.partner_org_id)
            if foreign:
                self.audit.append(
                    conn, actor_of(principal), "frontier.grant.access-denied", GRANT_SUBJECT, grant_id, details
                )
            if row is None or foreign:
                why: str | None = None
            else:
                why = grant_rules.usable(GrantState(row.state), row.starts_on, row.ends_on, today)
                action = "frontier.grant.access" if why is None else "frontier.grant.access-denied"
                self.audit.append(
                    conn,
                    actor_of(principal),
                    action,
                    SUBJECT,
                    row.model_id,
                    details if why is None else details | {"why": why},
                )
                endpoint = conn.execute(
                    sa.select(frontier_submissions.c.access_method).where(
                        frontier_submissions.c.id == row.submission_id
                    )
                ).scalar_one()["endpoint_ref"]
        # The denial's audit entry is committed above; only then is the caller refused.
        if row is None or foreign:
            raise NotFound(f"no early-access grant with id {grant_id!r}")
        if why is not None:
            raise EarlyAccessDenied(f"early access refused: {why}")
        return {
            "grant_id": grant_id,
            "model_id": row.model_id,
            "endpoint_ref": endpoint,
            "ends_on": row.ends_on.isoformat(),
        }

    # Evaluation runs, findings, report ------------------------------------------------------------------------

    def record_evaluation_run(
        self,
        actor: Actor,
        model_id: str,
        suite: str,
        run_id: str,
        metrics: Mapping[str, Any],
        log_location: str | None = None,
    ) -> dict[str, Any]:
        """Attach one evaluation run's metrics ({name: value} or {name: {value, ci_low, ci_high}}) to a model:
        government evaluators over HTTP, the operator's evaluation harness locally."""
        rules.require_evaluator(actor)
        recorded_by = actor_name(actor)
        normalised = metric_values(metrics)
        row_id = str(uuid.uuid4())
        now = self.clock()
        with self.audit.writing() as conn:
            self._model_row(conn, actor, model_id)
            conn.execute(
                evaluation_runs.insert().values(
                    id=row_id,
                    model_id=model_id,
                    suite=suite,
                    run_id=run_id,
                    log_location=log_location,
                    metrics=normalised,
                    recorded_by=recorded_by,
                    created_at=now,
                )
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

    def evaluation_runs(self, principal: Actor, model_id: str) -> list[dict[str, Any]]:
        rules.require_frontier_reader(principal)
        with self.engine.connect() as conn:
            self._model_row(conn, principal, model_id)
            rows = conn.execute(
                sa.select(evaluation_runs)
                .where(evaluation_runs.c.model_id == model_id)
                .order_by(evaluation_runs.c.created_at)
            ).all()
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
    ) -> dict[str, Any]:
        rules.require_evaluator(principal)
        if severity not in SEVERITIES:
            raise FrontierConflict(f"severity must be one of {', '.join(SEVERITIES)}")
        finding_id = str(uuid.uuid4())
        with self.audit.writing() as conn:
            self._model_row(conn, principal, model_id)
            conn.execute(
                frontier_findings.insert().values(
                    id=finding_id,
                    model_id=model_id,
                    severity=severity,
                    capability_area=capability_area,
                    title=title,
                    description=description,
                    evaluation_run_id=evaluation_run_id,
                    recorded_by=actor_of(principal),
                    created_at=self.clock(),
                )
            )
            details = {"finding_id": finding_id, "severity": severity, "capability_area": capability_area}
            self.audit.append(conn, actor_of(principal), "frontier.finding.recorded", SUBJECT, model_id, details)
        return self.findings(principal, model_id)[-1]

    def findings(self, principal: Actor, model_id: str) -> list[dict[str, Any]]:
        rules.require_frontier_reader(principal)
        with self.engine.connect() as conn:
            self._model_row(conn, principal, model_id)
            rows = conn.execute(
                sa.select(frontier_findings)
                .where(frontier_findings.c.model_id == model_id)
                .order_by(frontier_findings.c.created_at)
            ).all()
        return [views.finding_json(row) for row in rows]

    def report_data(self, principal: Actor, model_id: str) -> dict[str, Any]:
        """Everything the final review report shows, as the caller may see it (the CLI acts as the operator)."""
        rules.require_frontier_reader(principal)
        cleared = rules.sees_restricted(principal)
        classified = rules.sees_classified_reviews(principal)
        with self.engine.connect() as conn:
            model = views.model_json(self._model_row(conn, principal, model_id))
            query = sa.select(frontier_determinations).where(frontier_determinations.c.model_id == model_id)
            if not cleared:
                query = query.where(frontier_determinations.c.restricted.is_(False))
            determinations = [
                views.determination_json(r) for r in conn.execute(query.order_by(frontier_determinations.c.decided_at))
            ]
            submissions = conn.execute(
                sa.select(frontier_submissions)
                .where(frontier_submissions.c.model_id == model_id)
                .order_by(frontier_submissions.c.created_at)
            ).all()
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


def _criteria_key(criteria_id: str, version: int) -> sa.ColumnElement[bool]:
    return sa.and_(frontier_criteria_sets.c.criteria_id == criteria_id, frontier_criteria_sets.c.version == version)


def _require_active(submission: Any) -> None:
    if submission.state in SUBMISSION_FINAL:
        raise IllegalTransition(f"the submission is {submission.state}; nothing more can change")


def _access_method(offer: AccessOffer) -> dict[str, Any]:
    # A credential is never stored in clear: only its digest (to check a later hand-over) or a vault reference.
    method: dict[str, Any] = {"endpoint_ref": offer.endpoint_ref}
    if offer.secret is not None:
        method["secret_sha256"] = hashlib.sha256(offer.secret.encode()).hexdigest()
    if offer.secret_ref is not None:
        method["secret_ref"] = offer.secret_ref
    return method


def _milestones(window: ReviewWindow, previous: Mapping[str, Any]) -> dict[str, Any]:
    return {
        milestone.value: {**previous.get(milestone.value, {}), "due_on": due_on.isoformat()}
        for milestone, due_on in window.milestones().items()
    }


def _headline(determinations: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The determination a report leads with: the latest government one, else the latest self-assessment."""
    government = [d for d in determinations if d["basis"] == "government-evaluation"]
    chosen = government or determinations
    return chosen[-1] if chosen else None


def _timeline_details(details: Mapping[str, Any], cleared: bool) -> dict[str, Any]:
    if cleared or not details.get("restricted"):
        return dict(details)
    return {"restricted": True}
