"""SQL of reproductions: their rows, and each report's latest verdict on the report itself."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from clearinghouse.errors import NotFound
from clearinghouse.store.tables import reports, reproductions


class ReproductionRepository:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def report(self, conn: sa.Connection, report_id: str) -> Any:
        row = conn.execute(
            sa.select(reports.c.id, reports.c.organisation_id, reports.c.submission, reports.c.triage).where(
                reports.c.id == report_id
            )
        ).first()
        if row is None:
            raise NotFound(f"no report with id {report_id!r}")
        return row

    def report_owner(self, report_id: str) -> str | None:
        with self.engine.connect() as conn:
            owner = conn.execute(sa.select(reports.c.organisation_id).where(reports.c.id == report_id)).scalar()
        return None if owner is None else str(owner)

    def insert(self, conn: sa.Connection, values: dict[str, Any]) -> None:
        conn.execute(reproductions.insert().values(**values))

    def row(self, conn: sa.Connection, reproduction_id: str) -> Any:
        row = conn.execute(sa.select(reproductions).where(reproductions.c.id == reproduction_id)).first()
        if row is None:
            raise NotFound(f"no reproduction with id {reproduction_id!r}")
        return row

    def claim(self, conn: sa.Connection, reproduction_id: str, now: datetime) -> bool:
        """Move a queued reproduction to running; False when another worker got it first."""
        moved = conn.execute(
            sa.update(reproductions)
            .where(reproductions.c.id == reproduction_id, reproductions.c.state == "queued")
            .values(state="running", started_at=now)
        )
        return bool(moved.rowcount)

    def finish(self, conn: sa.Connection, reproduction_id: str, values: dict[str, Any]) -> None:
        conn.execute(sa.update(reproductions).where(reproductions.c.id == reproduction_id).values(**values))

    def set_report_summary(self, conn: sa.Connection, report_id: str, summary: dict[str, Any]) -> None:
        conn.execute(sa.update(reports).where(reports.c.id == report_id).values(reproduction=summary))

    def for_report(self, report_id: str) -> Sequence[Any]:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(reproductions)
                .where(reproductions.c.report_id == report_id)
                .order_by(reproductions.c.requested_at.desc(), reproductions.c.id)
            ).all()

    def for_case(self, case_id: str) -> Sequence[Any]:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(reproductions)
                .where(reproductions.c.case_id == case_id)
                .order_by(reproductions.c.requested_at.desc(), reproductions.c.id)
            ).all()

    def latest_reproduced(self, report_ids: Sequence[str]) -> Sequence[Any]:
        """The newest finished report reproduction of each report whose verdict is a reproduction (PoC works)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(reproductions)
                .where(
                    reproductions.c.report_id.in_(list(report_ids)),
                    reproductions.c.purpose == "report",
                    reproductions.c.verdict.in_(["reproduced", "reproduced_not_fixed"]),
                )
                .order_by(reproductions.c.finished_at.desc())
            ).all()
        newest: dict[str, Any] = {}
        for row in rows:
            newest.setdefault(row.report_id, row)
        return list(newest.values())

    def unfinished(self, stale_before: datetime) -> list[str]:
        """Queued reproductions, and running ones started before `stale_before` (their worker is gone)."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(reproductions)
                .where(reproductions.c.state == "running", reproductions.c.started_at < stale_before)
                .values(state="queued", started_at=None)
            )
            found = conn.execute(
                sa.select(reproductions.c.id)
                .where(reproductions.c.state == "queued")
                .order_by(reproductions.c.requested_at)
            ).scalars()
            return [str(value) for value in found]
