"""The typed read models the frontier services answer with (API bodies, CLI output, report data).

They are `TypedDict`s: JSON-shaped, so the CLI, the report templates and the API use them as they are, and typed,
so mypy checks every key and the API's OpenAPI document states each response's schema.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from typing_extensions import TypedDict  # pydantic needs this one below Python 3.12

from clearinghouse.frontier import window as window_rules
from clearinghouse.frontier.window import Reminder, ReviewWindow


class CriteriaView(TypedDict):
    id: str
    version: int
    key: str
    title: str
    status: str
    effective_date: str | None
    supersedes: str | None
    issuing_agencies: list[str]
    content_hash: str
    published_by: str


class ModelView(TypedDict):
    id: str
    name: str
    version: str
    developer: str
    modality: str
    training_compute_flop: float | None
    planned_partner_release: str | None
    planned_public_release: str | None
    registered_by: str
    created_at: str | None


class DeterminationView(TypedDict):
    id: str
    model_id: str
    criteria: str
    basis: str
    coverage: str
    results: list[dict[str, Any]]
    restricted: bool
    decided_by: str
    decided_at: str | None
    gates_release: bool


class DeterminationMade(TypedDict):
    """A determination as it is made: the outcome with every criterion explained."""

    id: str
    model: str
    criteria: str
    rule: str
    coverage: str
    results: list[dict[str, Any]]
    missing: list[str]
    decided_by: str
    decided_at: str
    gates_release: bool
    basis: str
    restricted: bool


class WindowView(TypedDict):
    opens_on: str
    partner_release_on: str
    days: int
    max_days: int


class SubmissionView(TypedDict):
    id: str
    model_id: str
    state: str
    window: WindowView
    access_method: dict[str, Any]
    contacts: list[dict[str, Any]]
    milestones: dict[str, dict[str, Any]]
    plan_changes: list[dict[str, Any]]
    offered_by: str
    release_gated: bool


class GrantView(TypedDict):
    id: str
    submission_id: str
    model_id: str
    partner: str
    sector: str | None
    justification: str
    state: str
    starts_on: str | None
    ends_on: str | None
    nominated_by: str


class GrantAccess(TypedDict):
    grant_id: str
    model_id: str
    endpoint_ref: str
    ends_on: str


class MetricView(TypedDict):
    value: float | None
    ci_low: float | None
    ci_high: float | None


class RunView(TypedDict):
    id: str
    model_id: str
    suite: str
    run_id: str
    log_location: str | None
    metrics: dict[str, MetricView]
    recorded_by: str
    created_at: str | None


class FindingView(TypedDict):
    id: str
    severity: str
    capability_area: str
    title: str
    description: str
    evaluation_run_id: str | None
    recorded_by: str
    created_at: str | None


class ClassifiedReviewView(TypedDict):
    id: str
    model_id: str
    authority: str
    holder: str
    designation: str | None


class ReminderView(TypedDict):
    submission_id: str
    model: str
    milestone: str
    due_on: str
    days_left: int
    overdue: bool
    message: str


class CriteriaPage(TypedDict):
    criteria: list[CriteriaView]
    total: int
    next_cursor: str | None


class DeterminationPage(TypedDict):
    determinations: list[DeterminationView]
    total: int
    next_cursor: str | None


class RunPage(TypedDict):
    evaluation_runs: list[RunView]
    total: int
    next_cursor: str | None


class ReminderPage(TypedDict):
    reminders: list[ReminderView]
    total: int
    next_cursor: str | None


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def iso(value: date | datetime | None) -> str | None:
    if isinstance(value, datetime):
        return utc(value).isoformat()  # type: ignore[union-attr]
    return value.isoformat() if value is not None else None


def criteria_json(row: Any) -> CriteriaView:
    return {
        "id": row.criteria_id,
        "version": row.version,
        "key": f"{row.criteria_id}@{row.version}",
        "title": row.title,
        "status": row.status,
        "effective_date": iso(row.effective_date),
        "supersedes": row.supersedes,
        "issuing_agencies": row.document.get("issuing_agencies", []),
        "content_hash": row.content_hash,
        "published_by": row.published_by,
    }


def model_json(row: Any) -> ModelView:
    return {
        "id": row.id,
        "name": row.name,
        "version": row.version,
        "developer": row.developer,
        "modality": row.modality,
        "training_compute_flop": row.training_compute_flop,
        "planned_partner_release": iso(row.planned_partner_release),
        "planned_public_release": iso(row.planned_public_release),
        "registered_by": row.registered_by,
        "created_at": iso(row.created_at),
    }


def determination_json(row: Any) -> DeterminationView:
    return {
        "id": row.id,
        "model_id": row.model_id,
        "criteria": f"{row.criteria_id}@{row.criteria_version}",
        "basis": row.basis,
        "coverage": row.coverage,
        "results": row.results,
        "restricted": row.restricted,
        "decided_by": row.decided_by,
        "decided_at": iso(row.decided_at),
        "gates_release": False,
    }


def submission_json(row: Any) -> SubmissionView:
    window = ReviewWindow(row.opens_on, row.partner_release_on)
    return {
        "id": row.id,
        "model_id": row.model_id,
        "state": row.state,
        "window": {
            "opens_on": row.opens_on.isoformat(),
            "partner_release_on": row.partner_release_on.isoformat(),
            "days": window.days,
            "max_days": window_rules.MAX_ACCESS_DAYS_BEFORE_PARTNER_RELEASE,
        },
        "access_method": row.access_method,
        "contacts": row.contacts,
        "milestones": row.milestones,
        "plan_changes": row.plan_changes,
        "offered_by": row.offered_by,
        # The release date is the developer's; nothing in the review can hold it back.
        "release_gated": False,
    }


def grant_json(row: Any) -> GrantView:
    return {
        "id": row.id,
        "submission_id": row.submission_id,
        "model_id": row.model_id,
        "partner": row.partner,
        "sector": row.sector,
        "justification": row.justification,
        "state": row.state,
        "starts_on": iso(row.starts_on),
        "ends_on": iso(row.ends_on),
        "nominated_by": row.nominated_by,
    }


def run_json(row: Any) -> RunView:
    return {
        "id": row.id,
        "model_id": row.model_id,
        "suite": row.suite,
        "run_id": row.run_id,
        "log_location": row.log_location,
        "metrics": row.metrics,
        "recorded_by": row.recorded_by,
        "created_at": iso(row.created_at),
    }


def finding_json(row: Any) -> FindingView:
    return {
        "id": row.id,
        "severity": row.severity,
        "capability_area": row.capability_area,
        "title": row.title,
        "description": row.description,
        "evaluation_run_id": row.evaluation_run_id,
        "recorded_by": row.recorded_by,
        "created_at": iso(row.created_at),
    }


def reminder_json(row: Any, reminder: Reminder) -> ReminderView:
    return {
        "submission_id": row.id,
        "model": f"{row.name} {row.version}",
        "milestone": reminder.milestone.value,
        "due_on": reminder.due_on.isoformat(),
        "days_left": reminder.days_left,
        "overdue": reminder.overdue,
        "message": reminder.message(),
    }
