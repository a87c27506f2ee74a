"""The stored audit log: append-only in the database, and any change made past that is detected."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from clearinghouse.store.audit import AuditLog
from clearinghouse.store.tables import audit_log
from tests.conftest import tamper_with_audit_log


@pytest.fixture
def audit(engine: sa.Engine) -> AuditLog:
    log = AuditLog(engine)
    for i in range(5):
        log.record(f"user{i}", "report.state", "report", f"R-{i % 2}", {"to": "triaged", "i": i, "score": 0.25})
    return log


def test_entries_chain_and_read_back_identically(audit: AuditLog) -> None:
    entries = audit.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    assert [e.seq for e in audit.entries("report", "R-1")] == [2, 4]
    report = audit.verify()
    assert (report.ok, report.checked) == (True, 5)


def test_a_change_rolled_back_leaves_no_entry(audit: AuditLog) -> None:
    with pytest.raises(RuntimeError), audit.writing() as conn:
        audit.append(conn, "ana", "report.state", "report", "R-9", {})
        raise RuntimeError("the change it records failed")
    assert len(audit.entries()) == 5 and audit.verify().ok


@pytest.mark.parametrize(
    "statement",
    [
        sa.update(audit_log).where(audit_log.c.seq == 3).values(actor="mallory"),
        sa.delete(audit_log).where(audit_log.c.seq == 3),
    ],
    ids=["update", "delete"],
)
def test_the_database_refuses_rewrites(audit: AuditLog, statement: sa.Executable) -> None:
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), audit.engine.begin() as conn:
        conn.execute(statement)
    assert audit.verify().ok


def test_rewrites_past_the_triggers_are_detected(audit: AuditLog) -> None:
    tamper_with_audit_log(audit.engine, sa.update(audit_log).where(audit_log.c.seq == 3).values(details={"to": "x"}))
    edited = audit.verify()
    assert (edited.ok, edited.first_bad_seq) == (False, 3)


def test_a_deleted_entry_is_detected(audit: AuditLog) -> None:
    tamper_with_audit_log(audit.engine, sa.delete(audit_log).where(audit_log.c.seq == 2))
    deleted = audit.verify()
    assert (deleted.ok, deleted.first_bad_seq) == (False, 2)
    assert "missing" in (deleted.reason or "")
