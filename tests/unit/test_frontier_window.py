"""The review window: the order's 30-day rule, release moves, milestones, reminders and the lifecycle."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearinghouse.errors import GrantRefused, IllegalTransition, WindowRefused
from clearinghouse.frontier.grants import GrantState, check_nomination, usable
from clearinghouse.frontier.grants import transition as grant_transition
from clearinghouse.frontier.window import (
    MAX_ACCESS_DAYS_BEFORE_PARTNER_RELEASE,
    SUBMISSION_TRANSITIONS,
    Milestone,
    ReviewWindow,
    SubmissionState,
    due_reminders,
    move_release,
    plan_window,
    transition,
)
from clearinghouse.identity.model import OrgKind

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
days = st.integers(min_value=1, max_value=400)


def test_the_window_opens_30_days_before_the_partner_release() -> None:
    window = plan_window(TODAY, TODAY + timedelta(days=60))
    assert MAX_ACCESS_DAYS_BEFORE_PARTNER_RELEASE == 30
    assert window.opens_on == TODAY + timedelta(days=30) and window.days == 30


def test_more_than_30_days_is_refused_citing_the_order() -> None:
    with pytest.raises(WindowRefused, match="up to 30 days before they plan to release") as caught:
        plan_window(TODAY, TODAY + timedelta(days=90), access_days=31)
    assert "31 days" in caught.value.message


def test_a_release_in_the_past_is_refused() -> None:
    with pytest.raises(WindowRefused, match="not in the future"):
        plan_window(TODAY, TODAY - timedelta(days=1))


@given(days, st.integers(min_value=1, max_value=MAX_ACCESS_DAYS_BEFORE_PARTNER_RELEASE))
def test_a_window_never_exceeds_30_days_never_starts_after_release_nor_in_the_past(ahead: int, wanted: int) -> None:
    window = plan_window(TODAY, TODAY + timedelta(days=ahead), wanted)
    assert 1 <= window.days <= min(wanted, MAX_ACCESS_DAYS_BEFORE_PARTNER_RELEASE)
    assert TODAY <= window.opens_on < window.partner_release_on


@given(days, st.integers(min_value=31, max_value=1000))
def test_any_request_over_30_days_is_refused(ahead: int, wanted: int) -> None:
    with pytest.raises(WindowRefused, match="30 days"):
        plan_window(TODAY, TODAY + timedelta(days=ahead), wanted)


@given(days, st.integers(min_value=1, max_value=400), st.integers(min_value=0, max_value=10))
def test_moving_the_release_keeps_the_rules(ahead: int, new_ahead: int, elapsed: int) -> None:
    window = plan_window(TODAY, TODAY + timedelta(days=ahead))
    later = TODAY + timedelta(days=elapsed)
    new_release = later + timedelta(days=new_ahead)
    moved, change = move_release(window, new_release, later, "plan changed")
    assert moved.partner_release_on == new_release
    assert 1 <= moved.days <= MAX_ACCESS_DAYS_BEFORE_PARTNER_RELEASE
    assert moved.opens_on < moved.partner_release_on
    if new_release < window.partner_release_on:
        assert moved.days <= window.days and change.window_shrank_by_days == window.days - moved.days


def test_an_earlier_release_shrinks_the_window_and_is_recorded() -> None:
    window = plan_window(TODAY, TODAY + timedelta(days=20))
    moved, change = move_release(window, TODAY + timedelta(days=12), TODAY, "launch moved up")
    assert (moved.opens_on, moved.days) == (TODAY, 12)
    assert change.window_shrank_by_days == 8 and change.reason == "launch moved up"
    assert change.partner_release_from == TODAY + timedelta(days=20)


def test_a_release_moved_into_the_past_is_refused() -> None:
    window = plan_window(TODAY, TODAY + timedelta(days=20))
    with pytest.raises(WindowRefused):
        move_release(window, TODAY - timedelta(days=1), TODAY, "oops")


def test_milestones_fall_inside_the_window_and_the_report_is_due_before_release() -> None:
    window = ReviewWindow(TODAY, TODAY + timedelta(days=30))
    due = window.milestones()
    assert due[Milestone.FINAL_REPORT] == window.partner_release_on - timedelta(days=1)
    assert all(window.contains(d) for d in due.values())
    assert due[Milestone.ACCESS_CONFIRMED] < due[Milestone.EVALUATION_PLAN_AGREED] < due[Milestone.FINAL_REPORT]


@given(st.integers(min_value=1, max_value=30))
def test_milestones_stay_inside_any_window(length: int) -> None:
    window = ReviewWindow(TODAY, TODAY + timedelta(days=length))
    assert all(window.contains(d) for d in window.milestones().values())


def test_reminders_for_open_milestones_due_soon_or_overdue() -> None:
    due = {Milestone.ACCESS_CONFIRMED: TODAY - timedelta(days=1), Milestone.FINAL_REPORT: TODAY + timedelta(days=20)}
    reminders = due_reminders(due, set(), TODAY)
    assert [(r.milestone, r.overdue) for r in reminders] == [(Milestone.ACCESS_CONFIRMED, True)]
    assert "1 days overdue" in reminders[0].message()
    assert due_reminders(due, {Milestone.ACCESS_CONFIRMED}, TODAY) == []
    assert [r.days_left for r in due_reminders(due, set(), TODAY + timedelta(days=14))] == [-15, 6]


def test_the_submission_lifecycle_allows_withdrawal_from_every_open_state() -> None:
    for state, targets in SUBMISSION_TRANSITIONS.items():
        if targets:
            assert SubmissionState.WITHDRAWN in targets, state
    with pytest.raises(IllegalTransition, match="allowed from 'offered'"):
        transition(SubmissionState.OFFERED, SubmissionState.REPORTED, "eval", "skip ahead", NOW)
    assert (
        transition(SubmissionState.OFFERED, SubmissionState.WITHDRAWN, "dev", "changed plans", NOW).target
        == "withdrawn"
    )


def test_grants_go_to_partners_inside_the_window_only() -> None:
    window = ReviewWindow(TODAY, TODAY + timedelta(days=30))
    check_nomination(OrgKind.CRITICAL_INFRASTRUCTURE, window, TODAY, TODAY + timedelta(days=29))
    with pytest.raises(GrantRefused, match="critical-infrastructure partners only"):
        check_nomination(OrgKind.VENDOR, window, TODAY, TODAY + timedelta(days=5))
    with pytest.raises(GrantRefused, match="inside the review window"):
        check_nomination(OrgKind.CRITICAL_INFRASTRUCTURE, window, TODAY, TODAY + timedelta(days=30))
    with pytest.raises(GrantRefused, match="ends"):
        check_nomination(OrgKind.CRITICAL_INFRASTRUCTURE, window, TODAY + timedelta(days=3), TODAY)


def test_a_grant_is_usable_only_approved_and_in_its_period() -> None:
    start, end = TODAY, TODAY + timedelta(days=5)
    assert usable(GrantState.APPROVED, start, end, TODAY) is None
    assert usable(GrantState.REVOKED, start, end, TODAY) == "the grant is revoked"
    assert "expired" in (usable(GrantState.APPROVED, start, end, end + timedelta(days=1)) or "")
    with pytest.raises(IllegalTransition):
        grant_transition(GrantState.REVOKED, GrantState.APPROVED, "dev", "again", NOW)
