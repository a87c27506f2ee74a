"""SQL for notification subscriptions and deliveries (no rules, no access checks: see `service.py`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from clearinghouse.store.tables import notification_deliveries, notification_subscriptions, organisations


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
    return conn.execute(
        sa.select(notification_subscriptions).where(notification_subscriptions.c.id == subscription_id)
    ).first()


def list_subscriptions(conn: sa.Connection, organisation_id: str | None) -> list[sa.Row[Any]]:
    """One organisation's subscriptions, or every one (None)."""
    query = sa.select(notification_subscriptions).order_by(
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
    query = sa.select(notification_deliveries).where(notification_deliveries.c.id == delivery_id)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).first()


def list_deliveries(
    conn: sa.Connection, organisation_id: str | None, *, status: str | None, before: datetime | None, limit: int
) -> list[sa.Row[Any]]:
    """Newest first; one organisation's (or every one's, None), optionally of one status and older than `before`."""
    query = sa.select(notification_deliveries).order_by(
        notification_deliveries.c.created_at.desc(), notification_deliveries.c.id.desc()
    )
    if organisation_id is not None:
        query = query.where(notification_deliveries.c.organisation_id == organisation_id)
    if status is not None:
        query = query.where(notification_deliveries.c.status == status)
    if before is not None:
        query = query.where(notification_deliveries.c.created_at < before)
    return list(conn.execute(query.limit(limit)).all())


def update_delivery(conn: sa.Connection, delivery_id: str, **values: Any) -> None:
    conn.execute(sa.update(notification_deliveries).where(notification_deliveries.c.id == delivery_id).values(**values))


def organisation_id(conn: sa.Connection, name: str) -> str | None:
    return conn.execute(sa.select(organisations.c.id).where(organisations.c.name == name)).scalar_one_or_none()
