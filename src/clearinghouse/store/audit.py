"""The audit log: append-only and hash-chained (see `audit_chain`), one entry per change anyone makes.

Appends are serialised so that the chain has no forks: on SQLite a process-wide lock plus, across processes
(the API server, its job worker, CLI commands), an exclusive lock on a file beside the database and `BEGIN IMMEDIATE`;
on PostgreSQL a transaction-scoped advisory lock (which also covers several server processes).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from clearinghouse.store.audit_chain import AuditEntry, ChainReport, next_entry, verify_chain
from clearinghouse.store.db import serialised_writes
from clearinghouse.store.tables import audit_log

_ADVISORY_KEY = 0x636C6561  # "clea": the audit chain's PostgreSQL advisory lock
# Built once: constructing a statement per append cost more than running it (intake profile). Only the head's
# seq and hash are needed to extend the chain: reading and decoding the whole row cost more than the insert.
_HEAD = sa.select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class AuditEvent:
    """What happened, before it is given its place in the chain."""

    actor: str
    action: str
    subject_type: str
    subject_id: str
    details: dict[str, Any] = field(default_factory=dict)


class AuditLog:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    @contextmanager
    def writing(self) -> Iterator[sa.Connection]:
        """A write transaction in which `append` may be called; serialised against other audit writers."""
        with serialised_writes(self.engine, _ADVISORY_KEY) as conn:
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
        return self.append_many(conn, [AuditEvent(actor, action, subject_type, subject_id, details or {})])[-1]

    def append_many(self, conn: sa.Connection, events: Sequence[AuditEvent]) -> list[AuditEntry]:
        """`append` for several events, chained in order, in one statement (the head is read once)."""
        head = conn.execute(_HEAD).first()
        # `next_entry` reads only the previous entry's seq and hash.
        previous = AuditEntry(head.seq, _EPOCH, "", "", "", "", {}, "", head.hash) if head else None
        at = datetime.now(UTC)
        entries = []
        for event in events:
            previous = next_entry(
                previous,
                at=at,
                actor=event.actor,
                action=event.action,
                subject_type=event.subject_type,
                subject_id=event.subject_id,
                details=event.details,
            )
            entries.append(previous)
        if entries:
            conn.execute(audit_log.insert(), [asdict(entry) for entry in entries])  # fields named as the columns
        return entries

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
