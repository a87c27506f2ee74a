"""Frontier-model pre-release review over HTTP: criteria, models, determinations, the voluntary review window,
critical-infrastructure early-access grants, evaluation runs, findings and the final report.

Who is who: AI-developer organisations' users hold role `vendor` (a developer is the vendor of its model) and
the service checks the organisation kind; government evaluators hold `evaluator` (cleared ones keep scope
`frontier:restricted`); critical-infrastructure partners hold `partner`. Nothing here licenses or blocks a release.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from clearinghouse.api.auth import access_note, authorised
from clearinghouse.api.paging import DEFAULT_LIMIT, Cursor, Limit
from clearinghouse.frontier.grants import GrantState
from clearinghouse.frontier.report import render_html, render_pdf
from clearinghouse.frontier.service import AccessOffer, FrontierService, ModelRegistration
from clearinghouse.frontier.views import (
    ClassifiedReviewView,
    CriteriaPage,
    CriteriaView,
    DeterminationMade,
    DeterminationPage,
    FindingView,
    GrantAccess,
    GrantView,
    ModelView,
    ReminderPage,
    RunPage,
    RunView,
    SubmissionView,
)
from clearinghouse.frontier.window import MAX_ACCESS_DAYS_BEFORE_PARTNER_RELEASE, Milestone
from clearinghouse.identity.model import Principal, Scope
from clearinghouse.policy import Actor, rules
from clearinghouse.store.pages import slice_page

router = APIRouter(prefix="/api/v1/frontier", tags=["frontier"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        # PostgreSQL text cannot hold NUL: refused here as 422 rather than failing in the database as 500.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("NUL characters are not accepted")
        return value


class CriteriaUpload(_Body):
    yaml: Annotated[str, Field(min_length=10, max_length=200_000)]
    file: str = "<upload>"


class ModelIn(_Body):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    version: Annotated[str, Field(min_length=1, max_length=100)]
    modality: Annotated[str, Field(min_length=1, max_length=100)]
    training_compute_flop: Annotated[float, Field(gt=0)] | None = None
    planned_partner_release: date | None = None
    planned_public_release: date | None = None


class DeterminationRequest(_Body):
    criteria_id: Annotated[str, Field(min_length=1, max_length=200)]
    # The column is a 32-bit integer on PostgreSQL: a larger number is refused here, not by the database.
    criteria_version: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    restricted: bool = False


class ClassifiedReviewIn(_Body):
    """Only that a review exists and who holds it: there is no field for its content, and extra fields are refused."""

    authority: Literal["NSA"] = "NSA"
    holder: Annotated[str, Field(min_length=1, max_length=200)]


class ClassifiedConclusion(_Body):
    designation: Annotated[str, Field(max_length=200)] | None


class Contact(_Body):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    email: Annotated[str, Field(min_length=3, max_length=200)]
    role: Annotated[str, Field(max_length=100)] = ""


class OfferIn(_Body):
    partner_release_on: date
    # Not capped here: the domain refuses more than 30 days with a message citing the order.
    access_days: Annotated[int, Field(ge=1, le=366)] = MAX_ACCESS_DAYS_BEFORE_PARTNER_RELEASE
    endpoint_ref: Annotated[str, Field(min_length=3, max_length=500)]
    secret: Annotated[str, Field(max_length=4000)] | None = None
    secret_ref: Annotated[str, Field(max_length=500)] | None = None
    contacts: list[Contact] = []


class ReleaseChange(_Body):
    partner_release_on: date
    reason: Annotated[str, Field(min_length=3, max_length=2000)]


class Reason(_Body):
    reason: Annotated[str, Field(min_length=3, max_length=2000)]


class MilestoneDone(_Body):
    note: Annotated[str, Field(min_length=3, max_length=2000)]


class Nomination(_Body):
    partner: Annotated[str, Field(min_length=1, max_length=200, description="the partner organisation's name")]
    justification: Annotated[str, Field(min_length=10, max_length=4000)]
    starts_on: date
    ends_on: date


class GrantUse(_Body):
    purpose: Annotated[str, Field(min_length=3, max_length=2000)]


class MetricIn(_Body):
    value: float
    ci_low: float | None = None
    ci_high: float | None = None


class EvaluationRunIn(_Body):
    suite: Annotated[str, Field(min_length=1, max_length=100)]
    run_id: Annotated[str, Field(min_length=1, max_length=200)]
    log_location: Annotated[str, Field(max_length=2000)] | None = None
    metrics: dict[str, MetricIn]


class FindingIn(_Body):
    severity: Literal["low", "medium", "high", "critical"]
    capability_area: Annotated[str, Field(min_length=1, max_length=64)]
    title: Annotated[str, Field(min_length=3, max_length=300)]
    description: Annotated[str, Field(min_length=3, max_length=20_000)]
    evaluation_run_id: str | None = None


def frontier_service(request: Request) -> FrontierService:
    return FrontierService(request.app.state.engine)


Service = Annotated[FrontierService, Depends(frontier_service)]


def _nominator(actor: Actor) -> None:
    rules.require_scope(actor, Scope.FRONTIER_NOMINATE)


Reader = Annotated[Principal, Depends(authorised(rules.require_frontier_reader))]
Developer = Annotated[Principal, Depends(authorised(rules.require_developer))]
Nominator = Annotated[Principal, Depends(authorised(_nominator))]
Evaluator = Annotated[Principal, Depends(authorised(rules.require_evaluator))]
Cleared = Annotated[Principal, Depends(authorised(rules.require_cleared))]
Partner = Annotated[Principal, Depends(authorised(rules.require_partner))]

_DEV = access_note("an AI-developer organisation's token with scope `frontier:submit`, on its own models")
_EVAL = access_note("a government-evaluator or clearinghouse organisation's token with scope `frontier:evaluate`")
_CLEARED = access_note(
    "a government-evaluator or clearinghouse organisation's token with scope `frontier:restricted` (cleared)"
)
_READ = access_note(
    "a token with scope `frontier:read`: developers see their own models, government evaluators and "
    "clearinghouse staff all"
)
_NOMINATE = access_note("a token with scope `frontier:nominate`: the model's developer or a government evaluator")


@router.post("/criteria", status_code=201, description="Store a criteria version (YAML). " + _EVAL)
def publish_criteria(body: CriteriaUpload, service: Service, principal: Evaluator) -> CriteriaView:
    return service.publish_criteria(principal, body.yaml, body.file)


@router.get("/criteria", description="Every stored criteria version. " + access_note("scope `frontier:read`"))
def list_criteria(
    service: Service, principal: Reader, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> CriteriaPage:
    page, total, next_cursor = slice_page("criteria", service.list_criteria(principal), limit, cursor)
    return CriteriaPage(criteria=page, total=total, next_cursor=next_cursor)


@router.post("/models", status_code=201, description="Register a model. " + _DEV)
def register_model(body: ModelIn, service: Service, principal: Developer) -> ModelView:
    return service.register_model(principal, ModelRegistration(**body.model_dump()))


@router.get("/models/{model_id}", description="A registered model. " + _READ)
def get_model(model_id: str, service: Service, principal: Reader) -> ModelView:
    return service.model(principal, model_id)


@router.post(
    "/models/{model_id}/self-assessment",
    status_code=201,
    description="The developer applies a criteria version to its own model (the order's self-identification). " + _DEV,
)
def self_assess(model_id: str, body: DeterminationRequest, service: Service, principal: Developer) -> DeterminationMade:
    return service.determine(principal, model_id, body.criteria_id, body.criteria_version, body.restricted)


@router.post(
    "/models/{model_id}/determinations",
    status_code=201,
    description="A government determination; `restricted` ones need frontier:restricted. " + _EVAL,
)
def government_determination(
    model_id: str, body: DeterminationRequest, service: Service, principal: Evaluator
) -> DeterminationMade:
    return service.determine(principal, model_id, body.criteria_id, body.criteria_version, body.restricted)


@router.get(
    "/models/{model_id}/determinations",
    description="Determinations; restricted ones only for cleared evaluators (frontier:restricted). " + _READ,
)
def list_determinations(
    model_id: str, service: Service, principal: Reader, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> DeterminationPage:
    found = service.determinations(principal, model_id)
    page, total, next_cursor = slice_page("determinations", found, limit, cursor)
    return DeterminationPage(determinations=page, total=total, next_cursor=next_cursor)


@router.post(
    "/models/{model_id}/classified-reviews",
    status_code=201,
    description="Record that an NSA classified review exists and who holds it (never its content). " + _CLEARED,
)
def open_classified_review(
    model_id: str, body: ClassifiedReviewIn, service: Service, principal: Cleared
) -> ClassifiedReviewView:
    return service.open_classified_review(principal, model_id, body.authority, body.holder)


@router.post(
    "/classified-reviews/{review_id}/conclusion",
    description="Record the designation a classified review ended with (or none). " + _CLEARED,
)
def conclude_classified_review(
    review_id: str, body: ClassifiedConclusion, service: Service, principal: Cleared
) -> ClassifiedReviewView:
    return service.conclude_classified_review(principal, review_id, body.designation)


@router.post(
    "/models/{model_id}/submissions",
    status_code=201,
    description="Voluntarily offer access: up to 30 days before the planned partner release (the order). The "
    "release date stays the developer's; the review never blocks it. " + _DEV,
)
def offer_access(model_id: str, body: OfferIn, service: Service, principal: Developer) -> SubmissionView:
    offer = AccessOffer(
        partner_release_on=body.partner_release_on,
        endpoint_ref=body.endpoint_ref,
        access_days=body.access_days,
        secret=body.secret,
        secret_ref=body.secret_ref,
        contacts=[c.model_dump() for c in body.contacts],
    )
    return service.offer(principal, model_id, offer)


@router.get("/submissions/{submission_id}", description="A submission and its window. " + _READ)
def get_submission(submission_id: str, service: Service, principal: Reader) -> SubmissionView:
    return service.submission(principal, submission_id)


@router.post(
    "/submissions/{submission_id}/release-date",
    description="Move the planned partner release. Earlier shrinks the window and is recorded, never refused. " + _DEV,
)
def move_release(submission_id: str, body: ReleaseChange, service: Service, principal: Developer) -> SubmissionView:
    return service.move_release(principal, submission_id, body.partner_release_on, body.reason)


@router.post("/submissions/{submission_id}/withdraw", description="Withdraw the offer, at any time. " + _DEV)
def withdraw(submission_id: str, body: Reason, service: Service, principal: Developer) -> SubmissionView:
    return service.withdraw(principal, submission_id, body.reason)


@router.post(
    "/submissions/{submission_id}/milestones/{milestone}",
    description="Mark a milestone done (access confirmed, plan agreed, interim findings, final report). " + _EVAL,
)
def complete_milestone(
    submission_id: str, milestone: Milestone, body: MilestoneDone, service: Service, principal: Evaluator
) -> SubmissionView:
    return service.complete_milestone(principal, submission_id, milestone, body.note)


@router.get("/reminders", description="Milestones due soon or overdue across open windows. " + _EVAL)
def reminders(
    service: Service, principal: Evaluator, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> ReminderPage:
    page, total, next_cursor = slice_page("reminders", service.reminders(principal), limit, cursor)
    return ReminderPage(reminders=page, total=total, next_cursor=next_cursor)


@router.post(
    "/submissions/{submission_id}/grants",
    status_code=201,
    description="Nominate a critical-infrastructure partner for early access inside the window. " + _NOMINATE,
)
def nominate(submission_id: str, body: Nomination, service: Service, principal: Nominator) -> GrantView:
    return service.nominate(principal, submission_id, body.partner, body.justification, body.starts_on, body.ends_on)


@router.post("/grants/{grant_id}/approve", description="The developer approves a nomination. " + _DEV)
def approve_grant(grant_id: str, body: Reason, service: Service, principal: Developer) -> GrantView:
    return service.decide_grant(principal, grant_id, GrantState.APPROVED, body.reason)


@router.post("/grants/{grant_id}/decline", description="The developer declines a nomination. " + _DEV)
def decline_grant(grant_id: str, body: Reason, service: Service, principal: Developer) -> GrantView:
    return service.decide_grant(principal, grant_id, GrantState.DECLINED, body.reason)


@router.post("/grants/{grant_id}/revoke", description="Revoke a grant at any time. " + _NOMINATE)
def revoke_grant(grant_id: str, body: Reason, service: Service, principal: Nominator) -> GrantView:
    return service.decide_grant(principal, grant_id, GrantState.REVOKED, body.reason)


@router.post(
    "/grants/{grant_id}/access",
    description="A partner uses its own grant; every attempt is audited, a revoked or expired grant answers 403 "
    "and another organisation's grant 404, like a missing one. "
    + access_note("a critical-infrastructure partner's token with scope `frontier:early-access`"),
)
def use_grant(grant_id: str, body: GrantUse, service: Service, principal: Partner) -> GrantAccess:
    return service.use_grant(principal, grant_id, body.purpose)


@router.post(
    "/models/{model_id}/evaluations",
    status_code=201,
    description="Attach an evaluation run's metrics ({name: {value, ci_low, ci_high}}). " + _EVAL,
)
def record_evaluation(model_id: str, body: EvaluationRunIn, service: Service, principal: Evaluator) -> RunView:
    metrics = {name: metric.model_dump() for name, metric in body.metrics.items()}
    return service.record_evaluation_run(principal, model_id, body.suite, body.run_id, metrics, body.log_location)


@router.get("/models/{model_id}/evaluations", description="Evaluation runs of a model. " + _READ)
def list_evaluations(
    model_id: str, service: Service, principal: Reader, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> RunPage:
    found = service.evaluation_runs(principal, model_id)
    page, total, next_cursor = slice_page("evaluation-runs", found, limit, cursor)
    return RunPage(evaluation_runs=page, total=total, next_cursor=next_cursor)


@router.post("/models/{model_id}/findings", status_code=201, description="Record a finding. " + _EVAL)
def add_finding(model_id: str, body: FindingIn, service: Service, principal: Evaluator) -> FindingView:
    return service.add_finding(
        principal,
        model_id,
        body.severity,
        body.capability_area,
        body.title,
        body.description,
        body.evaluation_run_id,
    )


@router.get(
    "/models/{model_id}/report",
    description="The final review report as HTML (default) or PDF (`?format=pdf`). " + _READ,
    response_class=Response,
    responses={
        200: {
            "description": "The report",
            "content": {
                "text/html": {"schema": {"type": "string"}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
def final_report(
    model_id: str, service: Service, principal: Reader, format: Literal["html", "pdf"] = "html"
) -> Response:
    data = service.report_data(principal, model_id)
    if format == "pdf":
        return Response(render_pdf(data), media_type="application/pdf")
    return Response(render_html(data), media_type="text/html; charset=utf-8")
