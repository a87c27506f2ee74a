"""The stored audit log: append-only in the database (entries and the links sealing them), and any change made
past that is detected."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from clearinghouse.store.audit import AuditLog
from clearinghouse.store.audit_chain import LEAF, seqs_of
from clearinghouse.store.tables import audit_links, audit_log
from tests.conftest import tamper_with_audit_log


@pytest.fixture
def audit(engine: sa.Engine) -> AuditLog:
    log = AuditLog(engine)
    for i in range(5):
        log.record(f"user{i}", "report.state", "report", f"R-{i % 2}", {"to": "triaged", "i": i, "score": 0.25})
    return log


def test_entries_are_sealed_once_each_and_read_back_identically(audit: AuditLog) -> None:
    entries = audit.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert all(e.prev_hash == LEAF and e.keyed for e in entries)  # leaves: no link to the entry before
    assert [e.seq for e in audit.entries("report", "R-1")] == [2, 4]
    links = audit.links()  # one per committed transaction here (nothing else was writing)
    assert [seqs_of(link.leaf_ranges) for link in links] == [[1], [2], [3], [4], [5]]
    assert [link.prev_hash for link in links[1:]] == [link.hash for link in links[:-1]]
    report = audit.verify()
    assert (report.ok, report.checked, report.links, report.leaves, report.pending) == (True, 5, 5, 5, 0)
    assert audit.checkpoint().as_json()["leaves"] == 5


def test_a_change_rolled_back_leaves_no_entry(audit: AuditLog) -> None:
    with pytest.raises(RuntimeError), audit.writing() as conn:
        audit.append(conn, "ana", "report.state", "report", "R-9", {})
        raise RuntimeError("the change it records failed")
    assert len(audit.entries()) == 5 and len(audit.links()) == 5 and audit.verify().ok


@pytest.mark.parametrize(
    "statement",
    [
        sa.update(audit_log).where(audit_log.c.seq == 3).values(actor="mallory"),
        sa.delete(audit_log).where(audit_log.c.seq == 3),
        sa.update(audit_links).where(audit_links.c.seq == 3).values(root="0" * 64),
        sa.delete(audit_links).where(audit_links.c.seq == 3),
    ],
    ids=["update", "delete", "update-link", "delete-link"],
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
    assert (deleted.ok, deleted.first_bad_seq, deleted.first_bad_link) == (False, 2, 2)
    assert "missing" in (deleted.reason or "")


def test_a_deleted_or_edited_link_is_detected(audit: AuditLog) -> None:
    tamper_with_audit_log(
        audit.engine, sa.update(audit_links).where(audit_links.c.seq == 4).values(count=2), "audit_links"
    )
    edited = audit.verify()
    assert (edited.ok, edited.first_bad_link) == (False, 4) and "HMAC" in (edited.reason or "")
    tamper_with_audit_log(audit.engine, sa.delete(audit_links).where(audit_links.c.seq == 3), "audit_links")
    deleted = audit.verify()
    assert (deleted.ok, deleted.first_bad_link) == (False, 3) and "missing" in (deleted.reason or "")
