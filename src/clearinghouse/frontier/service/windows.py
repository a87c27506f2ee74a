"""The developer's offer of access and its review window: milestones, moved releases, withdrawal, reminders."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from clearinghouse.frontier import views
from clearinghouse.frontier import window as window_rules
from clearinghouse.frontier.service.base import SUBJECT, FrontierBase, require_active
from clearinghouse.frontier.views import ReminderView, SubmissionView
from clearinghouse.frontier.window import Milestone, ReviewWindow, SubmissionState
from clearinghouse.policy import Actor, actor_name, rules


@dataclass(frozen=True)
class AccessOffer:
    partner_release_on: date
    endpoint_ref: str
    access_days: int = window_rules.MAX_ACCESS_DAYS_BEFORE_PARTNER_RELEASE
    secret: str | None = None  # stored only as its SHA-256
    secret_ref: str | None = None  # e.g. a vault path; stored as given
    contacts: list[dict[str, str]] = field(default_factory=list)


class WindowService(FrontierBase):
    def offer(self, principal: Actor, model_id: str, offer: AccessOffer) -> SubmissionView:
        """The developer's voluntary offer of access; the window follows the order's 30-day rule."""
        rules.require_developer(principal)
        window = window_rules.plan_window(self.today(), offer.partner_release_on, offer.access_days)
        submission_id = str(uuid.uuid4())
        now = self.clock()
        with self.audit.writing() as conn:
            model = self._model_row(conn, principal, model_id)
            rules.require_developer_of(principal, model.developer_org_id)
            self.repository.insert_submission(
                conn,
                dict(
                    id=submission_id,
                    model_id=model_id,
                    state=SubmissionState.OFFERED.value,
                    opens_on=window.opens_on,
                    partner_release_on=window.partner_release_on,
                    access_method=_access_method(offer),
                    contacts=offer.contacts,
                    milestones=_milestones(window, {}),
                    plan_changes=[],
                    offered_by=actor_name(principal),
                    created_at=now,
                    updated_at=now,
                ),
            )
            self.repository.set_planned_partner_release(conn, model_id, window.partner_release_on)
            details = {
                "submission_id": submission_id,
                "opens_on": window.opens_on.isoformat(),
                "partner_release_on": window.partner_release_on.isoformat(),
                "window_days": window.days,
            }
            self.audit.append(conn, actor_name(principal), "frontier.submission.offered", SUBJECT, model_id, details)
        return self.submission(principal, submission_id)

    def submission(self, principal: Actor, submission_id: str) -> SubmissionView:
        with self.engine.connect() as conn:
            row = self._submission_row(conn, principal, submission_id)
        return views.submission_json(row)

    def submissions(self, principal: Actor, model_id: str) -> list[SubmissionView]:
        with self.engine.connect() as conn:
            self._model_row(conn, principal, model_id)
            rows = self.repository.submissions_of(conn, model_id)
        return [views.submission_json(row) for row in rows]

    def move_release(self, principal: Actor, submission_id: str, new_release_on: date, reason: str) -> SubmissionView:
        """The developer moves its partner release. Earlier shrinks the window; it is recorded, never refused."""
        rules.require_developer(principal)
        with self.audit.writing() as conn:
            row = self._submission_row(conn, principal, submission_id)
            rules.require_developer_of(principal, self._model_row(conn, principal, row.model_id).developer_org_id)
            require_active(row)
            moved, change = window_rules.move_release(
                ReviewWindow(row.opens_on, row.partner_release_on), new_release_on, self.today(), reason
            )
            change_json = {
                "on": change.on.isoformat(),
                "by": actor_name(principal),
                "partner_release_from": change.partner_release_from.isoformat(),
                "partner_release_to": change.partner_release_to.isoformat(),
                "opens_from": change.opens_from.isoformat(),
                "opens_to": change.opens_to.isoformat(),
                "window_shrank_by_days": change.window_shrank_by_days,
                "reason": reason,
            }
            self.repository.update_submission(
                conn,
                submission_id,
                dict(
                    opens_on=moved.opens_on,
                    partner_release_on=moved.partner_release_on,
                    milestones=_milestones(moved, row.milestones),
                    plan_changes=[*row.plan_changes, change_json],
                    updated_at=self.clock(),
                ),
            )
            self.repository.set_planned_partner_release(conn, row.model_id, moved.partner_release_on)
            details = {"submission_id": submission_id, **change_json}
            self.audit.append(
                conn, actor_name(principal), "frontier.submission.release-moved", SUBJECT, row.model_id, details
            )
        return self.submission(principal, submission_id)

    def complete_milestone(
        self, principal: Actor, submission_id: str, milestone: Milestone, note: str
    ) -> SubmissionView:
        """Mark a milestone done; access confirmed, plan agreed and final report also move the lifecycle on."""
        rules.require_evaluator(principal)
        now = self.clock()
        with self.audit.writing() as conn:
            row = self._submission_row(conn, principal, submission_id)
            state = SubmissionState(row.state)
            if milestone in window_rules.STATE_AFTER_MILESTONE:
                target = window_rules.STATE_AFTER_MILESTONE[milestone]
                window_rules.transition(state, target, actor_name(principal), note, now)
                state = target
            else:
                require_active(row)
            milestones = dict(row.milestones)
            milestones[milestone.value] = {
                **milestones[milestone.value],
                "completed_at": now.isoformat(),
                "completed_by": actor_name(principal),
            }
            self.repository.update_submission(
                conn, submission_id, dict(state=state.value, milestones=milestones, updated_at=now)
            )
            details = {"submission_id": submission_id, "milestone": milestone.value, "state": state.value, "note": note}
            self.audit.append(
                conn, actor_name(principal), "frontier.milestone.completed", SUBJECT, row.model_id, details
            )
        return self.submission(principal, submission_id)

    def withdraw(self, principal: Actor, submission_id: str, reason: str) -> SubmissionView:
        """The developer takes its offer back, at any point; open grants are revoked with it."""
        rules.require_developer(principal)
        now = self.clock()
        with self.audit.writing() as conn:
            row = self._submission_row(conn, principal, submission_id)
            rules.require_developer_of(principal, self._model_row(conn, principal, row.model_id).developer_org_id)
            window_rules.transition(
                SubmissionState(row.state), SubmissionState.WITHDRAWN, actor_name(principal), reason, now
            )
            self.repository.update_submission(
                conn, submission_id, dict(state=SubmissionState.WITHDRAWN.value, updated_at=now)
            )
            self.repository.revoke_open_grants(conn, submission_id, now)
            details = {"submission_id": submission_id, "from": row.state, "reason": reason}
            self.audit.append(
                conn, actor_name(principal), "frontier.submission.withdrawn", SUBJECT, row.model_id, details
            )
        return self.submission(principal, submission_id)

    def reminders(self, actor: Actor, today: date | None = None) -> list[ReminderView]:
        """Milestone reminders for every active submission (for `clearinghouse frontier reminders`)."""
        rules.require_evaluator(actor)
        today = today or self.today()
        active = [SubmissionState.OFFERED, SubmissionState.ACCESS_CONFIRMED, SubmissionState.IN_EVALUATION]
        out: list[ReminderView] = []
        for row in self.repository.submissions_in(active):
            due = {Milestone(k): date.fromisoformat(v["due_on"]) for k, v in row.milestones.items()}
            done = {Milestone(k) for k, v in row.milestones.items() if v.get("completed_at")}
            for reminder in window_rules.due_reminders(due, done, today):
                out.append(views.reminder_json(row, reminder))
        return out


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
