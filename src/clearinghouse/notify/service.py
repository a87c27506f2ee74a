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
from functools import cached_property
from typing import Any

import orjson
import sqlalchemy as sa

from clearinghouse.config import Settings
from clearinghouse.errors import (
    ConfigurationError,
    InvalidCursor,
    InvalidSubscription,
    NotFound,
    WebhookHostUnresolvable,
)
from clearinghouse.identity.model import Principal
from clearinghouse.notify import repository
from clearinghouse.notify.channels import DeliveryFailed, SmtpServer, email_message, post_webhook
from clearinghouse.notify.events import EVENT_KINDS, Event, checked_body, one_line
from clearinghouse.notify.rules import DELIVERY_LIFECYCLE, DeliveryStatus, next_status, retry_delay
from clearinghouse.notify.sealing import SealBroken, seal, sealing_key, unseal
from clearinghouse.notify.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, new_secret, signature
from clearinghouse.notify.targets import Resolver, check_url, system_resolver
from clearinghouse.notify.views import (
    DeliveryPage,
    DeliveryView,
    SubscriptionCreated,
    SubscriptionPage,
    SubscriptionRequest,
    SubscriptionView,
)
from clearinghouse.policy import Actor, actor_name
from clearinghouse.policy.notifications import notification_scope
from clearinghouse.policy.principals import Operator
from clearinghouse.policy.rules import OrgScope
from clearinghouse.store.audit import AuditLog
from clearinghouse.store.jobs import enqueue, enqueue_many
from clearinghouse.store.pages import DEFAULT_LIMIT, decode_cursor, encode_cursor, slice_page

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

    @cached_property
    def _sealing_key(self) -> bytes:
        return sealing_key(self.audit.keys.hmac_key)

    # Subscriptions ---------------------------------------------------------------------------------------------

    def subscribe(self, actor: Actor, request: SubscriptionRequest) -> SubscriptionCreated:
        """A new, enabled subscription; its webhook secret is in the answer and never shown again."""
        scope = notification_scope(actor)
        unknown = sorted(set(request.event_kinds) - EVENT_KINDS)
        if unknown:
            raise InvalidSubscription(
                f"unknown event kinds {', '.join(unknown)}; known: {', '.join(sorted(EVENT_KINDS))}"
            )
        url, secret, addresses = self._channel_fields(request)
        now = self.clock()
        with self.audit.writing() as conn:
            organisation_id = _subscriber(conn, actor, scope, request.organisation)
            subscription_id = str(uuid.uuid4())
            sealed = seal(self._sealing_key, secret, subscription_id) if secret else None
            kinds = sorted(set(request.event_kinds))
            repository.insert_subscription(
                conn,
                dict(
                    id=subscription_id,
                    organisation_id=organisation_id,
                    channel=request.channel,
                    url=url,
                    secret=sealed,
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
            check_url(request.url, allow_private=self.settings.webhook_allow_private, resolve=self.resolver)
            return request.url, new_secret(), None
        if not request.addresses or request.url is not None:
            raise InvalidSubscription("an e-mail subscription needs `addresses` and no `url`")
        for address in request.addresses:
            if not _ADDRESS.fullmatch(address):
                raise InvalidSubscription(f"not a plain e-mail address (local@domain): {address[:80]!r}")
        return None, None, sorted(set(request.addresses))

    def subscriptions(
        self, actor: Actor, limit: int = DEFAULT_LIMIT, cursor: str | None = None, organisation: str | None = None
    ) -> SubscriptionPage:
        """The subscriptions the actor manages (its organisation's; staff: every one, or the named one's), oldest
        first."""
        scope = notification_scope(actor)
        with self.engine.connect() as conn:
            rows = repository.list_subscriptions(conn, _organisation_filter(conn, scope, organisation))
        page, total, next_cursor = slice_page("subscriptions", rows, limit, cursor)
        views = [SubscriptionView.from_row(row) for row in page]
        return SubscriptionPage(subscriptions=views, total=total, next_cursor=next_cursor)

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
        self,
        actor: Actor,
        *,
        status: DeliveryStatus | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        organisation: str | None = None,
    ) -> DeliveryPage:
        """Newest first: the actor's organisation's deliveries (staff: every organisation's, or the named one's)."""
        scope = notification_scope(actor)
        after = None
        if cursor is not None:
            created_at, delivery_id = decode_cursor("deliveries", cursor, 2)
            try:
                after = (datetime.fromisoformat(str(created_at)), str(delivery_id))
            except ValueError:
                raise InvalidCursor("the cursor is not one this server handed out") from None
        with self.engine.connect() as conn:
            organisation_id = _organisation_filter(conn, scope, organisation)
            rows, total = repository.list_deliveries(
                conn, organisation_id, status=status.value if status else None, after=after, limit=limit
            )
        views = [DeliveryView.from_row(row) for row in rows]
        last = rows[-1] if len(rows) == limit else None
        next_cursor = encode_cursor("deliveries", [_utc(last.created_at).isoformat(), last.id]) if last else None
        return DeliveryPage(deliveries=views, total=total, next_cursor=next_cursor)

    def delivery(self, actor: Actor, delivery_id: str) -> DeliveryView:
        scope = notification_scope(actor)
        with self.engine.connect() as conn:
            row = repository.delivery(conn, delivery_id)
        if row is None or not scope.admits(row.organisation_id):
            raise NotFound(f"no delivery {delivery_id!r}")
        return DeliveryView.from_row(row)

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
        if status is DeliveryStatus.RETRYING and _utc(delivery.next_attempt_at) > self.clock():
            return status  # an earlier job for it (e.g. `notify test` sent it at once); its retry job is queued
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
        try:
            secret = unseal(self._sealing_key, subscription.secret, subscription.id)
        except SealBroken as exc:  # retrying cannot help: the subscriber needs a new subscription (and secret)
            raise DeliveryFailed(f"{exc}; subscribe again for a new secret", retryable=False) from None
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
            SIGNATURE_HEADER: signature(secret, int(self.clock().timestamp()), body),
        }
        post_webhook(target, headers, body)

    def _mail(self, delivery: Any, subscription: Any) -> None:
        if not self.settings.smtp_url:
            raise DeliveryFailed("no SMTP server configured (CLEARINGHOUSE_SMTP_URL)", retryable=True)
        try:
            server = SmtpServer.from_url(self.settings.smtp_url)
        except ConfigurationError as exc:  # the operator can fix it before the retries run out
            raise DeliveryFailed(exc.message, retryable=True) from None
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
        with self.audit.writing() as conn:
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
            move = DELIVERY_LIFECYCLE.transition(
                current, target, WORKER.purpose, failure.reason if failure else "sent", now
            )
            repository.update_delivery(conn, delivery_id, status=target.value, attempts=attempts, **values)
            details = {"from": current.value, "attempts": attempts, "reason": move.reason, "event": delivery.event_kind}
            self.audit.append(conn, move.actor, f"notification.{target.value}", "delivery", delivery_id, details)
            if target is DeliveryStatus.RETRYING:
                enqueue(conn, JOB_KINDS[delivery.channel], {"delivery_id": delivery_id}, delay=wait)
        return target


def _subscriber(conn: sa.Connection, actor: Actor, scope: OrgScope, name: str | None) -> str:
    """The organisation a new subscription is for: the named one (staff: any; others: their own, and any other
    is reported missing, so names are no existence oracle) or the actor's own."""
    if name is not None:
        return _named_organisation(conn, scope, name)
    if not isinstance(actor, Principal):
        raise InvalidSubscription("name the organisation to subscribe (the operator has none of its own)")
    return actor.organisation.id


def _organisation_filter(conn: sa.Connection, scope: OrgScope, name: str | None) -> str | None:
    """The organisation a listing is limited to (None: every one)."""
    if name is not None:
        return _named_organisation(conn, scope, name)
    return None if scope.every_organisation else scope.organisation_id


def _named_organisation(conn: sa.Connection, scope: OrgScope, name: str) -> str:
    """The id of an organisation the actor may act for; one outside its scope is reported missing, like one that
    does not exist."""
    named = repository.organisation_id(conn, name)
    if named is None or not scope.admits(named):
        raise NotFound(f"no organisation named {name!r}")
    return named


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def job_handlers(
    engine: sa.Engine, settings: Settings | None = None, clock: Callable[[], datetime] | None = None
) -> dict[str, Callable[[dict[str, Any]], object]]:
    """`notify.webhook` and `notify.email`, for `clearinghouse.workers`."""
    return NotificationService(engine, settings, clock).job_handlers()
