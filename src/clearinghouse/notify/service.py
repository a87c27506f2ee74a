"""`publish`: an event becomes outbox rows and delivery jobs inside the caller's transaction (no network I/O)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC
from typing import Any

import sqlalchemy as sa

from clearinghouse.notify import repository
from clearinghouse.notify.events import Event, checked_body
from clearinghouse.store.jobs import enqueue_many

WEBHOOK_JOB = "notify.webhook"
EMAIL_JOB = "notify.email"
JOB_KINDS = {"webhook": WEBHOOK_JOB, "email": EMAIL_JOB}


def publish(conn: sa.Connection, event: Event) -> int:
    """In the caller's transaction: an outbox row per (event, subscribed channel of each audience organisation)
    and one delivery job each; returns how many deliveries were queued. Never does network I/O itself.

    Raises InvalidEvent for an unknown kind, a naive time or a body that is not JSON (or is over 64 KiB); the
    caller's transaction then rolls back with everything else it wrote, so nothing is half-announced.
    """
    body = checked_body(event)
    occurred_at = event.occurred_at.astimezone(UTC)
    deliveries: list[dict[str, Any]] = []
    jobs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for subscription in repository.subscriptions_for(conn, event.audience):
        if subscription.event_kinds and event.kind not in subscription.event_kinds:
            continue
        delivery_id = str(uuid.uuid4())
        deliveries.append(
            dict(
                id=delivery_id,
                subscription_id=subscription.id,
                organisation_id=subscription.organisation_id,
                channel=subscription.channel,
                event_kind=event.kind,
                subject=event.subject,
                title=event.title,
                body=body,
                occurred_at=occurred_at,
                status="queued",
                attempts=0,
                next_attempt_at=occurred_at,
                created_at=occurred_at,
            )
        )
        jobs[JOB_KINDS[subscription.channel]].append({"delivery_id": delivery_id})
    repository.insert_deliveries(conn, deliveries)
    for kind, payloads in jobs.items():
        enqueue_many(conn, kind, payloads)
    return len(deliveries)
