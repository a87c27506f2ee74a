"""SQL for notification subscriptions and deliveries (no rules, no access checks: see `service.py`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from clearinghouse.store.tables import notification_deliveries, notification_subscriptions, organisations

# Read models carry the organisation's name beside its id (`organisation`), for people reading lists.
_SUBSCRIPTIONS = sa.select(notification_subscriptions, organisations.c.name.label("organisation")).join(
    organisations, organisations.c.id == notification_subscriptions.c.organisation_id
)
_DELIVERIES = sa.select(notification_deliveries, organisations.c.name.label("organisation")).join(
    organisations, organisations.c.id == notification_deliveries.c.organisation_id
)


def subscriptions_for(conn: sa.Connection, organisation_ids: Iterable[str]) -> list[sa.Row[Any]]:
    """The enabled subscriptions of these organisations, in a stable order."""
    ids = sorted(set(organisation_ids))
    if not ids:
        return []
    return list(
        conn.execute(
            sa.select(notification_subscriptions)
            .where(
                notification_subscriptions.c.organisation_id.in_(ids),
                notification_subscriptions.c.enabled.is_(True),
            )
            .order_by(notification_subscriptions.c.organisation_id, notification_subscriptions.c.id)
        ).all()
    )


def insert_deliveries(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(notification_deliveries.insert(), rows)


def insert_subscription(conn: sa.Connection, row: dict[str, Any]) -> None:
    conn.execute(notification_subscriptions.insert().values(**row))


def subscription(conn: sa.Connection, subscription_id: str) -> sa.Row[Any] | None:
    return conn.execute(_SUBSCRIPTIONS.where(notification_subscriptions.c.id == subscription_id)).first()


def list_subscriptions(conn: sa.Connection, organisation_id: str | None) -> list[sa.Row[Any]]:
    """One organisation's subscriptions, or every one (None)."""
    query = _SUBSCRIPTIONS.order_by(
        notification_subscriptions.c.organisation_id, notification_subscriptions.c.created_at
    )
    if organisation_id is not None:
        query = query.where(notification_subscriptions.c.organisation_id == organisation_id)
    return list(conn.execute(query).all())


def update_subscription(conn: sa.Connection, subscription_id: str, **values: Any) -> None:
    conn.execute(
        sa.update(notification_subscriptions).where(notification_subscriptions.c.id == subscription_id).values(**values)
    )


def delivery(conn: sa.Connection, delivery_id: str, *, for_update: bool = False) -> sa.Row[Any] | None:
    query = _DELIVERIES.where(notification_deliveries.c.id == delivery_id)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update(of=notification_deliveries)
    return conn.execute(query).first()


def list_deliveries(
    conn: sa.Connection,
    organisation_id: str | None,
    *,
    status: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> tuple[list[sa.Row[Any]], int]:
    """Newest first, one organisation's (or every one's: None), optionally of one status: the rows after the
    (created_at, id) key `after`, and how many match in all."""
    table = notification_deliveries
    conditions: list[sa.ColumnElement[bool]] = []
    if organisation_id is not None:
        conditions.append(table.c.organisation_id == organisation_id)
    if status is not None:
        conditions.append(table.c.status == status)
    total = conn.execute(sa.select(sa.func.count()).select_from(table).where(*conditions)).scalar_one()
    if after is not None:
        conditions.append(sa.tuple_(table.c.created_at, table.c.id) < sa.tuple_(*after))
    query = _DELIVERIES.where(*conditions).order_by(table.c.created_at.desc(), table.c.id.desc())
    return list(conn.execute(query.limit(limit)).all()), int(total)


def update_delivery(conn: sa.Connection, delivery_id: str, **values: Any) -> None:
    conn.execute(sa.update(notification_deliveries).where(notification_deliveries.c.id == delivery_id).values(**values))


def organisation_id(conn: sa.Connection, name: str) -> str | None:
    return conn.execute(sa.select(organisations.c.id).where(organisations.c.name == name)).scalar_one_or_none()
