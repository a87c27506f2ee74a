"""SQL for coordination cases (no access decisions: the service makes them)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from clearinghouse.store.tables import (
    affected_packages,
    case_attachments,
    case_events,
    case_messages,
    case_participants,
    case_records,
    case_reports,
    case_vendor_status,
    cases,
    organisations,
    record_identifiers,
    records,
    reports,
    vendor_declarations,
)

_IDS: sa.BindParameter[list[str]] = sa.bindparam("ids", expanding=True)


def next_case_number(conn: sa.Connection, year: int) -> int:
    """The next free number of the year (called inside a serialised write, so two cases never share one)."""
    prefix = f"CASE-{year}-"
    ids = conn.execute(sa.select(cases.c.id).where(cases.c.id.like(f"{prefix}%"))).scalars()
    return max((int(i.removeprefix(prefix)) for i in ids), default=0) + 1


def insert_case(conn: sa.Connection, row: dict[str, Any]) -> None:
    conn.execute(cases.insert().values(**row))


def case_row(conn: sa.Connection, case_id: str) -> Any:
    return conn.execute(sa.select(cases).where(cases.c.id == case_id)).one_or_none()


def update_case(conn: sa.Connection, case_id: str, **values: Any) -> None:
    conn.execute(sa.update(cases).where(cases.c.id == case_id).values(**values))


def case_ids_for(conn: sa.Connection, organisation_id: str | None) -> list[str]:
    """Every case (None) or the cases an organisation takes part in, newest first."""
    query = sa.select(cases.c.id).order_by(cases.c.created_at.desc(), cases.c.id.desc())
    if organisation_id is not None:
        query = query.where(
            cases.c.id.in_(
                sa.select(case_participants.c.case_id).where(case_participants.c.organisation_id == organisation_id)
            )
        )
    return list(conn.execute(query).scalars())


def case_rows(conn: sa.Connection, case_ids: Sequence[str]) -> list[Any]:
    if not case_ids:
        return []
    rows = {r.id: r for r in conn.execute(sa.select(cases).where(cases.c.id.in_(_IDS)), {"ids": list(case_ids)})}
    return [rows[i] for i in case_ids if i in rows]


# Participants ----------------------------------------------------------------------------------------------------


def participants(conn: sa.Connection, case_id: str) -> list[Any]:
    return list(
        conn.execute(
            sa.select(case_participants, organisations.c.name.label("organisation"))
            .join(organisations, organisations.c.id == case_participants.c.organisation_id)
            .where(case_participants.c.case_id == case_id)
            .order_by(case_participants.c.added_at, organisations.c.name)
        )
    )


def roles_of(conn: sa.Connection, case_id: str, organisation_id: str) -> set[str]:
    return set(
        conn.execute(
            sa.select(case_participants.c.role).where(
                case_participants.c.case_id == case_id, case_participants.c.organisation_id == organisation_id
            )
        ).scalars()
    )


def add_participant(conn: sa.Connection, row: dict[str, Any]) -> None:
    conn.execute(case_participants.insert().values(**row))


def remove_participant(conn: sa.Connection, case_id: str, organisation_id: str, role: str) -> int:
    result = conn.execute(
        sa.delete(case_participants).where(
            case_participants.c.case_id == case_id,
            case_participants.c.organisation_id == organisation_id,
            case_participants.c.role == role,
        )
    )
    return int(result.rowcount)


def cases_of_records(conn: sa.Connection, record_ids: Collection[str], organisation_id: str) -> set[str]:
    """Which of `record_ids` belong to a case the organisation takes part in."""
    if not record_ids:
        return set()
    query = (
        sa.select(case_records.c.record_id)
        .join(case_participants, case_participants.c.case_id == case_records.c.case_id)
        .where(case_records.c.record_id.in_(_IDS), case_participants.c.organisation_id == organisation_id)
    )
    return set(conn.execute(query, {"ids": sorted(record_ids)}).scalars())


# Organisations ---------------------------------------------------------------------------------------------------


def organisation_by_name_or_id(conn: sa.Connection, name_or_id: str) -> Any:
    return conn.execute(
        sa.select(organisations).where(sa.or_(organisations.c.id == name_or_id, organisations.c.name == name_or_id))
    ).first()


def organisation_names(conn: sa.Connection, ids: Collection[str]) -> dict[str, str]:
    if not ids:
        return {}
    query = sa.select(organisations.c.id, organisations.c.name).where(organisations.c.id.in_(_IDS))
    return {row.id: row.name for row in conn.execute(query, {"ids": sorted(ids)})}


# Reports and records ----------------------------------------------------------------------------------------------


def report_rows(conn: sa.Connection, report_ids: Sequence[str]) -> list[Any]:
    if not report_ids:
        return []
    query = sa.select(reports).where(reports.c.id.in_(_IDS))
    found = {row.id: row for row in conn.execute(query, {"ids": list(report_ids)})}
    return [found[i] for i in report_ids if i in found]


def set_report_state(conn: sa.Connection, report_id: str, state: str, at: datetime) -> None:
    conn.execute(sa.update(reports).where(reports.c.id == report_id).values(state=state, updated_at=at))


def cluster_report_ids(conn: sa.Connection, cluster_id: str) -> list[str]:
    query = sa.select(reports.c.id).where(reports.c.cluster_id == cluster_id).order_by(reports.c.received_at)
    return list(conn.execute(query).scalars())


def link_reports(conn: sa.Connection, case_id: str, report_ids: Sequence[str]) -> None:
    conn.execute(case_reports.insert(), [{"case_id": case_id, "report_id": r} for r in report_ids])


def linked_reports(conn: sa.Connection, case_id: str) -> list[str]:
    query = (
        sa.select(case_reports.c.report_id).where(case_reports.c.case_id == case_id).order_by(case_reports.c.report_id)
    )
    return list(conn.execute(query).scalars())


def reports_in_cases(conn: sa.Connection, report_ids: Sequence[str]) -> dict[str, str]:
    query = sa.select(case_reports.c.report_id, case_reports.c.case_id).where(case_reports.c.report_id.in_(_IDS))
    return {row.report_id: row.case_id for row in conn.execute(query, {"ids": list(report_ids)})}


def link_record(conn: sa.Connection, case_id: str, record_id: str) -> None:
    conn.execute(case_records.insert().values(case_id=case_id, record_id=record_id))


def linked_records(conn: sa.Connection, case_id: str) -> list[str]:
    query = (
        sa.select(case_records.c.record_id).where(case_records.c.case_id == case_id).order_by(case_records.c.record_id)
    )
    return list(conn.execute(query).scalars())


def record_document(conn: sa.Connection, record_id: str) -> Any:
    return conn.execute(
        sa.select(records.c.doc, records.c.tlp, records.c.status).where(records.c.id == record_id)
    ).one_or_none()


def delete_record(conn: sa.Connection, record_id: str) -> None:
    for table in (record_identifiers, affected_packages):
        conn.execute(sa.delete(table).where(table.c.record_id == record_id))
    conn.execute(sa.delete(records).where(records.c.id == record_id))


# Vendor statuses ---------------------------------------------------------------------------------------------------


def add_status(conn: sa.Connection, row: dict[str, Any]) -> None:
    conn.execute(case_vendor_status.insert().values(**row))


def current_statuses(conn: sa.Connection, case_id: str) -> dict[str, Any]:
    """Each vendor's latest statement, by organisation id."""
    latest = (
        sa.select(sa.func.max(case_vendor_status.c.id))
        .where(case_vendor_status.c.case_id == case_id)
        .group_by(case_vendor_status.c.organisation_id)
    )
    rows = conn.execute(sa.select(case_vendor_status).where(case_vendor_status.c.id.in_(latest)))
    return {row.organisation_id: row for row in rows}


# Messages and events -------------------------------------------------------------------------------------------------


def add_message(conn: sa.Connection, row: dict[str, Any]) -> int:
    return int(conn.execute(case_messages.insert().values(**row).returning(case_messages.c.id)).scalar_one())


def add_attachments(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(case_attachments.insert(), list(rows))


def message_row(conn: sa.Connection, message_id: int) -> Any:
    return conn.execute(sa.select(case_messages).where(case_messages.c.id == message_id)).one_or_none()


def attachments_of(conn: sa.Connection, message_id: int) -> list[Any]:
    query = (
        sa.select(case_attachments).where(case_attachments.c.message_id == message_id).order_by(case_attachments.c.name)
    )
    return list(conn.execute(query))


def _thread_filter(threads: Collection[str] | None) -> sa.ColumnElement[bool]:
    """None: every thread (staff); otherwise messages to everyone plus the given vendor threads."""
    if threads is None:
        return sa.true()
    return sa.or_(case_messages.c.thread.is_(None), case_messages.c.thread.in_(sorted(threads)))


def messages(conn: sa.Connection, case_id: str, threads: Collection[str] | None, limit: int) -> tuple[list[Any], int]:
    """The newest `limit` messages the thread filter admits (oldest first) and how many it admits in all."""
    where = sa.and_(case_messages.c.case_id == case_id, _thread_filter(threads))
    total = int(conn.execute(sa.select(sa.func.count()).select_from(case_messages).where(where)).scalar_one())
    rows = conn.execute(sa.select(case_messages).where(where).order_by(case_messages.c.id.desc()).limit(limit)).all()
    return list(reversed(rows)), total


def add_event(conn: sa.Connection, row: dict[str, Any]) -> None:
    conn.execute(case_events.insert().values(**row))


def events(conn: sa.Connection, case_id: str, audiences: Collection[str] | None, limit: int) -> list[Any]:
    """The case's newest `limit` timeline events the audiences admit (None: all), oldest first."""
    where = case_events.c.case_id == case_id
    if audiences is not None:
        where = sa.and_(where, case_events.c.audience.in_(sorted(audiences)))
    rows = conn.execute(sa.select(case_events).where(where).order_by(case_events.c.id.desc()).limit(limit)).all()
    return list(reversed(rows))


# Vendor declarations -------------------------------------------------------------------------------------------------


def add_declaration(conn: sa.Connection, row: dict[str, Any]) -> int:
    statement = vendor_declarations.insert().values(**row).returning(vendor_declarations.c.id)
    return int(conn.execute(statement).scalar_one())


def declaration_exists(conn: sa.Connection, organisation_id: str, kind: str, pattern: str) -> bool:
    query = sa.select(vendor_declarations.c.id).where(
        vendor_declarations.c.organisation_id == organisation_id,
        vendor_declarations.c.kind == kind,
        vendor_declarations.c.pattern == pattern,
    )
    return conn.execute(query).first() is not None


def declarations_matching(conn: sa.Connection, match_keys: Collection[str]) -> list[Any]:
    """The declarations filed under any of `match_keys` (an index look-up, whatever their number)."""
    found: list[Any] = []
    keys = sorted(match_keys)
    for start in range(0, len(keys), 500):
        query = sa.select(vendor_declarations).where(vendor_declarations.c.match_key.in_(_IDS))
        found.extend(conn.execute(query, {"ids": keys[start : start + 500]}))
    return found


def declarations(conn: sa.Connection, organisation_id: str | None = None) -> list[Any]:
    query = sa.select(vendor_declarations).order_by(vendor_declarations.c.id)
    if organisation_id is not None:
        query = query.where(vendor_declarations.c.organisation_id == organisation_id)
    return list(conn.execute(query))


def flag_unfixed(conn: sa.Connection, case_id: str, organisation_id: str, version: str, reason: str) -> bool:
    """Flag the vendor's latest status that names `version` as fixed: a reproduction still triggers on it."""
    row = conn.execute(
        sa.select(case_vendor_status.c.id, case_vendor_status.c.flags, case_vendor_status.c.fixed_versions)
        .where(case_vendor_status.c.case_id == case_id, case_vendor_status.c.organisation_id == organisation_id)
        .order_by(case_vendor_status.c.id.desc())
        .limit(1)
    ).first()
    if row is None or version not in (row.fixed_versions or []):
        return False
    flags = [*(row.flags or []), {"package": "", "version": version, "reason": reason}]
    conn.execute(sa.update(case_vendor_status).where(case_vendor_status.c.id == row.id).values(flags=flags))
    return True
