"""The typed read models notifications answer with (API bodies, CLI output) and the subscription request."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from clearinghouse.notify.rules import DeliveryStatus

MAX_ADDRESSES = 20


class SubscriptionRequest(BaseModel):
    """A new subscription: a webhook (`url`) or e-mail (`addresses`), for the caller's organisation (staff may
    name another), told of every event kind or only those in `event_kinds`."""

    channel: Literal["webhook", "email"]
    url: Annotated[str | None, Field(max_length=2048, description="webhook only: an http(s) URL")] = None
    addresses: Annotated[
        list[Annotated[str, Field(max_length=254)]] | None,
        Field(max_length=MAX_ADDRESSES, description="e-mail only: where to send"),
    ] = None
    event_kinds: Annotated[
        list[Annotated[str, Field(max_length=64)]], Field(max_length=20, description="empty: every kind")
    ] = []
    organisation: Annotated[
        str | None, Field(max_length=200, description="staff only: the organisation's name (default: your own)")
    ] = None


class SubscriptionView(BaseModel):
    id: str
    organisation_id: str
    organisation: str = Field(description="the organisation's name")
    channel: str
    url: str | None
    addresses: list[str] | None
    event_kinds: list[str]
    enabled: bool
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> SubscriptionView:
        return cls(
            id=row.id,
            organisation_id=row.organisation_id,
            organisation=row.organisation,
            channel=row.channel,
            url=row.url,
            addresses=row.addresses,
            event_kinds=list(row.event_kinds),
            enabled=row.enabled,
            created_by=row.created_by,
            created_at=utc(row.created_at),
            updated_at=utc(row.updated_at),
        )


class SubscriptionCreated(SubscriptionView):
    secret: str | None = Field(
        description="webhook only: the HMAC-SHA256 key signing each delivery. Shown this once; keep it."
    )


class SubscriptionPage(BaseModel):
    subscriptions: list[SubscriptionView]
    total: int = Field(description="how many subscriptions the caller manages, over all pages")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class DeliveryView(BaseModel):
    id: str = Field(description="also sent as X-Clearinghouse-Delivery: a receiver's idempotency key")
    subscription_id: str
    organisation_id: str
    organisation: str = Field(description="the organisation's name")
    channel: str
    event_kind: str
    subject: str
    title: str
    body: dict[str, Any]
    occurred_at: datetime
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> DeliveryView:
        return cls(
            id=row.id,
            subscription_id=row.subscription_id,
            organisation_id=row.organisation_id,
            organisation=row.organisation,
            channel=row.channel,
            event_kind=row.event_kind,
            subject=row.subject,
            title=row.title,
            body=row.body,
            occurred_at=utc(row.occurred_at),
            status=DeliveryStatus(row.status),
            attempts=row.attempts,
            next_attempt_at=utc(row.next_attempt_at) if row.next_attempt_at else None,
            last_error=row.last_error,
            delivered_at=utc(row.delivered_at) if row.delivered_at else None,
            created_at=utc(row.created_at),
        )


class DeliveryPage(BaseModel):
    deliveries: list[DeliveryView]
    total: int = Field(description="how many deliveries the filters match, over all pages")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


def utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time stored here is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
