"""The audit log: append-only and hash-chained (see `audit_chain`), one entry per change anyone makes.

Appends are serialised so that the chain has no forks: a process-wide lock on SQLite (one writer at a time
anyway) and a transaction-scoped advisory lock on PostgreSQL (which also covers several server processes).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from clearinghouse.store.audit_chain import AuditEntry, ChainReport, next_entry, verify_chain
from clearinghouse.store.tables import audit_log

_ADVISORY_KEY = 0x636C6561  # "clea": the audit chain's PostgreSQL advisory lock
_LOCKS: dict[int, threading.RLock] = {}
# Built once: constructing a statement per append cost more than running it (intake profile).
_LAST_ENTRY = sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)
_LOCKS_GUARD = threading.Lock()


def _process_lock(engine: sa.Engine) -> threading.RLock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(id(engine), threading.RLock())


class AuditLog:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    @contextmanager
    def writing(self) -> Iterator[sa.Connection]:
        """A write transaction in which `append` may be called; serialised against other audit writers."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as conn:
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADVISORY_KEY)))
                yield conn
            return
        with _process_lock(self.engine), self.engine.begin() as conn:
            yield conn

    def append(
        self,
        conn: sa.Connection,
        actor: str,
        action: str,
        subject_type: str,
        subject_id: str,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Add an entry inside a `writing()` transaction: it commits or rolls back with the change it records."""
        last = conn.execute(_LAST_ENTRY).first()
        entry = next_entry(
            _entry(last) if last else None,
            at=datetime.now(UTC),
            actor=actor,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            details=details or {},
        )
        conn.execute(
            audit_log.insert(),
            dict(
                seq=entry.seq,
                at=entry.at,
                actor=entry.actor,
                action=entry.action,
                subject_type=entry.subject_type,
                subject_id=entry.subject_id,
                details=entry.details,
                prev_hash=entry.prev_hash,
                hash=entry.hash,
            ),
        )
        return entry

    def record(self, actor: str, action: str, subject_type: str, subject_id: str, details: dict[str, Any]) -> None:
        with self.writing() as conn:
            self.append(conn, actor, action, subject_type, subject_id, details)

    def entries(self, subject_type: str | None = None, subject_id: str | None = None) -> list[AuditEntry]:
        query = sa.select(audit_log).order_by(audit_log.c.seq)
        if subject_type is not None:
            query = query.where(audit_log.c.subject_type == subject_type)
        if subject_id is not None:
            query = query.where(audit_log.c.subject_id == subject_id)
        with self.engine.connect() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def verify(self, anchor: str | None = None) -> ChainReport:
        return verify_chain(self.entries(), anchor)


def _entry(row: Any) -> AuditEntry:
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
    return AuditEntry(
        seq=row.seq,
        at=at,
        actor=row.actor,
        action=row.action,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        details=row.details,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )
