"""The audit log: append-only, keyed and hash-chained (see `audit_chain`), one entry per change anyone makes.

Each entry records the API token that acted (`ACTING_TOKEN`, set by the API's authentication, or given on the
event). After each audited commit the new head is signed and kept as the latest checkpoint (`audit_keys`).

Appends are serialised so that the chain has no forks: on SQLite a process-wide lock plus, across processes
(the API server, its job worker, CLI commands), an exclusive lock on a file beside the database and `BEGIN IMMEDIATE`;
on PostgreSQL a transaction-scoped advisory lock (which also covers several server processes).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from clearinghouse.store.audit_chain import (
    AuditEntry,
    ChainReport,
    Checkpoint,
    checkpoint_is_signed,
    next_entry,
    sign_checkpoint,
    verify_chain,
)
from clearinghouse.store.audit_keys import AuditKeys, keys_for
from clearinghouse.store.db import serialised_writes
from clearinghouse.store.tables import audit_log

# The API token acting in this request (set where the API authenticates); None for local operator commands.
ACTING_TOKEN: ContextVar[str | None] = ContextVar("clearinghouse_acting_token", default=None)
_HEAD_KEY = "clearinghouse_audit_head"  # on the connection's info: the head a transaction appended
_LOCK_KEY = "clearinghouse_audit_locked"  # on the connection's info: whether this transaction holds the chain lock

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
    token_id: str | None = None  # the acting token; ACTING_TOKEN when not given


class AuditLog:
    def __init__(self, engine: sa.Engine, keys: AuditKeys | None = None) -> None:
        self.engine = engine
        self._keys = keys

    @property
    def keys(self) -> AuditKeys:
        if self._keys is None:
            self._keys = keys_for(self.engine)
        return self._keys

    @contextmanager
    def writing(self, late: bool = False) -> Iterator[sa.Connection]:
        """A write transaction in which `append` may be called; serialised against other audit writers.

        `late` (for high-volume writers whose other writes need no serialisation: accepting and processing
        reports): on PostgreSQL the chain's lock is taken by the first `append` (or `lock`), not at BEGIN, so the
        transaction's other statements run beside other writers and only extending the chain and committing wait
        their turn. A writer that reads before it writes and needs the lock for that must call `lock` first.
        """
        if late and self.engine.dialect.name == "postgresql":
            transaction = self.engine.begin()
        else:
            transaction = serialised_writes(self.engine, _ADVISORY_KEY)
        with transaction as conn:
            conn.info.pop(_HEAD_KEY, None)
            conn.info[_LOCK_KEY] = not (late and self.engine.dialect.name == "postgresql")
            try:
                yield conn
            finally:
                conn.info.pop(_LOCK_KEY, None)
            head: AuditEntry | None = conn.info.pop(_HEAD_KEY, None)
        if head is not None:  # committed: publish the new head as the latest signed checkpoint
            self.keys.advance(sign_checkpoint(self.keys.signing_key, head.seq, head.hash, head.at))

    @staticmethod
    def lock(conn: sa.Connection) -> None:
        """In a `writing(late=True)` transaction: take the chain's lock now (held until commit)."""
        if not conn.info.get(_LOCK_KEY, True):
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADVISORY_KEY)))
            conn.info[_LOCK_KEY] = True

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
        if not events:
            return []
        self.lock(conn)
        head = conn.execute(_HEAD).first()
        # `next_entry` reads only the previous entry's seq and hash.
        previous = AuditEntry(head.seq, _EPOCH, "", "", "", "", {}, "", head.hash) if head else None
        at = datetime.now(UTC)
        entries = []
        key = self.keys.hmac_key
        acting = ACTING_TOKEN.get()
        for event in events:
            previous = next_entry(
                previous,
                at=at,
                actor=event.actor,
                action=event.action,
                subject_type=event.subject_type,
                subject_id=event.subject_id,
                details=event.details,
                key=key,
                token_id=event.token_id or acting,
            )
            entries.append(previous)
        if entries:
            conn.execute(audit_log.insert(), [asdict(entry) for entry in entries])  # fields named as the columns
            conn.info[_HEAD_KEY] = entries[-1]
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

    def latest(self, limit: int) -> list[AuditEntry]:
        """The newest `limit` entries, newest first (the administration page)."""
        query = sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def verify(self, anchor: str | None = None, kept: Checkpoint | None = None) -> ChainReport:
        """Check every link and HMAC, against this home's latest checkpoint and one an outsider `kept`."""
        entries = self.entries()
        if kept is not None and not checkpoint_is_signed(kept, self.keys.public_key):
            return ChainReport(False, 0, None, "the checkpoint given is not signed by this clearinghouse's key")
        report = verify_chain(entries, anchor, self.keys.hmac_key, self.keys.latest_checkpoint())
        if report.ok and kept is not None:
            report = verify_chain(entries, anchor, self.keys.hmac_key, kept)
        return report

    def checkpoint(self) -> Checkpoint:
        """The latest signed checkpoint (of an empty log when nothing has been audited through this home)."""
        kept = self.keys.latest_checkpoint()
        if kept is not None:
            return kept
        return sign_checkpoint(self.keys.signing_key, 0, "0" * 64, datetime.now(UTC))

    def missing_triggers(self) -> list[str]:
        """The append-only triggers that should guard `audit_log` and are gone (someone dropped them)."""
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "postgresql":
                present = set(
                    conn.execute(
                        sa.text(
                            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass AND NOT tgisinternal"
                        )
                    ).scalars()
                )
            else:
                present = set(
                    conn.execute(
                        sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'")
                    ).scalars()
                )
        return [name for name in append_only_triggers(self.engine.dialect.name) if name not in present]

    def restore_triggers(self) -> list[str]:
        """Create the append-only triggers that are missing; the names restored."""
        missing = self.missing_triggers()
        if missing:
            with self.engine.begin() as conn:
                for name in missing:
                    for statement in _TRIGGER_SQL[self.engine.dialect.name][name]:
                        conn.execute(sa.text(statement))
        return missing


_APPEND_ONLY = "audit_log is append-only"
_TRIGGER_SQL: dict[str, dict[str, list[str]]] = {
    "postgresql": {
        "audit_log_append_only": [
            "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END $$",
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
        ]
    },
    "sqlite": {
        f"audit_log_no_{event.lower()}": [
            f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log "
            f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
        ]
        for event in ("UPDATE", "DELETE")
    },
}


def append_only_triggers(dialect: str) -> list[str]:
    """The triggers migration 0004 creates on `audit_log` for this database."""
    return list(_TRIGGER_SQL[dialect])


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
        token_id=row.token_id,
        keyed=bool(row.keyed),
    )
