"""Voluntary submission and the review window: pure rules, no I/O.

The order lets developers voluntarily give the government access to a covered model "for a period of up to 30
days before they plan to release such models to other trusted partners". So a window opens no earlier than
30 days before the developer's planned partner release and ends at that release. The release date is the
developer's alone: moving it earlier shrinks the window (recorded, never refused); nothing here, and nothing
that uses it, gates a release on the review's outcome; the order bars licensing and pre-clearance.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from clearinghouse.errors import WindowRefused
from clearinghouse.statemachine import StateMachine, Transition

MAX_ACCESS_DAYS_BEFORE_PARTNER_RELEASE = 30
ORDER_RULE = (
    'the order provides for voluntary access "for a period of up to 30 days before they plan to release such '
    'models to other trusted partners"'
)
# How far ahead of a milestone's due date reminders go out (and on the day itself).
REMINDER_LEAD_DAYS = (7, 2, 0)


class SubmissionState(StrEnum):
    OFFERED = "offered"
    ACCESS_CONFIRMED = "access_confirmed"
    IN_EVALUATION = "in_evaluation"
    REPORTED = "reported"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


_S = SubmissionState
SUBMISSION_TRANSITIONS: dict[SubmissionState, frozenset[SubmissionState]] = {
    _S.OFFERED: frozenset({_S.ACCESS_CONFIRMED, _S.CLOSED, _S.WITHDRAWN}),
    _S.ACCESS_CONFIRMED: frozenset({_S.IN_EVALUATION, _S.CLOSED, _S.WITHDRAWN}),
    _S.IN_EVALUATION: frozenset({_S.REPORTED, _S.CLOSED, _S.WITHDRAWN}),
    # Withdrawal stays possible after the report: the developer may take back access at any point.
    _S.REPORTED: frozenset({_S.CLOSED, _S.WITHDRAWN}),
    _S.CLOSED: frozenset(),
    _S.WITHDRAWN: frozenset(),
}
SUBMISSION_LIFECYCLE = StateMachine("frontier submission", SUBMISSION_TRANSITIONS)


class Milestone(StrEnum):
    ACCESS_CONFIRMED = "access_confirmed"
    EVALUATION_PLAN_AGREED = "evaluation_plan_agreed"
    INTERIM_FINDINGS = "interim_findings"
    FINAL_REPORT = "final_report"


# Completing a milestone moves the submission on, where it marks a lifecycle step.
STATE_AFTER_MILESTONE: dict[Milestone, SubmissionState] = {
    Milestone.ACCESS_CONFIRMED: SubmissionState.ACCESS_CONFIRMED,
    Milestone.EVALUATION_PLAN_AGREED: SubmissionState.IN_EVALUATION,
    Milestone.FINAL_REPORT: SubmissionState.REPORTED,
}


def transition(
    current: SubmissionState, target: SubmissionState, actor: str, reason: str, at: datetime
) -> Transition[SubmissionState]:
    """Check one change against the table; raises `IllegalTransition` naming the allowed moves."""
    return SUBMISSION_LIFECYCLE.transition(current, target, actor, reason, at)


@dataclass(frozen=True)
class ReviewWindow:
    """Government access from `opens_on` until the developer's planned partner release (exclusive)."""

    opens_on: date
    partner_release_on: date

    @property
    def days(self) -> int:
        return (self.partner_release_on - self.opens_on).days

    def contains(self, day: date) -> bool:
        return self.opens_on <= day < self.partner_release_on

    def covers(self, starts_on: date, ends_on: date) -> bool:
        """Whether a period (both days inclusive) lies inside the window."""
        return self.opens_on <= starts_on <= ends_on < self.partner_release_on

    def milestones(self) -> dict[Milestone, date]:
        """Due dates spread over the window; the final report is due the day before the partner release."""
        last = max(self.opens_on, self.partner_release_on - timedelta(days=1))

        def due(offset: int) -> date:
            return min(self.opens_on + timedelta(days=offset), last)

        return {
            Milestone.ACCESS_CONFIRMED: due(2),
            Milestone.EVALUATION_PLAN_AGREED: due(5),
            Milestone.INTERIM_FINDINGS: due(max(self.days // 2, 0)),
            Milestone.FINAL_REPORT: last,
        }


@dataclass(frozen=True)
class PlanChange:
    """One change of plan, kept on the submission and in the audit log."""

    on: date
    partner_release_from: date
    partner_release_to: date
    opens_from: date
    opens_to: date
    reason: str

    @property
    def window_shrank_by_days(self) -> int:
        before = (self.partner_release_from - self.opens_from).days
        after = (self.partner_release_to - self.opens_to).days
        return max(before - after, 0)


def plan_window(
    today: date, partner_release_on: date, access_days: int = MAX_ACCESS_DAYS_BEFORE_PARTNER_RELEASE
) -> ReviewWindow:
    """The window for an offer made `today`. More than 30 days or a release in the past is refused."""
    if access_days > MAX_ACCESS_DAYS_BEFORE_PARTNER_RELEASE:
        raise WindowRefused(
            f"{access_days} days of access requested; at most {MAX_ACCESS_DAYS_BEFORE_PARTNER_RELEASE} days before "
            f"the planned partner release are possible: {ORDER_RULE}"
        )
    if access_days < 1:
        raise WindowRefused("a review window needs at least 1 day of access")
    if partner_release_on <= today:
        raise WindowRefused(
            f"the planned partner release {partner_release_on.isoformat()} is not in the future (today is "
            f"{today.isoformat()})"
        )
    # A window cannot open in the past: a late offer gets the days that are left, not a refusal.
    opens_on = max(today, partner_release_on - timedelta(days=access_days))
    return ReviewWindow(opens_on, partner_release_on)


def move_release(
    window: ReviewWindow, new_release_on: date, today: date, reason: str
) -> tuple[ReviewWindow, PlanChange]:
    """The developer's new partner-release date. Earlier shrinks the window (never refused); later keeps the
    opening day unless that would exceed 30 days. Only a date that is already past is refused."""
    if new_release_on <= today:
        raise WindowRefused(
            f"the new partner release {new_release_on.isoformat()} is not in the future (today is {today.isoformat()})"
        )
    earliest = new_release_on - timedelta(days=MAX_ACCESS_DAYS_BEFORE_PARTNER_RELEASE)
    # Later: keep the opening day unless the window would exceed 30 days. Earlier: keep it unless the release now
    # falls before it, then the window is the one day left (never in the past, as the release is in the future).
    opens_on = min(max(window.opens_on, earliest), new_release_on - timedelta(days=1))
    moved = replace(window, opens_on=opens_on, partner_release_on=new_release_on)
    change = PlanChange(today, window.partner_release_on, new_release_on, window.opens_on, opens_on, reason)
    return moved, change


@dataclass(frozen=True)
class Reminder:
    milestone: Milestone
    due_on: date
    days_left: int

    @property
    def overdue(self) -> bool:
        return self.days_left < 0

    def message(self) -> str:
        if self.overdue:
            return f"{self.milestone.value} was due {self.due_on.isoformat()} ({-self.days_left} days overdue)"
        when = "today" if self.days_left == 0 else f"in {self.days_left} days"
        return f"{self.milestone.value} is due {when} ({self.due_on.isoformat()})"


def due_reminders(
    due: dict[Milestone, date], completed: set[Milestone], today: date, lead_days: tuple[int, ...] = REMINDER_LEAD_DAYS
) -> list[Reminder]:
    """Reminders for open milestones that are due within the longest lead time, or overdue."""
    horizon = max(lead_days)
    reminders = [
        Reminder(milestone, due_on, (due_on - today).days)
        for milestone, due_on in due.items()
        if milestone not in completed and (due_on - today).days <= horizon
    ]
    return sorted(reminders, key=lambda r: (r.due_on, r.milestone.value))
