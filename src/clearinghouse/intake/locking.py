"""The one order in which a transaction takes report rows and the audit chain's lock (PostgreSQL).

Processing a batch writes its reports' columns first and takes the chain's lock (`AuditLog.lock`) only for the
state moves after them, so that workers never wait for each other's columns. A writer that took the chain's lock
first and then updated one of those reports (an analyst moving a report still being processed) waited for the
batch's row while the batch waited for its lock: PostgreSQL found the deadlock and aborted one of the two. So
every transaction that updates existing report rows, and may hold the chain's lock, takes its locks in one order:

1. the report rows it will update, all in one statement, in id order (`ReportRepository.lock_rows`);
2. then the chain's lock;
3. then it updates those rows and no other report row.

Among report rows and the chain's lock, every wait is then for a lock later in that order than any the waiter
holds (a higher id, or the chain's lock), so no two transactions can wait for each other there. The batch
follows it by locking its rows before its column writes (`ReportService.record_pipelines`), which costs it one
statement and no wait it did not have (its UPDATEs took the same locks); every other writer through
`updating_reports`. SQLite needs none of this (one writer at a time) and takes the same path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa

from clearinghouse.intake.repository import ReportRepository
from clearinghouse.store.audit import AuditLog

# The reports a transaction will update: fixed ids, or read in the transaction (a case's reports, a cluster's).
Reports = Sequence[str] | Callable[[sa.Connection], Sequence[str]]


@contextmanager
def updating_reports(audit: AuditLog, which: Reports) -> Iterator[tuple[sa.Connection, list[str]]]:
    """A write transaction serialised against the others (as `AuditLog.writing()`) that updates existing reports:
    the rows `which` names are locked before the chain's lock. Yields the connection and those ids, in the order
    `which` gave them (each locked if it exists); the caller updates no other report row."""
    with audit.writing(late=True) as conn:
        yield conn, _lock_in_order(audit, conn, which)


def _lock_in_order(audit: AuditLog, conn: sa.Connection, which: Reports) -> list[str]:
    wanted = list(which(conn) if callable(which) else which)
    if conn.dialect.name != "postgresql":
        return wanted  # the transaction is the only writer from its BEGIN: nothing can change meanwhile
    if not callable(which):
        ReportRepository.lock_rows(conn, wanted)
        audit.lock(conn)
        return wanted
    while True:
        # A set read before the chain's lock may have grown by the time it is held (a report joined the case):
        # then everything is let go (the savepoint's rollback releases the rows and the lock) and the larger set
        # is locked again, from the start of the order, rather than a row taken under the chain's lock.
        attempt = conn.begin_nested()
        ReportRepository.lock_rows(conn, wanted)
        audit.lock(conn)
        settled = list(which(conn))
        if set(settled) <= set(wanted):
            attempt.commit()
            return settled
        attempt.rollback()
        audit.forget_lock(conn)
        wanted = list(dict.fromkeys([*settled, *wanted]))
