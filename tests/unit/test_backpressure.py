"""Back-pressure rules (issue 16): who waits when the processing backlog passes its bound."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from clearinghouse.errors import IntakeOverloaded
from clearinghouse.identity.model import Organisation, OrgKind, Principal, Role
from clearinghouse.intake.backpressure import (
    ESTABLISHED_AFTER,
    RETRY_AFTER_SECONDS,
    IntakeGate,
    Standing,
    admission,
    standing,
)

LIMIT = 100


def test_standing_comes_from_the_sources_own_record() -> None:
    assert standing(True, 0, None) is Standing.STAFF
    assert standing(False, 0, None) is Standing.NEW
    assert standing(False, ESTABLISHED_AFTER - 1, 0.9) is Standing.NEW  # too few reports to judge: as anonymous
    assert standing(False, ESTABLISHED_AFTER, 0.2) is Standing.LOW
    assert standing(False, ESTABLISHED_AFTER, 0.8) is Standing.ESTABLISHED


@pytest.mark.parametrize(
    ("source", "backlog", "refused"),
    [
        (Standing.NEW, LIMIT - 1, False),  # under the bound nobody waits
        (Standing.LOW, LIMIT - 1, False),
        (Standing.NEW, LIMIT, True),  # past it, new and low-credibility sources first
        (Standing.LOW, LIMIT, True),
        (Standing.ESTABLISHED, LIMIT, False),
        (Standing.ESTABLISHED, 2 * LIMIT - 1, False),
        (Standing.ESTABLISHED, 2 * LIMIT, True),  # then everyone ...
        (Standing.STAFF, 10 * LIMIT, False),  # ... but the clearinghouse's own staff
    ],
)
def test_admission_refuses_the_least_trusted_first(source: Standing, backlog: int, refused: bool) -> None:
    assert admission(source, backlog, LIMIT) == (RETRY_AFTER_SECONDS if refused else None)


def test_a_limit_of_zero_turns_back_pressure_off() -> None:
    assert admission(Standing.NEW, 10**9, 0) is None


def principal(kind: OrgKind, organisation_id: str = "org-1") -> Principal:
    organisation = Organisation(organisation_id, "Org", kind, None, datetime(2026, 1, 1, tzinfo=UTC))
    return Principal("token-1", "user", organisation, Role.REPORTER, frozenset())


class Reads:
    """The store reads the gate makes, counted."""

    def __init__(self, backlog: int, record: tuple[int, float | None]) -> None:
        self.depth, self.record = backlog, record
        self.backlog_reads = self.record_reads = 0

    def backlog(self) -> int:
        self.backlog_reads += 1
        return self.depth

    def credibility_record(self, _organisation: str) -> tuple[int, float | None]:
        self.record_reads += 1
        return self.record


def test_the_gate_refuses_with_retry_after_and_reads_the_store_rarely() -> None:
    now = [0.0]
    reads = Reads(backlog=LIMIT, record=(0, None))
    gate = IntakeGate(LIMIT, reads.backlog, reads.credibility_record, clock=lambda: now[0])
    for _ in range(50):
        with pytest.raises(IntakeOverloaded) as refused:
            gate.check(principal(OrgKind.REPORTER))
        assert refused.value.retry_after == RETRY_AFTER_SECONDS and refused.value.status == 503
    gate.check(principal(OrgKind.CLEARINGHOUSE, "staff-org"))  # staff still get in
    assert (reads.backlog_reads, reads.record_reads) == (1, 1)  # one read each for 51 submissions

    reads.depth = LIMIT - 1  # the workers caught up: seen once the backlog reading is a second old
    now[0] += 1.0
    gate.check(principal(OrgKind.REPORTER))
    assert reads.backlog_reads == 2
