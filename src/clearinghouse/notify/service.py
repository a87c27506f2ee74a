"""Notifications: `publish` (other domains, in their own transaction), subscriptions (who is told how) and the
delivery jobs (signed webhooks and e-mail, retried with back-off).

Access is decided by `policy.notifications`; subscription changes are audited; a delivery's attempts and outcome
are kept on its outbox row (the deliveries log each organisation reads).
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from clearinghouse.config import Settings
from clearinghouse.errors import (
    InvalidSubscription,
    NotFound,
    WebhookHostUnresolvable,
    WebhookTargetRefused,
)
from clearinghouse.notify import repository
from clearinghouse.notify.channels import DeliveryFailed, SmtpServer, email_message, post_webhook
from clearinghouse.notify.events import EVENT_KINDS, Event, checked_body, one_line
from clearinghouse.notify.rules import DELIVERY_LIFECYCLE, DeliveryStatus, next_status, retry_delay
from clearinghouse.notify.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, new_secret, signature
from clearinghouse.notify.targets import Resolver, check_url, system_resolver
from clearinghouse.notify.views import (
    DeliveryView,
    SubscriptionCreated,
    SubscriptionRequest,
    SubscriptionView,
)
from clearinghouse.policy import Actor, actor_name
from clearinghouse.policy.notifications import notification_scope, require_subscriber
from clearinghouse.policy.principals import Operator
from clearinghouse.store.audit import AuditLog
from clearinghouse.store.jobs import enqueue, enqueue_many

WEBHOOK_JOB = "notify.webhook"
EMAIL_JOB = "notify.email"
JOB_KINDS = {"webhook": WEBHOOK_JOB, "email": EMAIL_JOB}
TEST_KIND = "notification.test"  # a subscriber's "does my receiver work?" delivery; not an event others publish
WORKER = Operator("notify-worker")
# A mailbox as a subscriber gives it: no display name, no spaces, quotes, commas, angle brackets or controls.
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


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
        delivery = _delivery_row(subscription, event.kind, event.subject, event.title, body, occurred_at)
        deliveries.append(delivery)
        jobs[JOB_KINDS[subscription.channel]].append({"delivery_id": delivery["id"]})
    repository.insert_deliveries(conn, deliveries)
    for kind, payloads in jobs.items():
        enqueue_many(conn, kind, payloads)
    return len(deliveries)


def _delivery_row(
    subscription: Any, kind: str, subject: str, title: str, body: dict[str, Any], at: datetime
) -> dict[str, Any]:
    return dict(
        id=str(uuid.uuid4()),
        subscription_id=subscription.id,
        organisation_id=subscription.organisation_id,
        channel=subscription.channel,
        event_kind=kind,
        subject=subject,
        title=title,
        body=body,
        occurred_at=at,
        status=DeliveryStatus.QUEUED.value,
        attempts=0,
        next_attempt_at=at,
        created_at=at,
    )


class NotificationService:
    def __init__(
        self,
        engine: sa.Engine,
        settings: Settings | None = None,
        clock: Callable[[], datetime] | None = None,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.engine = engine
        self.settings = settings or Settings.from_env()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.resolver = resolver
        self.audit = AuditLog(engine)

    # Subscriptions ---------------------------------------------------------------------------------------------

    def subscribe(self, actor: Actor, request: SubscriptionRequest) -> SubscriptionCreated:
        """A new, enabled subscription; its webhook secret is in the answer and never shown again."""
        notification_scope(actor)
        unknown = sorted(set(request.event_kinds) - EVENT_KINDS)
        if unknown:
            raise InvalidSubscription(
                f"unknown event kinds {', '.join(unknown)}; known: {', '.join(sorted(EVENT_KINDS))}"
            )
        url, secret, addresses = self._channel_fields(request)
        now = self.clock()
        with self.audit.writing() as conn:
            organisation_id = self._organisation_of(conn, actor, request.organisation)
            require_subscriber(actor, organisation_id)
            subscription_id = str(uuid.uuid4())
            kinds = sorted(set(request.event_kinds))
            repository.insert_subscription(
                conn,
                dict(
                    id=subscription_id,
                    organisation_id=organisation_id,
                    channel=request.channel,
                    url=url,
                    secret=secret,
                    addresses=addresses,
                    event_kinds=kinds,
                    enabled=True,
                    created_by=actor_name(actor),
                    created_at=now,
                    updated_at=now,
                ),
            )
            details: dict[str, Any] = {"organisation_id": organisation_id, "channel": request.channel, "url": url}
            details |= {"addresses": addresses, "event_kinds": kinds}
            self.audit.append(
                conn, actor_name(actor), "notification.subscribed", "subscription", subscription_id, details
            )
            created = repository.subscription(conn, subscription_id)
        return SubscriptionCreated(**SubscriptionView.from_row(created).model_dump(), secret=secret)

    def _channel_fields(self, request: SubscriptionRequest) -> tuple[str | None, str | None, list[str] | None]:
        if request.channel == "webhook":
            if request.url is None or request.addresses is not None:
                raise InvalidSubscription("a webhook subscription needs `url` and no `addresses`")
            try:
                check_url(request.url, allow_private=self.settings.webhook_allow_private, resolve=self.resolver)
            except WebhookHostUnresolvable as exc:  # refused now: a subscription is checked when it is made
                raise WebhookTargetRefused(exc.message) from None
            return request.url, new_secret(), None
        if not request.addresses or request.url is not None:
            raise InvalidSubscription("an e-mail subscription needs `addresses` and no `url`")
        for address in request.addresses:
            if not _ADDRESS.fullmatch(address):
                raise InvalidSubscription(f"not a plain e-mail address (local@domain): {address[:80]!r}")
        return None, None, sorted(set(request.addresses))

    def _organisation_of(self, conn: sa.Connection, actor: Actor, name: str | None) -> str:
        if name is not None:
            organisation_id = repository.organisation_id(conn, name)
            if organisation_id is None:
                raise NotFound(f"no organisation named {name!r}")
            return organisation_id
        own = getattr(actor, "organisation", None)
        if own is None:
            raise InvalidSubscription("name the organisation to subscribe (the operator has none of its own)")
        return str(own.id)

    def subscriptions(self, actor: Actor) -> list[SubscriptionView]:
        scope = notification_scope(actor)
        with self.engine.connect() as conn:
            rows = repository.list_subscriptions(conn, None if scope.every_organisation else scope.organisation_id)
        return [SubscriptionView.from_row(row) for row in rows]

    def set_enabled(self, actor: Actor, subscription_id: str, enabled: bool) -> SubscriptionView:
        """Turn a subscription off (queued deliveries then fail, saying so) or on again."""
        scope = notification_scope(actor)
        with self.audit.writing() as conn:
            row = self._visible_subscription(conn, scope.admits, subscription_id)
            repository.update_subscription(conn, subscription_id, enabled=enabled, updated_at=self.clock())
            action = "notification.enabled" if enabled else "notification.disabled"
            self.audit.append(conn, actor_name(actor), action, "subscription", subscription_id, {})
            row = repository.subscription(conn, subscription_id)
        return SubscriptionView.from_row(row)

    def send_test(self, actor: Actor, subscription_id: str) -> DeliveryView:
        """Queue a `notification.test` delivery to one subscription (whatever its event-kind filter)."""
        scope = notification_scope(actor)
        now = self.clock()
        with self.audit.writing() as conn:
            subscription = self._visible_subscription(conn, scope.admits, subscription_id)
            body = {"message": "a test delivery: your receiver works if it verified this request's signature"}
            row = _delivery_row(subscription, TEST_KIND, subscription.id, "Clearinghouse test notification", body, now)
            repository.insert_deliveries(conn, [row])
            enqueue(conn, JOB_KINDS[subscription.channel], {"delivery_id": row["id"]})
            self.audit.append(conn, actor_name(actor), "notification.test_sent", "subscription", subscription_id, {})
            delivery = repository.delivery(conn, row["id"])
        return DeliveryView.from_row(delivery)

    @staticmethod
    def _visible_subscription(conn: sa.Connection, admits: Callable[[str], bool], subscription_id: str) -> Any:
        row = repository.subscription(conn, subscription_id)
        if row is None or not admits(row.organisation_id):  # another organisation's is one that does not exist
            raise NotFound(f"no subscription {subscription_id!r}")
        return row

    # Deliveries ------------------------------------------------------------------------------------------------

    def deliveries(
        self, actor: Actor, *, status: DeliveryStatus | None = None, before: datetime | None = None, limit: int = 50
    ) -> list[DeliveryView]:
        """Newest first: the actor's organisation's deliveries (staff: every organisation's)."""
        scope = notification_scope(actor)
        organisation_id = None if scope.every_organisation else scope.organisation_id
        with self.engine.connect() as conn:
            rows = repository.list_deliveries(
                conn, organisation_id, status=status.value if status else None, before=before, limit=limit
            )
        return [DeliveryView.from_row(row) for row in rows]

    def job_handlers(self) -> dict[str, Callable[[dict[str, Any]], object]]:
        return {kind: self._handle for kind in JOB_KINDS.values()}

    def _handle(self, payload: dict[str, Any]) -> object:
        return self.deliver(str(payload["delivery_id"]))

    def deliver(self, delivery_id: str) -> DeliveryStatus | None:
        """One attempt at a queued delivery: send it, then record the outcome (and queue the retry, if any).

        Network I/O happens outside any transaction. A delivery already delivered or failed (a job that ran twice)
        is left alone; its status (None for an unknown id) is returned.
        """
        with self.engine.connect() as conn:
            delivery = repository.delivery(conn, delivery_id)
            subscription = repository.subscription(conn, delivery.subscription_id) if delivery else None
        if delivery is None or subscription is None:
            return None
        status = DeliveryStatus(delivery.status)
        if DELIVERY_LIFECYCLE.is_terminal(status):
            return status
        try:
            if not subscription.enabled:
                raise DeliveryFailed("the subscription is disabled", retryable=False)
            if delivery.channel == "webhook":
                self._post(delivery, subscription)
            else:
                self._mail(delivery, subscription)
        except DeliveryFailed as failure:
            return self._record(delivery_id, failure)
        return self._record(delivery_id, None)

    def _post(self, delivery: Any, subscription: Any) -> None:
        try:
            target = check_url(
                subscription.url, allow_private=self.settings.webhook_allow_private, resolve=self.resolver
            )
        except WebhookHostUnresolvable as exc:
            raise DeliveryFailed(exc.message, retryable=True) from None
        except InvalidSubscription as exc:  # the name now resolves to an internal address: never sent there
            raise DeliveryFailed(exc.message, retryable=False) from None
        body = orjson.dumps(
            {
                "id": delivery.id,
                "kind": delivery.event_kind,
                "subject": delivery.subject,
                "title": delivery.title,
                "occurred_at": _utc(delivery.occurred_at).isoformat(),
                "body": delivery.body,
            }
        )
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Clearinghouse-Webhook/1",
            EVENT_HEADER: delivery.event_kind,
            DELIVERY_HEADER: delivery.id,
            SIGNATURE_HEADER: signature(subscription.secret, int(self.clock().timestamp()), body),
        }
        post_webhook(target, headers, body, transport=None)

    def _mail(self, delivery: Any, subscription: Any) -> None:
        if not self.settings.smtp_url:
            raise DeliveryFailed("no SMTP server configured (CLEARINGHOUSE_SMTP_URL)", retryable=True)
        server = SmtpServer.from_url(self.settings.smtp_url)
        title = one_line(delivery.title)
        occurred = _utc(delivery.occurred_at)
        details = orjson.dumps(delivery.body, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
        text = (
            f"Clearinghouse notification: {delivery.event_kind}\n"
            f"About: {one_line(delivery.subject)}\n"
            f"When: {occurred.isoformat()} (UTC)\n\n"
            f"{title}\n\n"
            f"Details:\n{details}\n\n"
            f"Delivery id: {delivery.id}\n"
        )
        message = email_message(
            sender=self.settings.mail_from,
            recipients=list(subscription.addresses),
            subject=f"[Clearinghouse] {delivery.event_kind}: {title}"[:250],
            text=text,
            message_id=f"<{delivery.id}@clearinghouse>",
            date=self.clock(),
        )
        server.send(message)

    def _record(self, delivery_id: str, failure: DeliveryFailed | None) -> DeliveryStatus:
        now = self.clock()
        with self.engine.begin() as conn:
            delivery = repository.delivery(conn, delivery_id, for_update=True)
            if delivery is None:
                raise NotFound(f"no delivery {delivery_id!r}")
            current = DeliveryStatus(delivery.status)
            if DELIVERY_LIFECYCLE.is_terminal(current):  # another run of this job finished first
                return current
            attempts = delivery.attempts + 1
            values: dict[str, Any]
            wait = timedelta(0)
            if failure is None:
                target, values = DeliveryStatus.DELIVERED, {"delivered_at": now, "next_attempt_at": None}
            else:
                target = next_status(attempts, retryable=failure.retryable)
                retrying = target is DeliveryStatus.RETRYING
                wait = retry_delay(attempts) if retrying else wait
                values = {"last_error": failure.reason, "next_attempt_at": now + wait if retrying else None}
            DELIVERY_LIFECYCLE.transition(current, target, WORKER.purpose, failure.reason if failure else "sent", now)
            repository.update_delivery(conn, delivery_id, status=target.value, attempts=attempts, **values)
            if target is DeliveryStatus.RETRYING:
                enqueue(conn, JOB_KINDS[delivery.channel], {"delivery_id": delivery_id}, delay=wait)
        return target


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def job_handlers(
    engine: sa.Engine, settings: Settings | None = None, clock: Callable[[], datetime] | None = None
) -> dict[str, Callable[[dict[str, Any]], object]]:
    """`notify.webhook` and `notify.email`, for `clearinghouse.workers`."""
    return NotificationService(engine, settings, clock).job_handlers()
