"""An analyst's change and a worker's batch on the same report both complete on PostgreSQL (no deadlock).

A batch writes its reports' columns before it takes the audit chain's lock; an analyst's move of one of those
reports used to take that lock first and then wait for the report's row: each waited for the other and PostgreSQL
aborted one. Every writer now locks report rows first, in id order, and the chain's lock after them
(`intake.locking`). The race is forced here: the batch stops between its column writes and its lock until the
analyst's transaction is seen waiting on it in PostgreSQL's lock table.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from clearinghouse.identity.model import Principal
from clearinghouse.intake.lifecycle import ReportState
from clearinghouse.intake.locking import updating_reports
from clearinghouse.intake.service import PipelineRun, ReportService
from clearinghouse.policy import Operator
from clearinghouse.store.audit import AuditLog
from clearinghouse.store.tables import reports
from tests.store.test_reports import reporter, submitted

__all__ = ["reporter"]  # a fixture, used by name

WAIT = 20.0  # seconds: far more than any write here takes; a hang fails the test instead of hanging the run
ANALYST = Operator("analyst")
# Waiting for a lock another backend holds: PostgreSQL's own view of who blocks whom, read live (not a snapshot).
_BLOCKED_BY = sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted AND :pid = ANY(pg_blocking_pids(pid))")


@pytest.fixture
def postgres(engine: sa.Engine) -> sa.Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: two transactions never hold locks the other waits for")
    return engine


def wait_until_someone_waits_for(conn: sa.Connection) -> None:
    """Return once another transaction waits for a lock this one holds. PostgreSQL tells no one that a backend
    started waiting, so its lock table is looked at until it shows that (a condition, not a guessed delay)."""
    pid = conn.execute(sa.select(sa.func.pg_backend_pid())).scalar_one()
    deadline = time.monotonic() + WAIT
    while not conn.execute(_BLOCKED_BY, {"pid": pid}).scalar_one():
        if time.monotonic() > deadline:
            raise TimeoutError("the analyst's transaction never waited for the batch")
        time.sleep(0.005)


def withdraw(service: ReportService, report_id: str) -> None:
    service.change_state(ANALYST, report_id, ReportState.WITHDRAWN, "the reporter took it back")


def split(service: ReportService, report_id: str) -> None:
    service.split_cluster(ANALYST, report_id, "not the same issue")


def race_with_a_batch(engine: sa.Engine, runs: list[PipelineRun], change: Callable[[], None]) -> None:
    """Store `runs` as a worker's batch and make `change` (an analyst's, on one of their reports) start after the
    batch wrote its columns and before it takes the chain's lock, which it takes only once the analyst's
    transaction waits for it; both must complete."""
    batch = ReportService(engine)
    wrote, failures = threading.Event(), []
    real_lock = batch.audit.lock

    def lock_once_the_analyst_waits(conn: sa.Connection) -> None:
        # The batch has written its runs' columns (its reports' rows are locked) and is about to take the chain's
        # lock: hold it here until the analyst's transaction waits for this one.
        wrote.set()
        wait_until_someone_waits_for(conn)
        real_lock(conn)

    batch.audit.lock = lock_once_the_analyst_waits  # type: ignore[method-assign]

    def run_batch() -> None:
        try:
            written = batch.record_pipelines(runs, "clearinghouse-pipeline")
            assert sorted(written) == sorted(run.report_id for run in runs)
        except BaseException as exc:
            failures.append(exc)

    def analyst() -> None:
        try:
            if not wrote.wait(WAIT):
                raise TimeoutError("the batch never wrote its columns")
            change()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run_batch), threading.Thread(target=analyst)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads), "a transaction hung"
    assert not failures, failures  # before the lock order: psycopg.errors.DeadlockDetected in one of the two
    audit = AuditLog(engine)
    audit.seal()
    report = audit.verify()
    assert (report.ok, report.pending) == (True, 0)


@pytest.mark.parametrize("change", [withdraw, split], ids=["change_state", "split_cluster"])
def test_an_analysts_change_during_a_batch_on_the_same_report_waits_and_both_complete(
    postgres: sa.Engine, reporter: Principal, change: Callable[[ReportService, str], None]
) -> None:
    target, other = accepted_ids(postgres, reporter, ["Heap overflow in the parser", "Use after free in the decoder"])
    steps = {"check": {"ok": True, "ms": 1.0}}
    runs = [
        PipelineRun(report_id, steps, {"credibility": 0.75, "priority": 3.0}, "checks passed")
        for report_id in (other, target)  # not in id order: the batch still locks its rows in one order
    ]
    race_with_a_batch(postgres, runs, lambda: change(ReportService(postgres), target))

    with postgres.connect() as conn:
        rows = {row.id: row for row in conn.execute(sa.select(reports).where(reports.c.id.in_([target, other])))}
    for row in rows.values():  # the pipeline's columns, on both reports
        assert (row.credibility, row.priority, row.pipeline) == (0.75, 3.0, steps)
    assert rows[other].state == ReportState.TRIAGED
    if change is withdraw:  # the pipeline's move, then the analyst's on top of it
        assert rows[target].state == ReportState.WITHDRAWN
        moves = [
            (e.details["from"], e.details["to"], e.actor)
            for e in AuditLog(postgres).entries("report", target)
            if e.action == "report.state"
        ]
        assert moves == [("received", "triaged", "clearinghouse-pipeline"), ("triaged", "withdrawn", "analyst")]
    else:
        assert (rows[target].state, rows[target].cluster_id) == (ReportState.TRIAGED, target)


def test_rows_that_join_the_set_while_the_chain_lock_is_awaited_are_locked_before_going_on(
    postgres: sa.Engine, reporter: Principal
) -> None:
    """The reports to update may be more by the time the chain's lock is held (a report joined the case being
    published): the writer then lets go of everything and locks the larger set, in order, before it goes on."""
    ids = sorted(accepted_ids(postgres, reporter, [f"Overflow number {n} in the decoder" for n in range(3)]))
    answers = iter([ids[:1], ids[:2], ids[:2]])  # one report joins between the first read and the second
    calls: list[list[str]] = []

    def which(conn: sa.Connection) -> list[str]:
        calls.append(next(answers))
        return calls[-1]

    with updating_reports(AuditLog(postgres), which) as (conn, locked):
        assert locked == ids[:2] and calls == [ids[:1], ids[:2], ids[:2]]
        held = conn.execute(_CHAIN_LOCKS_HELD).scalar_one()
        with postgres.connect() as other:
            assert [report_id for report_id in ids if not _lockable(other, report_id)] == ids[:2]
    assert held == 1  # taken again after the first attempt's rollback released it


def accepted_ids(engine: sa.Engine, principal: Principal, titles: list[str]) -> list[str]:
    outcomes = ReportService(engine).accept_many([submitted(principal, title) for title in titles])
    return [report_id for outcome in outcomes if not isinstance(outcome, Exception) for report_id in outcome.report_ids]


_CHAIN_LOCKS_HELD = sa.text("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'")


def _lockable(conn: sa.Connection, report_id: str) -> bool:
    """Whether another transaction could lock the report's row now (without waiting for it)."""
    query = sa.select(reports.c.id).where(reports.c.id == report_id).with_for_update(nowait=True, key_share=True)
    try:
        with conn.begin():
            conn.execute(query)
    except sa.exc.OperationalError:  # LockNotAvailable
        return False
    return True
