"""Reports in the store: SQL only. Transactions, access checks, audit and the clock belong to the service."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from clearinghouse.errors import NotFound
from clearinghouse.intake.lifecycle import ReportState
from clearinghouse.intake.views import QueueFilter
from clearinghouse.policy.filters import org_filter, record_filter
from clearinghouse.policy.principals import ANONYMOUS
from clearinghouse.policy.rules import OrgScope, record_visibility
from clearinghouse.store.audit import sealed_after
from clearinghouse.store.tables import (
    audit_links,
    idempotency_keys,
    pipeline_step_totals,
    records,
    report_attachments,
    report_fingerprints,
    reports,
)

# Ordered, then locked: PostgreSQL locks the rows as the sorted rows come up, so in id order.
_LOCK_ROWS = (
    sa.select(reports.c.id)
    .where(reports.c.id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(reports.c.id)
    .with_for_update(key_share=True)
)


def _like_escaped(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _narrowing(narrowing: QueueFilter) -> list[sa.ColumnElement[bool]]:
    """SQL for the queue's filters: every search word in the title or the finding as submitted (any case)."""
    found: list[sa.ColumnElement[bool]] = []
    submitted = sa.cast(reports.c.submission, sa.Text)
    for word in narrowing.words():
        pattern = _like_escaped(word)
        found.append(
            sa.or_(
                reports.c.title.ilike(pattern, escape="\\"),
                submitted.ilike(pattern, escape="\\"),
                reports.c.id == word,
            )
        )
    if narrowing.ssvc is not None:
        found.append(reports.c.ssvc == narrowing.ssvc)
    if narrowing.origin is not None:
        found.append(reports.c.provenance["origin"].as_string() == narrowing.origin)
    return found


class ReportRepository:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # Writes, inside the service's transaction ------------------------------------------------------------------

    @staticmethod
    def insert(
        conn: sa.Connection,
        report_rows: Sequence[dict[str, Any]],
        attachment_rows: Sequence[dict[str, Any]],
    ) -> None:
        conn.execute(reports.insert(), list(report_rows))
        if attachment_rows:
            conn.execute(report_attachments.insert(), list(attachment_rows))

    @staticmethod
    def insert_idempotency_keys(conn: sa.Connection, key_rows: Sequence[dict[str, Any]]) -> None:
        conn.execute(idempotency_keys.insert(), list(key_rows))

    @staticmethod
    def stored_key(conn: sa.Connection, organisation: str, key: str) -> tuple[str, list[str]] | None:
        """The request hash and report ids an earlier submission stored under this Idempotency-Key."""
        earlier = conn.execute(
            sa.select(idempotency_keys.c.request_hash, idempotency_keys.c.response).where(
                idempotency_keys.c.organisation_id == organisation, idempotency_keys.c.key == key
            )
        ).first()
        return None if earlier is None else (earlier.request_hash, list(earlier.response["report_ids"]))

    @staticmethod
    def lock_rows(conn: sa.Connection, report_ids: Collection[str]) -> list[str]:
        """Lock these reports' rows until commit, in id order, in one statement; the ids that exist.

        The first step of every transaction that updates existing reports (the order is `intake.locking`'s).
        FOR NO KEY UPDATE is the lock an UPDATE of these columns takes anyway: inserts of rows referring to a
        report (case links, reproductions, fingerprints) are not held up by it. SQLite locks nothing here (one
        writer at a time)."""
        if not report_ids:
            return []
        return list(conn.execute(_LOCK_ROWS, {"ids": sorted(set(report_ids))}).scalars())

    @staticmethod
    def cluster_members(conn: sa.Connection, cluster_id: str) -> list[str]:
        """The reports whose stored cluster is this one (a report leading its own cluster may store none)."""
        return list(conn.execute(sa.select(reports.c.id).where(reports.c.cluster_id == cluster_id)).scalars())

    @staticmethod
    def update(conn: sa.Connection, report_id: str, values: dict[str, Any]) -> None:
        conn.execute(sa.update(reports).where(reports.c.id == report_id).values(**values))

    @staticmethod
    def update_many(conn: sa.Connection, updates: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Set each report's own values: one executemany per set of columns (failed runs set fewer)."""
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for report_id, values in updates:
            by_columns.setdefault(tuple(sorted(values)), []).append(
                {"report": report_id, **{f"new_{name}": value for name, value in values.items()}}
            )
        for columns, rows in by_columns.items():
            statement = (
                sa.update(reports)
                .where(reports.c.id == sa.bindparam("report"))
                .values({name: sa.bindparam(f"new_{name}") for name in columns})
            )
            conn.execute(statement, rows)

    @staticmethod
    def write_fingerprints(conn: sa.Connection, rows: Sequence[tuple[str, bytes]]) -> None:
        """Store each report's shared fingerprint, replacing an earlier run's; a report no longer stored gets none
        (read off `reports` in the statement, so a deleted report is no foreign-key error failing the batch)."""
        if not rows:
            return
        table = report_fingerprints
        source = sa.select(reports.c.id, sa.bindparam("shared", type_=sa.LargeBinary)).where(
            reports.c.id == sa.bindparam("report")
        )
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table).from_select(
            [table.c.report_id, table.c.fingerprint], source
        )
        statement = insert.on_conflict_do_update(
            index_elements=[table.c.report_id], set_={"fingerprint": insert.excluded.fingerprint}
        )
        conn.execute(statement, [{"report": report_id, "shared": shared} for report_id, shared in rows])

    def fingerprints(self, report_ids: Sequence[str]) -> dict[str, bytes]:
        """The shared fingerprints stored for these reports (those de-duplicated since migration 0017), by id."""
        if not report_ids:
            return {}
        table = report_fingerprints
        query = sa.select(table.c.report_id, table.c.fingerprint).where(table.c.report_id.in_(list(report_ids)))
        with self.engine.connect() as conn:
            return {row.report_id: bytes(row.fingerprint) for row in conn.execute(query)}

    @staticmethod
    def add_step_totals(conn: sa.Connection, totals: dict[str, tuple[int, int, float]]) -> None:
        """Add (runs, failures, seconds) to each step's counters."""
        if not totals:
            return
        rows = [{"step": s, "runs": r, "failures": f, "seconds": t} for s, (r, f, t) in sorted(totals.items())]
        table = pipeline_step_totals
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
        conn.execute(
            insert.on_conflict_do_update(
                index_elements=[table.c.step],
                set_={
                    "runs": table.c.runs + insert.excluded.runs,
                    "failures": table.c.failures + insert.excluded.failures,
                    "seconds": table.c.seconds + insert.excluded.seconds,
                },
            ),
            rows,
        )

    @staticmethod
    def states(conn: sa.Connection, report_ids: Sequence[str]) -> dict[str, ReportState]:
        if not report_ids:
            return {}
        rows = conn.execute(sa.select(reports.c.id, reports.c.state).where(reports.c.id.in_(list(report_ids))))
        return {row.id: ReportState(row.state) for row in rows}

    @staticmethod
    def state(conn: sa.Connection, report_id: str) -> ReportState:
        state = conn.execute(sa.select(reports.c.state).where(reports.c.id == report_id)).scalar_one_or_none()
        if state is None:
            raise NotFound(f"no report with id {report_id!r}")
        return ReportState(state)

    @staticmethod
    def require(conn: sa.Connection, report_id: str) -> None:
        if conn.execute(sa.select(reports.c.id).where(reports.c.id == report_id)).first() is None:
            raise NotFound(f"no report with id {report_id!r}")

    @staticmethod
    def cluster_of_locked(conn: sa.Connection, report_id: str) -> str:
        """The report's cluster (a report not yet clustered leads its own)."""
        row = conn.execute(sa.select(reports.c.cluster_id).where(reports.c.id == report_id)).first()
        if row is None:
            raise NotFound(f"no report with id {report_id!r}")
        return str(row.cluster_id or report_id)

    @staticmethod
    def split_out(conn: sa.Connection, report_id: str, old_cluster: str, locked: Collection[str]) -> None:
        """Give the report a cluster of its own; if it led its cluster, the next-oldest member leads the rest (of
        the `locked` members: one that joined since was put there after this split)."""
        if old_cluster == report_id:
            rest = (
                conn.execute(
                    sa.select(reports.c.id)
                    .where(reports.c.cluster_id == report_id, reports.c.id != report_id, reports.c.id.in_(list(locked)))
                    .order_by(reports.c.received_at)
                )
                .scalars()
                .all()
            )
            if rest:
                conn.execute(sa.update(reports).where(reports.c.id.in_(rest)).values(cluster_id=rest[0]))
        conn.execute(sa.update(reports).where(reports.c.id == report_id).values(cluster_id=report_id))

    @staticmethod
    def move_cluster(conn: sa.Connection, source: str, into_cluster: str, locked: Collection[str]) -> int:
        """Move every report of one cluster (of the `locked` ones: one that joined since was put there after this
        move) into another; how many moved. `NotFound` if the target is empty."""
        exists = conn.execute(sa.select(reports.c.id).where(reports.c.cluster_id == into_cluster).limit(1)).first()
        if exists is None:
            raise NotFound(f"no duplicate cluster {into_cluster!r}")
        moved: int = conn.execute(
            sa.update(reports)
            .where(reports.c.cluster_id == source, reports.c.id.in_(list(locked)))
            .values(cluster_id=into_cluster)
        ).rowcount
        return moved

    # Reads -----------------------------------------------------------------------------------------------------

    def row(self, report_id: str) -> Any | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(reports).where(reports.c.id == report_id)).first()

    def page(
        self,
        scope: OrgScope,
        state: ReportState | None,
        limit: int,
        after: tuple[float | None, datetime, str] | None,
        narrowing: QueueFilter | None = None,
    ) -> tuple[list[Any], int]:
        """Up to `limit` reports of the organisations the policy's `scope` admits, in queue order (priority, then
        age, then id) after the sort key `after`; and how many match in all."""
        filters: list[sa.ColumnElement[bool]] = [org_filter(scope, reports.c.organisation_id)]
        if state is not None:
            filters.append(reports.c.state == state.value)
        if narrowing is not None:
            filters.extend(_narrowing(narrowing))
        query = sa.select(reports).where(*filters)
        if after is not None:
            query = query.where(_after_in_queue(*after))
        query = query.order_by(reports.c.priority.desc().nulls_last(), reports.c.received_at, reports.c.id)
        with self.engine.connect() as conn:
            rows = list(conn.execute(query.limit(limit)))
            total = conn.execute(sa.select(sa.func.count()).select_from(reports).where(*filters)).scalar_one()
        return rows, total

    def submission(self, report_id: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
        """A report's finding (as submitted), provenance and latest reproduction verdict."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(reports.c.submission, reports.c.provenance, reports.c.reproduction).where(
                    reports.c.id == report_id
                )
            ).first()
        if row is None:
            raise NotFound(f"no report with id {report_id!r}")
        return row.submission, row.provenance, row.reproduction

    def submissions(
        self, report_ids: Sequence[str]
    ) -> dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]]:
        """Each stored report's finding (as submitted), provenance and latest reproduction verdict, by id."""
        if not report_ids:
            return {}
        query = sa.select(reports.c.id, reports.c.submission, reports.c.provenance, reports.c.reproduction).where(
            reports.c.id.in_(list(report_ids))
        )
        with self.engine.connect() as conn:
            return {row.id: (row.submission, row.provenance, row.reproduction) for row in conn.execute(query)}

    def audit_head(self) -> int:
        """The last link sealing audit entries (links are written in commit order; see `store.audit.sealed_after`)."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(audit_links.c.seq), 0))).scalar_one())

    def triaged_after(self, position: int) -> tuple[list[str], int]:
        """Ids of the reports moved to triaged by audit entries sealed after link `position`, in commit order; the
        last link read."""
        with self.engine.connect() as conn:
            entries, last = sealed_after(conn, position, "report.state")
        return [entry.subject_id for entry in entries if entry.details.get("to") == ReportState.TRIAGED.value], last

    def step_totals(self) -> list[tuple[str, int, int, float]]:
        """(step, runs, failures, seconds) of every pipeline step, as the workers added them up."""
        table = pipeline_step_totals
        query = sa.select(table.c.step, table.c.runs, table.c.failures, table.c.seconds).order_by(table.c.step)
        with self.engine.connect() as conn:
            return [(row.step, int(row.runs), int(row.failures), float(row.seconds)) for row in conn.execute(query)]

    def credibility_record(self, organisation_id: str) -> tuple[int, float | None]:
        """How many of an organisation's reports were checked, and their mean credibility."""
        query = sa.select(sa.func.count(reports.c.credibility), sa.func.avg(reports.c.credibility)).where(
            reports.c.organisation_id == organisation_id
        )
        with self.engine.connect() as conn:
            checked, mean = conn.execute(query).one()
        return int(checked), None if mean is None else float(mean)

    def deduplicated(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(id, submission) of every report that went through de-duplication, oldest first."""
        query = sa.select(reports.c.id, reports.c.submission, reports.c.pipeline).order_by(reports.c.received_at)
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                if row.pipeline.get("deduplicate", {}).get("ok"):
                    yield row.id, row.submission

    def owners(self, report_ids: Sequence[str]) -> dict[str, str]:
        """The organisation of each of these reports (id -> organisation id)."""
        query = sa.select(reports.c.id, reports.c.organisation_id).where(reports.c.id.in_(report_ids))
        with self.engine.connect() as conn:
            return {row.id: row.organisation_id for row in conn.execute(query)}

    def public_records(self, record_ids: Sequence[str]) -> set[str]:
        """Which of these records anyone may read (TLP:CLEAR and released): the only ones a reporter is shown."""
        public = record_filter(record_visibility(ANONYMOUS), records.c.tlp, records.c.status)
        query = sa.select(records.c.id).where(records.c.id.in_(list(record_ids)), public)
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def cluster_page(self, cluster_id: str, limit: int, after: tuple[datetime, str] | None) -> tuple[list[Any], int]:
        """Up to `limit` members of a cluster, oldest first, after the sort key `after`; and the cluster's size."""
        in_cluster = reports.c.cluster_id == cluster_id
        query = sa.select(reports).where(in_cluster)
        if after is not None:
            received_at, report_id = after
            query = query.where(_later(received_at, report_id))
        query = query.order_by(reports.c.received_at, reports.c.id).limit(limit)
        with self.engine.connect() as conn:
            rows = list(conn.execute(query))
            total = conn.execute(sa.select(sa.func.count()).select_from(reports).where(in_cluster)).scalar_one()
        return rows, total

    def clusters_of(self, report_ids: Collection[str]) -> dict[str, str | None]:
        """The stored cluster of each of these reports that exists (None: not clustered yet); a batch's worth."""
        query = sa.select(reports.c.id, reports.c.cluster_id).where(reports.c.id.in_(list(report_ids)))
        with self.engine.connect() as conn:
            return {row.id: row.cluster_id for row in conn.execute(query)}


def _later(received_at: datetime, report_id: str) -> sa.ColumnElement[bool]:
    return sa.or_(
        reports.c.received_at > received_at,
        sa.and_(reports.c.received_at == received_at, reports.c.id > report_id),
    )


def _after_in_queue(priority: float | None, received_at: datetime, report_id: str) -> sa.ColumnElement[bool]:
    """Reports after (priority, received_at, id) in the queue's order: priority descending with no priority
    last, then oldest first, then by id."""
    if priority is None:
        return sa.and_(reports.c.priority.is_(None), _later(received_at, report_id))
    return sa.or_(
        reports.c.priority < priority,
        reports.c.priority.is_(None),
        sa.and_(reports.c.priority == priority, _later(received_at, report_id)),
    )
