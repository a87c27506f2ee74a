"""SQL of the partners domain: assets, their components, matches and alerts (no access decisions here)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from clearinghouse.store.tables import (
    affected_packages,
    alerts,
    asset_components,
    asset_matches,
    assets,
    case_participants,
    case_records,
    case_vendor_status,
    cases,
    records,
)

_CHUNK = 500  # values per IN (...): well under SQLite's and PostgreSQL's parameter limits
_INSERT_BATCH = 5000  # rows per executemany


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert_asset(conn: sa.Connection, row: dict[str, Any], components: list[dict[str, Any]]) -> None:
    conn.execute(assets.insert(), [row])
    for batch in _chunks(components, _INSERT_BATCH):
        conn.execute(asset_components.insert(), list(batch))


def asset(conn: sa.Connection, asset_id: str) -> sa.Row[Any] | None:
    return conn.execute(sa.select(assets).where(assets.c.id == asset_id)).one_or_none()


def list_assets(conn: sa.Connection, organisation_id: str | None) -> list[sa.Row[Any]]:
    """Every asset (organisation None) or one organisation's, newest first."""
    query = sa.select(assets).order_by(assets.c.uploaded_at.desc(), assets.c.id)
    if organisation_id is not None:
        query = query.where(assets.c.organisation_id == organisation_id)
    return list(conn.execute(query))


def components(conn: sa.Connection, asset_id: str, positions: Collection[int] | None = None) -> list[sa.Row[Any]]:
    query = sa.select(asset_components).where(asset_components.c.asset_id == asset_id)
    if positions is not None:
        query = query.where(asset_components.c.position.in_(sorted(positions)))
    return list(conn.execute(query.order_by(asset_components.c.position)))


def packages_of_records(conn: sa.Connection, record_ids: Sequence[str]) -> set[tuple[str, str]]:
    """The (base ecosystem, normalised name) of every package the records name."""
    found: set[tuple[str, str]] = set()
    for chunk in _chunks(sorted(record_ids)):
        query = sa.select(affected_packages.c.ecosystem_base, affected_packages.c.name_key).where(
            affected_packages.c.record_id.in_(chunk)
        )
        found.update((base, key) for base, key in conn.execute(query.distinct()))
    return found


def components_of_packages(conn: sa.Connection, packages: Collection[tuple[str, str]]) -> list[Any]:
    """Every stored component naming one of `packages`, found through the (ecosystem, name_key) index."""
    by_ecosystem: dict[str, set[str]] = {}
    for ecosystem, name_key in packages:
        by_ecosystem.setdefault(ecosystem, set()).add(name_key)
    columns = (
        asset_components.c.asset_id,
        asset_components.c.position,
        asset_components.c.ref,
        asset_components.c.ecosystem,
        asset_components.c.name,
        asset_components.c.purl,
        asset_components.c.version,
        asset_components.c.name_key,
    )
    rows: list[Any] = []
    for ecosystem, names in sorted(by_ecosystem.items()):
        for chunk in _chunks(sorted(names)):
            query = sa.select(*columns).where(
                asset_components.c.ecosystem == ecosystem, asset_components.c.name_key.in_(chunk)
            )
            rows.extend(conn.execute(query).all())
    return rows


def replace_matches(conn: sa.Connection, record_ids: Collection[str], rows: list[dict[str, Any]]) -> None:
    """The matches of `record_ids` become `rows` (a record that no longer affects a component loses its match)."""
    for chunk in _chunks(sorted(record_ids)):
        conn.execute(sa.delete(asset_matches).where(asset_matches.c.record_id.in_(chunk)))
    for batch in _chunks(rows, _INSERT_BATCH):
        conn.execute(asset_matches.insert(), list(batch))


def insert_matches(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    for batch in _chunks(rows, _INSERT_BATCH):
        conn.execute(asset_matches.insert(), list(batch))


def matches(conn: sa.Connection, asset_id: str) -> list[sa.Row[Any]]:
    query = (
        sa.select(asset_matches, records.c.tlp, records.c.status)
        .join(records, records.c.id == asset_matches.c.record_id)
        .where(asset_matches.c.asset_id == asset_id)
        .order_by(asset_matches.c.record_id, asset_matches.c.position)
    )
    return list(conn.execute(query))


def record_labels(conn: sa.Connection, record_ids: Iterable[str]) -> dict[str, tuple[str, str, str | None]]:
    """(TLP, status, summary) of each record."""
    found: dict[str, tuple[str, str, str | None]] = {}
    for chunk in _chunks(sorted(set(record_ids))):
        query = sa.select(records.c.id, records.c.tlp, records.c.status, records.c.summary).where(
            records.c.id.in_(chunk)
        )
        found.update({row.id: (row.tlp, row.status, row.summary) for row in conn.execute(query)})
    return found


def alerted_pairs(conn: sa.Connection, record_ids: Collection[str]) -> set[tuple[str, str]]:
    """The (asset id, record id) pairs that already have an alert."""
    found: set[tuple[str, str]] = set()
    for chunk in _chunks(sorted(record_ids)):
        query = sa.select(alerts.c.asset_id, alerts.c.record_id).where(alerts.c.record_id.in_(chunk))
        found.update((a, r) for a, r in conn.execute(query))
    return found


def asset_owners(conn: sa.Connection, asset_ids: Collection[str]) -> dict[str, tuple[str, str]]:
    """(organisation id, name) of each asset."""
    found: dict[str, tuple[str, str]] = {}
    for chunk in _chunks(sorted(asset_ids)):
        query = sa.select(assets.c.id, assets.c.organisation_id, assets.c.name).where(assets.c.id.in_(chunk))
        found.update({row.id: (row.organisation_id, row.name) for row in conn.execute(query)})
    return found


def insert_alerts(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    for batch in _chunks(rows, _INSERT_BATCH):
        conn.execute(alerts.insert(), list(batch))


def list_alerts(conn: sa.Connection, organisation_id: str | None, state: str | None) -> list[sa.Row[Any]]:
    query = sa.select(alerts).order_by(alerts.c.raised_at.desc(), alerts.c.id)
    if organisation_id is not None:
        query = query.where(alerts.c.organisation_id == organisation_id)
    if state is not None:
        query = query.where(alerts.c.state == state)
    return list(conn.execute(query))


def alert(conn: sa.Connection, alert_id: str) -> sa.Row[Any] | None:
    return conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).one_or_none()


def acknowledge(conn: sa.Connection, alert_id: str, state: str, at: datetime, by: str) -> None:
    conn.execute(
        sa.update(alerts).where(alerts.c.id == alert_id).values(state=state, acknowledged_at=at, acknowledged_by=by)
    )


def early_warning(
    conn: sa.Connection, labels: dict[str, tuple[str, str, str | None]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """For the embargoed records among `labels`, each organisation a case names for early warning, with the case's
    embargo terms: {(record id, organisation id): terms}. A record is a case's when it is its advisory or among
    the records the advisory covers (`case_records`)."""
    embargoed = sorted(record_id for record_id, (_, status, _) in labels.items() if status == "embargoed")
    found: dict[tuple[str, str], dict[str, Any]] = {}
    columns = (
        case_participants.c.organisation_id,
        cases.c.id,
        cases.c.public_at,
        cases.c.public_tz,
        cases.c.tlp,
    )
    early = case_participants.c.role == "early_warning"
    for chunk in _chunks(embargoed):
        as_advisory = (
            sa.select(cases.c.advisory_id.label("record_id"), *columns)
            .join(case_participants, case_participants.c.case_id == cases.c.id)
            .where(early, cases.c.advisory_id.in_(chunk))
        )
        covered = (
            sa.select(case_records.c.record_id, *columns)
            .select_from(case_records.join(cases, cases.c.id == case_records.c.case_id))
            .join(case_participants, case_participants.c.case_id == cases.c.id)
            .where(early, case_records.c.record_id.in_(chunk))
        )
        for row in conn.execute(sa.union(as_advisory, covered)):
            public_at = row.public_at.isoformat() if row.public_at is not None else None
            terms = {"case_id": row.id, "public_at": public_at, "public_tz": row.public_tz, "tlp": row.tlp}
            found[row.record_id, row.organisation_id] = terms
    return found


def vendor_statements(conn: sa.Connection, record_ids: Collection[str]) -> dict[str, list[Any]]:
    """Each vendor's latest status on the cases whose advisory is one of `record_ids`, by record id."""
    latest = (
        sa.select(sa.func.max(case_vendor_status.c.id))
        .group_by(case_vendor_status.c.case_id, case_vendor_status.c.organisation_id)
        .scalar_subquery()
    )
    found: dict[str, list[Any]] = {}
    for chunk in _chunks(sorted(record_ids)):
        query = (
            sa.select(
                cases.c.advisory_id,
                case_vendor_status.c.status,
                case_vendor_status.c.justification,
                case_vendor_status.c.note,
                case_vendor_status.c.packages,
            )
            .join(cases, cases.c.id == case_vendor_status.c.case_id)
            .where(cases.c.advisory_id.in_(chunk), case_vendor_status.c.id.in_(latest))
        )
        for row in conn.execute(query):
            found.setdefault(row.advisory_id, []).append(row)
    return found
