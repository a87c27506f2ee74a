"""The audit log: append-only, keyed and sealed in batches (see `audit_chain`), one entry per change anyone makes.

Each entry records the API token that acted (`ACTING_TOKEN`, set by the API's authentication, or given on the
event). Entries are leaves with their own HMAC, so appending one reads nothing and waits for no one; they are
sealed by links, one per committed batch, and after each seal the head link is signed and kept as the latest
checkpoint (`audit_keys`).

- SQLite has one writer at a time anyway (a file lock beside the database plus `BEGIN IMMEDIATE`), so a writer
  numbers its leaves after the last one and seals them itself, in its own transaction: a batch of 64 reports
  accepted at once is 64 leaves and one link.
- PostgreSQL: leaves are numbered by a sequence and written with no lock, each also listed in `audit_pending`.
  After its commit the writer tries (`pg_try_advisory_xact_lock`, never waiting) to seal every pending leaf in a
  short transaction of its own; if another process is sealing, it returns at once and that seal, the next
  writer's or the job worker's periodic `seal` (every second) takes its leaves. No cross-process lock remains
  on the accept path. The window: a leaf committed but not yet sealed (normally milliseconds, at most about a
  second while a worker runs) is checked by its HMAC alone, so a database owner could delete it unseen until
  then; once sealed, its deletion breaks its link.

`writing()` without `late` still serialises its transaction against the others that do so (on PostgreSQL an
advisory lock taken at BEGIN, `lock` takes it later): callers that read before they write rely on that for their
own rows, not the audit log.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from clearinghouse.store.audit_chain import (
    GENESIS,
    LEAF,
    AuditEntry,
    AuditLink,
    ChainReport,
    Checkpoint,
    checkpoint_is_signed,
    new_leaf,
    next_link,
    seqs_of,
    sign_checkpoint,
    verify_log,
)
from clearinghouse.store.audit_keys import AuditKeys, keys_for
from clearinghouse.store.db import serialised_writes
from clearinghouse.store.tables import audit_links, audit_log, audit_pending

# The API token acting in this request (set where the API authenticates); None for local operator commands.
ACTING_TOKEN: ContextVar[str | None] = ContextVar("clearinghouse_acting_token", default=None)
_LEAVES_KEY = "clearinghouse_audit_leaves"  # on the connection's info: the leaves this transaction appended
_LOCK_KEY = "clearinghouse_audit_locked"  # on the connection's info: whether this transaction holds the writers' lock

_ADVISORY_KEY = 0x636C6561  # "clea": PostgreSQL advisory lock of writers that read before they write
# "seal", with the schema's hash as the second key: only ever tried (never waited for) by a sealer. Advisory locks
# are per database; several stores (schemas) in one database seal independently.
SEAL_KEY = 0x7365616C
SEAL_LOCK = (SEAL_KEY, sa.func.hashtext(sa.func.current_schema()))
SEAL_LIMIT = 10_000  # leaves per link at most (a backlog becomes several links), bounding one statement's size
# Built once: constructing a statement per append cost more than running it (intake profile).
_LAST_SEQ = sa.select(audit_log.c.seq).order_by(audit_log.c.seq.desc()).limit(1)
_LAST_LINK = sa.select(audit_links).order_by(audit_links.c.seq.desc()).limit(1)
_LEGACY_HEAD = (
    sa.select(audit_log.c.hash).where(audit_log.c.prev_hash != LEAF).order_by(audit_log.c.seq.desc()).limit(1)
)
_PENDING = (
    sa.select(audit_log.c.seq, audit_log.c.hash)
    .join(audit_pending, audit_pending.c.seq == audit_log.c.seq)
    .order_by(audit_log.c.seq)
    .limit(SEAL_LIMIT)
)
_TRY_SEAL = sa.select(sa.func.pg_try_advisory_xact_lock(*SEAL_LOCK))
_UNPEND = sa.delete(audit_pending).where(
    audit_pending.c.seq == sa.any_(sa.bindparam("numbers", type_=postgresql.ARRAY(sa.Integer)))
)
_PEND = sa.insert(audit_pending).from_select(
    ["seq"], sa.select(sa.func.unnest(sa.bindparam("numbers", type_=postgresql.ARRAY(sa.Integer))))
)
_NUMBERS = sa.select(sa.func.nextval("audit_leaf_ids")).select_from(
    sa.func.generate_series(1, sa.bindparam("count", type_=sa.Integer))
)


@dataclass(frozen=True)
class AuditEvent:
    """What happened, before it is given its place in the log."""

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
    def writing(self, late: bool = False, seal: bool = True) -> Iterator[sa.Connection]:
        """A write transaction in which `append` may be called.

        `late` (for high-volume writers whose other writes need no serialisation: accepting and processing
        reports): on PostgreSQL no lock is taken at all (call `lock` to serialise against writers that read before
        they write). Without it, and always on SQLite, the transaction is serialised against other writers.
        The leaves appended are sealed before commit, in the same transaction: on SQLite always, on PostgreSQL when
        no other process is sealing (`pg_try_advisory_xact_lock`; else that seal, the next or a worker's takes them)
        and `seal` is left true. A PostgreSQL writer committing many small transactions passes `seal=False` to most
        of them and calls `seal` soon after (`intake.group_commit`): sealing is half of a small commit's cost.
        """
        postgres = self.engine.dialect.name == "postgresql"
        transaction = self.engine.begin() if late and postgres else serialised_writes(self.engine, _ADVISORY_KEY)
        sealed: AuditLink | None = None
        with transaction as conn:
            conn.info[_LEAVES_KEY] = []
            conn.info[_LOCK_KEY] = not (late and postgres)
            try:
                yield conn
                leaves: list[AuditEntry] = conn.info[_LEAVES_KEY]
                if leaves and postgres:
                    sealed = self._try_seal(conn) if seal else None
                elif leaves:  # the only writer now: seal this transaction's leaves with it
                    sealed = self._seal_in(conn, [(leaf.seq, leaf.hash) for leaf in leaves])
            finally:
                conn.info.pop(_LOCK_KEY, None)
                conn.info.pop(_LEAVES_KEY, None)
        if sealed is not None:  # committed: publish the new head link as the latest signed checkpoint
            self._publish(sealed)

    @staticmethod
    def lock(conn: sa.Connection) -> None:
        """In a `writing(late=True)` transaction: serialise against writers that read before they write (held until
        commit). The audit log itself needs no lock."""
        if not conn.info.get(_LOCK_KEY, True):
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADVISORY_KEY)))
            conn.info[_LOCK_KEY] = True

    @staticmethod
    def forget_lock(conn: sa.Connection) -> None:
        """In a `writing(late=True)` transaction, after a ROLLBACK TO SAVEPOINT that undid the `lock` taken since
        the savepoint: PostgreSQL let go of the lock with it, so the next `lock` takes it again."""
        if conn.info.get(_LOCK_KEY) is True and conn.dialect.name == "postgresql":
            conn.info[_LOCK_KEY] = False

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
        """`append` for several events, numbered in order, in one statement; no lock and no read of a head on
        PostgreSQL (numbers come from a sequence)."""
        if not events:
            return []
        if self.engine.dialect.name == "postgresql":
            numbers = list(conn.execute(_NUMBERS, {"count": len(events)}).scalars())
        else:  # serialised: the next numbers after the last entry
            last = conn.execute(_LAST_SEQ).scalar() or 0
            numbers = list(range(last + 1, last + 1 + len(events)))
        at = datetime.now(UTC)
        key = self.keys.hmac_key
        acting = ACTING_TOKEN.get()
        entries = [
            new_leaf(
                seq,
                at=at,
                actor=event.actor,
                action=event.action,
                subject_type=event.subject_type,
                subject_id=event.subject_id,
                details=event.details,
                key=key,
                token_id=event.token_id or acting,
            )
            for seq, event in zip(numbers, events, strict=True)
        ]
        # Fields named as the columns; `vars`, not `asdict`, whose deep copies were a quarter of an append's CPU.
        conn.execute(audit_log.insert(), [vars(entry).copy() for entry in entries])
        if self.engine.dialect.name == "postgresql":
            conn.execute(_PEND, {"numbers": numbers})
        conn.info.setdefault(_LEAVES_KEY, []).extend(entries)
        return entries

    def seal(self) -> int:
        """Seal the leaves committed and not sealed yet (PostgreSQL), one link per `SEAL_LIMIT`; how many leaves.

        Never waits: if another process is sealing, this returns at once (its seal, or the next, takes them).
        On SQLite every writer seals its own leaves, so there is nothing to do.
        """
        if self.engine.dialect.name != "postgresql":
            return 0
        sealed = 0
        while True:
            with self.engine.begin() as conn:
                link = self._try_seal(conn)
            if link is None:
                return sealed
            self._publish(link)
            sealed += link.count
            if link.count < SEAL_LIMIT:
                return sealed

    def _try_seal(self, conn: sa.Connection) -> AuditLink | None:
        """PostgreSQL, in `conn`'s transaction: seal the pending leaves it sees (committed ones, and its own) unless
        another transaction is sealing; the link, committed with the transaction."""
        if not conn.execute(_TRY_SEAL).scalar():
            return None
        leaves = [(row.seq, row.hash) for row in conn.execute(_PENDING)]
        if not leaves:
            return None
        link = self._seal_in(conn, leaves)
        conn.execute(_UNPEND, {"numbers": [number for number, _ in leaves]})
        return link

    def _seal_in(self, conn: sa.Connection, leaves: Sequence[tuple[int, str]]) -> AuditLink:
        row = conn.execute(_LAST_LINK).first()
        previous = _link(row) if row is not None else None
        legacy_head = GENESIS
        if previous is None:
            legacy_head = conn.execute(_LEGACY_HEAD).scalar() or GENESIS
        link = next_link(previous, legacy_head, sorted(leaves), datetime.now(UTC), self.keys.hmac_key)
        conn.execute(audit_links.insert(), [asdict(link)])
        return link

    def _publish(self, link: AuditLink) -> None:
        self.keys.advance(sign_checkpoint(self.keys.signing_key, link.seq, link.hash, link.at, link.total))

    def record(self, actor: str, action: str, subject_type: str, subject_id: str, details: dict[str, Any]) -> None:
        with self.writing() as conn:
            self.append(conn, actor, action, subject_type, subject_id, details)

    def entries(self, subject_type: str | None = None, subject_id: str | None = None) -> list[AuditEntry]:
        """Entries in number order: commit order on SQLite; on PostgreSQL numbers are taken before commit, so the
        entries of two transactions committed side by side may interleave (`sealed_after` follows commit order)."""
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

    def links(self) -> list[AuditLink]:
        with self.engine.connect() as conn:
            return [_link(row) for row in conn.execute(sa.select(audit_links).order_by(audit_links.c.seq))]

    def verify(self, anchor: str | None = None, kept: Checkpoint | None = None) -> ChainReport:
        """Check the legacy chain, every leaf's HMAC and every link, against this home's latest checkpoint and one
        an outsider `kept`."""
        if kept is not None and not checkpoint_is_signed(kept, self.keys.public_key):
            return ChainReport(False, 0, None, "the checkpoint given is not signed by this clearinghouse's key")
        # Read in publication order, so that a seal committed meanwhile cannot pass for a fault: the checkpoint
        # (signed after its link committed), then the links, then the entries (committed before their link).
        latest = self.keys.latest_checkpoint()
        links = self.links()
        entries = self.entries()
        report = verify_log(entries, links, self.keys.hmac_key, anchor, latest)
        if report.ok and kept is not None:
            report = verify_log(entries, links, self.keys.hmac_key, anchor, kept)
        return report

    def checkpoint(self) -> Checkpoint:
        """The latest signed checkpoint (of an empty log when nothing has been audited through this home)."""
        kept = self.keys.latest_checkpoint()
        if kept is not None:
            return kept
        return sign_checkpoint(self.keys.signing_key, 0, GENESIS, datetime.now(UTC), 0)

    def missing_triggers(self) -> list[str]:
        """The append-only triggers that should guard `audit_log` and `audit_links` and are gone (dropped)."""
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "postgresql":
                present = set(
                    conn.execute(
                        sa.text(
                            "SELECT tgname FROM pg_trigger WHERE tgrelid IN ('audit_log'::regclass, "
                            "'audit_links'::regclass) AND NOT tgisinternal"
                        )
                    ).scalars()
                )
            else:
                present = set(
                    conn.execute(
                        sa.text(
                            "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                            "AND tbl_name IN ('audit_log', 'audit_links')"
                        )
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


def sealed_after(conn: sa.Connection, position: int, action: str) -> tuple[list[AuditEntry], int]:
    """The entries doing `action` that links after link `position` seal, in link order (commit order: a leaf is
    sealed only once committed, and each link after the one before), and the last link read.

    Reading by entry number instead would miss entries on PostgreSQL, where numbers are taken before commit: a
    reader may pass a number whose entry commits later.
    """
    links = [
        _link(row)
        for row in conn.execute(sa.select(audit_links).where(audit_links.c.seq > position).order_by(audit_links.c.seq))
    ]
    if not links:
        return [], position
    order = {seq: index for index, seq in enumerate(seq for link in links for seq in seqs_of(link.leaf_ranges))}
    first = min(link.leaf_ranges[0][0] for link in links if link.leaf_ranges)
    last = max(link.leaf_ranges[-1][1] for link in links if link.leaf_ranges)
    rows = conn.execute(sa.select(audit_log).where(audit_log.c.seq.between(first, last), audit_log.c.action == action))
    found = sorted((_entry(row) for row in rows if row.seq in order), key=lambda entry: order[entry.seq])
    return found, links[-1].seq


def _append_only_sql(table: str) -> dict[str, dict[str, list[str]]]:
    message = f"{table} is append-only"
    return {
        "postgresql": {
            f"{table}_append_only": [
                f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN RAISE EXCEPTION '{message}'; END $$",
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
            ]
        },
        "sqlite": {
            f"{table}_no_{event.lower()}": [
                f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            ]
            for event in ("UPDATE", "DELETE")
        },
    }


_LOG_TRIGGERS, _LINK_TRIGGERS = _append_only_sql("audit_log"), _append_only_sql("audit_links")
_TRIGGER_SQL: dict[str, dict[str, list[str]]] = {
    dialect: {**_LOG_TRIGGERS[dialect], **_LINK_TRIGGERS[dialect]} for dialect in ("postgresql", "sqlite")
}


def append_only_triggers(dialect: str) -> list[str]:
    """The triggers migrations 0004 (`audit_log`) and 0016 (`audit_links`) create for this database."""
    return list(_TRIGGER_SQL[dialect])


def _link(row: Any) -> AuditLink:
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
    return AuditLink(row.seq, at, row.prev_hash, row.root, row.leaf_ranges, row.count, row.total, row.hash)


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
