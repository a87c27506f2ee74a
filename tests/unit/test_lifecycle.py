"""The report lifecycle's transition table: the paths analysts rely on work, everything else is refused."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from clearinghouse.errors import IllegalTransition
from clearinghouse.intake.lifecycle import REPORT_LIFECYCLE, REPORT_TRANSITIONS, ReportState, transition

NOW = datetime(2026, 11, 23, tzinfo=UTC)
S = ReportState


def walk(*states: ReportState) -> None:
    for source, target in itertools.pairwise(states):
        change = transition(source, target, "analyst@example.org", "because", NOW)
        assert (change.source, change.target, change.actor, change.at) == (source, target, "analyst@example.org", NOW)


def test_the_happy_path_from_received_to_published() -> None:
    walk(S.RECEIVED, S.TRIAGED, S.VALIDATED, S.COORDINATING, S.FIXED, S.PUBLISHED)


def test_side_paths() -> None:
    walk(S.RECEIVED, S.TRIAGED, S.NEEDS_INFO, S.TRIAGED, S.DUPLICATE, S.TRIAGED, S.INVALID, S.DISPUTED, S.VALIDATED)
    walk(S.PUBLISHED, S.WITHDRAWN)


@pytest.mark.parametrize(
    ("source", "target"),
    [(S.RECEIVED, S.FIXED), (S.RECEIVED, S.PUBLISHED), (S.TRIAGED, S.PUBLISHED), (S.INVALID, S.PUBLISHED)],
)
def test_skipping_steps_is_refused_and_names_the_allowed_moves(source: ReportState, target: ReportState) -> None:
    with pytest.raises(IllegalTransition) as caught:
        transition(source, target, "analyst", "skip ahead", NOW)
    assert caught.value.code == "illegal-transition"
    for allowed in REPORT_LIFECYCLE.allowed(source):
        assert allowed.value in caught.value.message


def test_withdrawn_is_final() -> None:
    assert REPORT_LIFECYCLE.is_terminal(S.WITHDRAWN)
    for target in ReportState:
        with pytest.raises(IllegalTransition, match="final"):
            transition(S.WITHDRAWN, target, "analyst", "reopen", NOW)


def test_a_change_needs_a_reason_and_an_actor() -> None:
    with pytest.raises(IllegalTransition, match="reason"):
        transition(S.RECEIVED, S.TRIAGED, "analyst", "  ", NOW)
    with pytest.raises(IllegalTransition, match="actor"):
        transition(S.RECEIVED, S.TRIAGED, "", "why", NOW)


def test_every_state_has_a_row_and_every_state_is_reachable_from_received() -> None:
    assert set(REPORT_TRANSITIONS) == set(ReportState)
    reached, frontier = {S.RECEIVED}, [S.RECEIVED]
    while frontier:
        for target in REPORT_LIFECYCLE.allowed(frontier.pop()):
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(ReportState)
