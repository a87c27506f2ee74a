"""The JSON shapes the frontier service answers with (API bodies, CLI output, report data)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from clearinghouse.frontier import window as window_rules
from clearinghouse.frontier.window import Reminder, ReviewWindow


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def iso(value: date | datetime | None) -> str | None:
    if isinstance(value, datetime):
        return utc(value).isoformat()  # type: ignore[union-attr]
    return value.isoformat() if value is not None else None


def criteria_json(row: Any) -> dict[str, Any]:
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


def model_json(row: Any) -> dict[str, Any]:
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


def determination_json(row: Any) -> dict[str, Any]:
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


def submission_json(row: Any) -> dict[str, Any]:
    window = ReviewWindow(row.opens_on, row.partner_release_on)
    return {
        "id": row.id,
        "model_id": row.model_id,
        "state": row.state,
        "window": {
            "opens_on": iso(row.opens_on),
            "partner_release_on": iso(row.partner_release_on),
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


def grant_json(row: Any) -> dict[str, Any]:
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


def run_json(row: Any) -> dict[str, Any]:
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


def finding_json(row: Any) -> dict[str, Any]:
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


def reminder_json(row: Any, reminder: Reminder) -> dict[str, Any]:
    return {
        "submission_id": row.id,
        "model": f"{row.name} {row.version}",
        "milestone": reminder.milestone.value,
        "due_on": reminder.due_on.isoformat(),
        "days_left": reminder.days_left,
        "overdue": reminder.overdue,
        "message": reminder.message(),
    }
