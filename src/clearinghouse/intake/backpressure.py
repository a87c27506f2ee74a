"""Back-pressure on intake: past a backlog bound, new and low-credibility sources are asked to come back later.

Nothing acknowledged is ever dropped: a refusal is a 503 with `Retry-After` *before* the report is accepted, so the
sender still holds it. The order (pure rules, `admission`): clearinghouse staff are always admitted; from
`limit` reports waiting, sources without a record (fewer than `ESTABLISHED_AFTER` checked reports: as good as
anonymous) and sources whose reports' mean credibility is under `LOW_CREDIBILITY` are refused; from twice the
limit, everyone else too, so the backlog stops growing before the queue falls behind for everyone.

`IntakeGate` asks the store at most once a second for the backlog and once a minute per organisation for its
record, so the check costs the accept path no query in the common case.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum

from clearinghouse.errors import IntakeOverloaded
from clearinghouse.identity.model import Principal
from clearinghouse.policy import rules

ESTABLISHED_AFTER = 20  # checked reports before a source has a record of its own
LOW_CREDIBILITY = 0.4  # mean credibility (0..1) under which a source is refused first
RETRY_AFTER_SECONDS = 30
BACKLOG_TTL = 1.0  # seconds a backlog reading is reused
STANDING_TTL = 60.0  # seconds an organisation's standing is reused


class Standing(StrEnum):
    STAFF = "staff"
    ESTABLISHED = "established"
    NEW = "new"  # no record yet: as good as anonymous
    LOW = "low-credibility"


def standing(is_staff: bool, checked_reports: int, mean_credibility: float | None) -> Standing:
    if is_staff:
        return Standing.STAFF
    if checked_reports < ESTABLISHED_AFTER or mean_credibility is None:
        return Standing.NEW
    return Standing.LOW if mean_credibility < LOW_CREDIBILITY else Standing.ESTABLISHED


def admission(source: Standing, backlog: int, limit: int) -> int | None:
    """None to admit; else the seconds to send in `Retry-After`. A limit of 0 or less turns back-pressure off."""
    if limit <= 0 or source is Standing.STAFF or backlog < limit:
        return None
    if source in (Standing.NEW, Standing.LOW) or backlog >= 2 * limit:
        return RETRY_AFTER_SECONDS
    return None


class IntakeGate:
    def __init__(
        self,
        limit: int,
        backlog: Callable[[], int],
        credibility_record: Callable[[str], tuple[int, float | None]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self._backlog = backlog
        self._credibility_record = credibility_record
        self._clock = clock
        self._lock = threading.Lock()
        self._backlog_read: tuple[float, int] | None = None
        self._standings: dict[str, tuple[float, Standing]] = {}

    def check(self, principal: Principal) -> None:
        """Raise `IntakeOverloaded` (503, Retry-After) if this principal's submission is to wait."""
        if self.limit <= 0:
            return
        backlog = self.backlog()
        if backlog < self.limit:
            return
        retry_after = admission(self._standing(principal), backlog, self.limit)
        if retry_after is not None:
            raise IntakeOverloaded(backlog, retry_after)

    def backlog(self) -> int:
        now = self._clock()
        with self._lock:
            if self._backlog_read is not None and now - self._backlog_read[0] < BACKLOG_TTL:
                return self._backlog_read[1]
        depth = self._backlog()
        with self._lock:
            self._backlog_read = (now, depth)
        return depth

    def _standing(self, principal: Principal) -> Standing:
        if rules.is_staff(principal):
            return Standing.STAFF
        organisation = principal.organisation.id
        now = self._clock()
        with self._lock:
            kept = self._standings.get(organisation)
        if kept is not None and now - kept[0] < STANDING_TTL:
            return kept[1]
        found = standing(False, *self._credibility_record(organisation))
        with self._lock:
            self._standings[organisation] = (now, found)
        return found
