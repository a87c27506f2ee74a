"""Sealing the audit log per batch (issue 16): one link per committed batch, and on PostgreSQL writers that never
wait for each other, whose entries are each sealed exactly once, whatever order they commit in."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from clearinghouse.identity.model import Principal
from clearinghouse.intake.group_commit import AcceptanceWriter
from clearinghouse.intake.service import ReportService
from clearinghouse.intake.worker import Worker
from clearinghouse.store.audit import SEAL_LOCK, AuditLog, sealed_after
from clearinghouse.store.audit_chain import next_entry, seqs_of, sign_checkpoint
from clearinghouse.store.audit_keys import use_home
from clearinghouse.store.db import create_engine, migrate
from clearinghouse.store.jobs import JobQueue
from clearinghouse.store.tables import audit_log, audit_pending
from tests.conftest import tamper_with_audit_log
from tests.store.test_reports import reporter, submitted

__all__ = ["reporter"]  # a fixture, used by name

WAIT = 20.0  # seconds: far more than any write here takes, far less than the test's patience


def sealed_counts(audit: AuditLog) -> Counter[int]:
    return Counter(seq for link in audit.links() for seq in seqs_of(link.leaf_ranges))


def test_a_batch_of_64_accepted_reports_is_sealed_by_one_link(engine: sa.Engine, reporter: Principal) -> None:
    service = ReportService(engine)
    before = len(service.audit.links())
    outcomes = service.accept_many([submitted(reporter, f"Overflow number {i} in the decoder") for i in range(64)])
    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    links = service.audit.links()
    assert len(links) == before + 1 and links[-1].count == 64
    received = [e.seq for e in service.audit.entries() if e.action == "report.received"]
    assert seqs_of(links[-1].leaf_ranges) == received and len(received) == 64
    report = service.audit.verify()
    assert (report.ok, report.pending, report.leaves) == (True, 0, len(service.audit.entries()))


@pytest.fixture
def postgres_audit(engine: sa.Engine) -> AuditLog:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: writers there seal their own leaves in their transaction")
    return AuditLog(engine)


def test_postgresql_writers_commit_without_waiting_for_each_other(postgres_audit: AuditLog) -> None:
    audit = postgres_audit
    audit.record("operator", "org.created", "organisation", "O-1", {})
    a_appended, b_done, a_may_commit = threading.Event(), threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def writer_a() -> None:
        try:
            with audit.writing(late=True) as conn:
                audit.append(conn, "worker-a", "report.state", "report", "R-A", {"to": "triaged"})
                a_appended.set()
                if not a_may_commit.wait(WAIT):  # holds its transaction open, its leaf inserted, until B is done
                    raise TimeoutError("B never finished")
        except BaseException as exc:
            failures.append(exc)

    def writer_b() -> None:
        try:
            with audit.writing(late=True) as conn:
                audit.append(conn, "worker-b", "report.state", "report", "R-B", {"to": "triaged"})
            b_done.set()
        except BaseException as exc:
            failures.append(exc)

    first = threading.Thread(target=writer_a)
    first.start()
    assert a_appended.wait(WAIT)
    position = audit.links()[-1].seq  # a worker's duplicate index, in sync up to here
    second = threading.Thread(target=writer_b)
    second.start()
    finished = b_done.wait(WAIT)  # under the old global lock this waited for A's commit: impossible
    a_may_commit.set()
    first.join(WAIT)
    second.join(WAIT)
    assert finished and not failures, failures

    entries = {e.subject_id: e.seq for e in audit.entries()}
    assert entries["R-A"] < entries["R-B"]  # A took its number first, committed last
    assert audit.seal() == 0  # each writer sealed its own batch after its commit
    assert sealed_counts(audit) == Counter(entries.values())  # every leaf sealed, exactly once
    report = audit.verify()
    assert (report.ok, report.pending, report.leaves) == (True, 0, 3)
    # The other workers' sync follows links (commit order): A's entry, numbered below B's, is not skipped.
    with audit.engine.connect() as conn:
        found, last = sealed_after(conn, position, "report.state")
    assert [e.subject_id for e in found] == ["R-B", "R-A"] and last == audit.links()[-1].seq


def test_a_writer_never_waits_for_a_seal_in_progress(postgres_audit: AuditLog) -> None:
    audit = postgres_audit
    with audit.engine.connect() as sealer:  # another process sealing, for as long as this test likes
        assert sealer.execute(sa.select(sa.func.pg_try_advisory_lock(*SEAL_LOCK))).scalar()
        try:
            audit.record("operator", "org.created", "organisation", "O-1", {})  # returns at once, leaf pending
            pending = audit.verify()
            assert (pending.ok, pending.pending, pending.links) == (True, 1, 0)
            assert audit.seal() == 0
        finally:
            sealer.execute(sa.select(sa.func.pg_advisory_unlock(*SEAL_LOCK)))
            sealer.commit()
    assert audit.seal() == 1  # the worker's periodic seal, or the next writer's, takes it
    report = audit.verify()
    assert (report.ok, report.pending, report.links, report.leaves) == (True, 0, 1, 1)
    with audit.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_pending)).scalar() == 0


def test_many_concurrent_writers_seal_every_entry_exactly_once(postgres_audit: AuditLog) -> None:
    audit = postgres_audit
    failures: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for batch in range(10):
                with audit.writing(late=True) as conn:
                    for i in range(3):
                        audit.append(conn, f"w{worker}", "report.state", "report", f"R-{worker}-{batch}-{i}", {})
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures
    audit.seal()  # what a worker's tick does: picks up leaves whose writer found another sealing
    assert sealed_counts(audit) == Counter(e.seq for e in audit.entries())
    report = audit.verify()
    assert (report.ok, report.leaves, report.pending) == (True, 120, 0)


def test_the_api_writer_seals_many_commits_with_one_link_and_leaves_nothing_pending(
    postgres_audit: AuditLog, reporter: Principal
) -> None:
    """Reports accepted one a commit, all within one sealing period: the first commit seals its entries, the rest
    wait and are sealed together once the stream stops, each exactly once."""
    service = ReportService(postgres_audit.engine)
    writer = AcceptanceWriter(service, max_linger=0.0, seal_every=WAIT)
    links_before = len(postgres_audit.links())
    try:
        for i in range(8):
            asyncio.run(writer.accept(submitted(reporter, f"Overflow number {i} in the decoder")))
        assert postgres_audit.verify().pending > 0  # committed and acknowledged, not sealed yet
    finally:
        writer.close()  # a quiet spell or a shutdown: the writer seals what its commits left
    report = postgres_audit.verify()
    assert (report.ok, report.pending) == (True, 0)
    assert sealed_counts(postgres_audit) == Counter(e.seq for e in postgres_audit.entries())
    assert len(postgres_audit.links()) - links_before == 2


def test_a_log_written_before_links_verifies_and_the_first_link_continues_it(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    use_home(engine, tmp_path)
    migrate(engine, "0014")  # before links: entries chained under a lock, the head signed
    audit = AuditLog(engine)
    previous = None
    chained = []
    for i in range(3):
        previous = next_entry(
            previous,
            at=datetime.now(UTC),
            actor="ana",
            action="report.state",
            subject_type="report",
            subject_id=f"R-{i}",
            details={},
            key=audit.keys.hmac_key,
        )
        chained.append(previous)
    with engine.begin() as conn:
        conn.execute(audit_log.insert(), [dataclasses.asdict(entry) for entry in chained])
    audit.keys.advance(sign_checkpoint(audit.keys.signing_key, 3, chained[-1].hash, datetime.now(UTC)))
    migrate(engine)
    assert audit.verify().ok
    audit.record("bo", "report.state", "report", "R-9", {})
    links = audit.links()
    assert [seqs_of(link.leaf_ranges) for link in links] == [[4]] and links[0].prev_hash == chained[-1].hash
    report = audit.verify()
    assert (report.ok, report.checked, report.links, report.leaves) == (True, 4, 1, 1)
    assert audit.checkpoint().leaves == 1  # the link checkpoint replaced the legacy one
    tamper_with_audit_log(engine, sa.delete(audit_log).where(audit_log.c.seq == 3))
    cut = audit.verify()
    assert (cut.ok, cut.first_bad_link) == (False, 1)  # the legacy chain's cut tail no longer reaches link 1
    engine.dispose()


def test_a_running_worker_seals_what_writers_left_pending(postgres_audit: AuditLog) -> None:
    audit = postgres_audit
    with audit.engine.connect() as sealer:
        sealer.execute(sa.select(sa.func.pg_advisory_lock(*SEAL_LOCK)))
        audit.record("operator", "org.created", "organisation", "O-1", {})
        sealer.execute(sa.select(sa.func.pg_advisory_unlock(*SEAL_LOCK)))
        sealer.commit()
    assert audit.verify().pending == 1
    stop = threading.Event()
    worker = threading.Thread(target=Worker(JobQueue(audit.engine), {}).run_forever, args=(stop,))
    worker.start()
    try:
        deadline = time.monotonic() + WAIT
        while audit.verify().pending and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join(WAIT)
    report = audit.verify()
    assert (report.ok, report.pending, report.leaves) == (True, 0, 1)
