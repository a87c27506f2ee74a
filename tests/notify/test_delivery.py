"""Delivery jobs against real local receivers: signed webhooks (retries with back-off on the injected clock, no
retry for a refusal, no redirect followed) and e-mail over SMTP (no header injection)."""

from __future__ import annotations

import socket
import ssl
from dataclasses import replace
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from clearinghouse.identity.model import OrgKind
from clearinghouse.intake.worker import Worker
from clearinghouse.notify import Event, publish
from clearinghouse.notify.rules import MAX_ATTEMPTS, DeliveryStatus
from clearinghouse.notify.service import NotificationService
from clearinghouse.notify.views import SubscriptionRequest
from clearinghouse.policy import Operator
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.jobs import JobQueue
from clearinghouse.store.tables import jobs, notification_deliveries, notification_subscriptions
from tests.notify.conftest import Clock, Mailbox, Receiver, certificate

OPERATOR = Operator("test")


@pytest.fixture
def acme(engine: sa.Engine) -> str:
    return IdentityStore(engine).create_organisation("Acme", OrgKind.VENDOR).name


def announce(service: NotificationService, clock: Clock, title: str = "CASE-2026-0001 opened") -> list[str]:
    """Publish a case.opened event to Acme in a transaction of its own; the delivery ids."""
    with service.engine.begin() as conn:
        acme_id = conn.execute(sa.text("SELECT id FROM organisations WHERE name = 'Acme'")).scalar_one()
        publish(
            conn,
            Event(
                kind="case.opened",
                subject="CASE-2026-0001",
                audience=frozenset({acme_id}),
                title=title,
                body={"case": "CASE-2026-0001", "tlp": "AMBER"},
                occurred_at=clock(),
            ),
        )
    with service.engine.connect() as conn:
        return list(conn.execute(sa.select(notification_deliveries.c.id)).scalars())


def webhook(service: NotificationService, receiver: Receiver, acme: str) -> None:
    created = service.subscribe(OPERATOR, SubscriptionRequest(channel="webhook", url=receiver.url, organisation=acme))
    assert created.secret
    receiver.secret = created.secret


def delivery(service: NotificationService, delivery_id: str) -> sa.Row[tuple[object, ...]]:
    with service.engine.connect() as conn:
        return conn.execute(sa.select(notification_deliveries).where(notification_deliveries.c.id == delivery_id)).one()


def queued_jobs(service: NotificationService) -> list[sa.Row[tuple[object, ...]]]:
    with service.engine.connect() as conn:
        return list(conn.execute(sa.select(jobs).where(jobs.c.status == "queued")).all())


def test_a_webhook_is_signed_and_delivered_by_the_job_worker(
    service: NotificationService, receiver: Receiver, clock: Clock, acme: str
) -> None:
    webhook(service, receiver, acme)
    [delivery_id] = announce(service, clock)

    ran = Worker(JobQueue(service.engine), service.job_handlers()).run_until_idle()

    assert ran == 1
    [request] = receiver.received
    assert request.signature_ok
    assert request.path == "/hooks/clearinghouse"
    assert request.headers["X-Clearinghouse-Event"] == "case.opened"
    assert request.headers["X-Clearinghouse-Delivery"] == delivery_id
    assert orjson.loads(request.body) == {
        "id": delivery_id,
        "kind": "case.opened",
        "subject": "CASE-2026-0001",
        "title": "CASE-2026-0001 opened",
        "occurred_at": clock().isoformat(),
        "body": {"case": "CASE-2026-0001", "tlp": "AMBER"},
    }
    row = delivery(service, delivery_id)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 1, None)


def test_a_receiver_that_fails_is_retried_with_doubling_waits_until_it_answers(
    service: NotificationService, receiver: Receiver, clock: Clock, acme: str
) -> None:
    webhook(service, receiver, acme)
    [delivery_id] = announce(service, clock)
    receiver.statuses = [500, 503, 429, 200]

    for attempt, wait in enumerate([timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=2)], start=1):
        assert service.deliver(delivery_id) is DeliveryStatus.RETRYING
        row = delivery(service, delivery_id)
        assert row.attempts == attempt
        assert row.next_attempt_at.replace(tzinfo=clock().tzinfo) == clock() + wait
        assert row.last_error.startswith("HTTP ")
        sent = len(receiver.received)
        assert service.deliver(delivery_id) is DeliveryStatus.RETRYING  # a job run before the retry is due
        assert len(receiver.received) == sent and delivery(service, delivery_id).attempts == attempt
        retries = queued_jobs(service)[1:]  # the first is publish's (run here by hand)
        assert [(job.kind, job.payload) for job in retries] == [
            ("notify.webhook", {"delivery_id": delivery_id})
        ] * attempt
        clock.advance(wait)
        receiver.now = clock().timestamp()

    assert service.deliver(delivery_id) is DeliveryStatus.DELIVERED
    assert len(receiver.received) == 4 and all(request.signature_ok for request in receiver.received)
    row = delivery(service, delivery_id)
    assert (row.status, row.attempts) == ("delivered", 4)
    # A job that runs again after the delivery succeeded sends nothing more.
    assert service.deliver(delivery_id) is DeliveryStatus.DELIVERED
    assert len(receiver.received) == 4


def test_a_receiver_that_never_recovers_fails_after_the_last_attempt(
    service: NotificationService, receiver: Receiver, clock: Clock, acme: str
) -> None:
    webhook(service, receiver, acme)
    [delivery_id] = announce(service, clock)
    receiver.statuses = [502] * MAX_ATTEMPTS

    outcomes = []
    for _ in range(MAX_ATTEMPTS):
        outcomes.append(service.deliver(delivery_id))
        clock.advance(timedelta(hours=1))  # the longest wait between attempts

    assert outcomes == [DeliveryStatus.RETRYING] * (MAX_ATTEMPTS - 1) + [DeliveryStatus.FAILED]
    row = delivery(service, delivery_id)
    assert (row.status, row.attempts, row.last_error, row.next_attempt_at) == ("failed", MAX_ATTEMPTS, "HTTP 502", None)


@pytest.mark.parametrize("status", [400, 401, 404, 410])
def test_a_refusal_is_not_retried(
    service: NotificationService, receiver: Receiver, clock: Clock, acme: str, status: int
) -> None:
    webhook(service, receiver, acme)
    [delivery_id] = announce(service, clock)
    receiver.statuses = [status]

    assert service.deliver(delivery_id) is DeliveryStatus.FAILED
    assert delivery(service, delivery_id).last_error == f"HTTP {status}"
    assert len(queued_jobs(service)) == 1  # the job publish queued (run here by hand), no retry


def test_a_redirect_is_not_followed(service: NotificationService, receiver: Receiver, clock: Clock, acme: str) -> None:
    webhook(service, receiver, acme)
    [delivery_id] = announce(service, clock)
    receiver.statuses = [302]

    assert service.deliver(delivery_id) is DeliveryStatus.FAILED
    assert len(receiver.received) == 1
    assert (
        "redirect to 'http://169.254.169.254/latest/meta-data/' not followed"
        in delivery(service, delivery_id).last_error
    )


def test_an_unreachable_receiver_is_retried(
    service: NotificationService, receiver: Receiver, clock: Clock, acme: str
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
    service.subscribe(OPERATOR, SubscriptionRequest(channel="webhook", url=closed, organisation=acme))
    [delivery_id] = announce(service, clock)

    assert service.deliver(delivery_id) is DeliveryStatus.RETRYING
    assert delivery(service, delivery_id).last_error.startswith("ConnectError")


def test_a_disabled_subscription_fails_its_queued_deliveries(
    service: NotificationService, receiver: Receiver, clock: Clock, acme: str
) -> None:
    webhook(service, receiver, acme)
    [delivery_id] = announce(service, clock)
    [subscription] = service.subscriptions(OPERATOR).subscriptions
    service.set_enabled(OPERATOR, subscription.id, enabled=False)

    assert service.deliver(delivery_id) is DeliveryStatus.FAILED
    assert delivery(service, delivery_id).last_error == "the subscription is disabled"
    assert receiver.received == []


def test_an_email_names_the_event_and_reaches_every_address(
    service: NotificationService, mailbox: Mailbox, clock: Clock, acme: str
) -> None:
    addresses = ["psirt@acme.example", "security@acme.example"]
    service.subscribe(OPERATOR, SubscriptionRequest(channel="email", addresses=addresses, organisation=acme))
    [delivery_id] = announce(service, clock)

    assert Worker(JobQueue(service.engine), service.job_handlers()).run_until_idle() == 1

    [envelope] = mailbox.messages
    assert sorted(envelope.rcpt_tos) == addresses
    assert envelope.mail_from == "cert@clearinghouse.example"
    message = message_from_bytes(envelope.original_content or b"", policy=default_policy)
    assert message["Subject"] == "[Clearinghouse] case.opened: CASE-2026-0001 opened"
    assert message["Message-ID"] == f"<{delivery_id}@clearinghouse>"
    text = message.get_body().get_content()  # type: ignore[union-attr]
    assert "Clearinghouse notification: case.opened" in text
    assert f"When: {clock().isoformat()} (UTC)" in text
    assert '"tlp": "AMBER"' in text
    assert delivery(service, delivery_id).status == "delivered"


def test_a_title_cannot_inject_mail_headers(
    service: NotificationService, mailbox: Mailbox, clock: Clock, acme: str
) -> None:
    service.subscribe(
        OPERATOR, SubscriptionRequest(channel="email", addresses=["psirt@acme.example"], organisation=acme)
    )
    [delivery_id] = announce(service, clock, title="Opened\r\nBcc: attacker@evil.example\r\n\r\nforged body")

    assert service.deliver(delivery_id) is DeliveryStatus.DELIVERED

    [envelope] = mailbox.messages
    assert envelope.rcpt_tos == ["psirt@acme.example"]
    message = message_from_bytes(envelope.original_content or b"", policy=default_policy)
    assert message["Bcc"] is None
    assert message["Subject"].strip() == "[Clearinghouse] case.opened: Opened Bcc: attacker@evil.example forged body"


def test_a_refused_address_fails_and_a_missing_smtp_server_is_retried(
    service: NotificationService, mailbox: Mailbox, clock: Clock, acme: str, engine: sa.Engine
) -> None:
    service.subscribe(
        OPERATOR, SubscriptionRequest(channel="email", addresses=["nobody@acme.example"], organisation=acme)
    )
    mailbox.refuse_with = "550 5.1.1 no such user"
    [refused] = announce(service, clock)
    assert service.deliver(refused) is DeliveryStatus.FAILED
    assert "nobody@acme.example" in delivery(service, refused).last_error

    unconfigured = NotificationService(
        engine,
        replace(service.settings, smtp_url=None),
        clock=clock,
    )
    with engine.begin() as conn:
        conn.execute(sa.delete(notification_deliveries))
    [waiting] = announce(service, clock)
    assert unconfigured.deliver(waiting) is DeliveryStatus.RETRYING
    assert delivery(service, waiting).last_error == "no SMTP server configured (CLEARINGHOUSE_SMTP_URL)"
    misconfigured = NotificationService(engine, replace(service.settings, smtp_url="http://mail:25"), clock=clock)
    clock.advance(timedelta(hours=1))
    assert misconfigured.deliver(waiting) is DeliveryStatus.RETRYING
    assert "CLEARINGHOUSE_SMTP_URL must look like smtp://host:port" in delivery(service, waiting).last_error


def test_a_test_delivery_reaches_a_subscription_whatever_its_filter(
    service: NotificationService, receiver: Receiver, clock: Clock, acme: str
) -> None:
    created = service.subscribe(
        OPERATOR,
        SubscriptionRequest(channel="webhook", url=receiver.url, organisation=acme, event_kinds=["case.published"]),
    )
    receiver.secret = created.secret or ""
    queued = service.send_test(OPERATOR, created.id)

    assert service.deliver(queued.id) is DeliveryStatus.DELIVERED
    [request] = receiver.received
    assert request.signature_ok and request.headers["X-Clearinghouse-Event"] == "notification.test"


@pytest.mark.parametrize(
    ("password", "outcome"), [("s3cret", DeliveryStatus.DELIVERED), ("wrong", DeliveryStatus.FAILED)]
)
def test_smtp_login_from_the_url(
    service: NotificationService, clock: Clock, acme: str, password: str, outcome: DeliveryStatus
) -> None:
    received: list[Envelope] = []

    class Handler:
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            received.append(envelope)
            return "250 OK"

    def authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        return AuthResult(success=(data.login, data.password) == (b"notify", b"s3cret"), handled=False)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        Handler(), hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False
    )
    controller.start()
    try:
        smtp_url = f"smtp://notify:{password}@127.0.0.1:{port}"
        mailer = NotificationService(service.engine, replace(service.settings, smtp_url=smtp_url), clock=clock)
        mailer.subscribe(
            OPERATOR, SubscriptionRequest(channel="email", addresses=["a@acme.example"], organisation=acme)
        )
        [delivery_id] = announce(mailer, clock)
        assert mailer.deliver(delivery_id) is outcome, delivery(mailer, delivery_id).last_error
    finally:
        controller.stop()
    assert len(received) == (1 if outcome is DeliveryStatus.DELIVERED else 0)
    if outcome is DeliveryStatus.FAILED:
        assert delivery(mailer, delivery_id).last_error.startswith("SMTP 535")


def test_the_signing_secret_is_kept_sealed_and_a_moved_one_does_not_open(
    service: NotificationService, receiver: Receiver, clock: Clock, acme: str
) -> None:
    first = service.subscribe(OPERATOR, SubscriptionRequest(channel="webhook", url=receiver.url, organisation=acme))
    second = service.subscribe(OPERATOR, SubscriptionRequest(channel="webhook", url=receiver.url, organisation=acme))
    table = notification_subscriptions
    with service.engine.begin() as conn:
        stored = {row.id: row.secret for row in conn.execute(sa.select(table.c.id, table.c.secret))}
        assert first.secret not in stored[first.id] and second.secret not in stored[second.id]
        # Someone with write access to the database copies the first subscription's sealed secret to the second.
        conn.execute(sa.update(table).where(table.c.id == second.id).values(secret=stored[first.id]))
    receiver.secret = first.secret or ""
    deliveries = announce(service, clock)

    outcomes = sorted(str(service.deliver(delivery_id)) for delivery_id in deliveries)

    assert outcomes == ["delivered", "failed"]
    assert len(receiver.received) == 1 and receiver.received[0].signature_ok


def test_starttls_verifies_the_server_and_sends_encrypted(
    service: NotificationService, clock: Clock, acme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, cert, key = certificate(tmp_path, "localhost")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the default context trusts the test's authority
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    received: list[bool] = []

    class Handler:
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            received.append(session.ssl is not None)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=tls, require_starttls=True)
    controller.start()
    try:
        settings = replace(service.settings, smtp_url=f"smtp://localhost:{port}?starttls=1")
        mailer = NotificationService(service.engine, settings, clock=clock)
        request = SubscriptionRequest(channel="email", addresses=["a@acme.example"], organisation=acme)
        mailer.subscribe(OPERATOR, request)
        [delivery_id] = announce(mailer, clock)
        assert mailer.deliver(delivery_id) is DeliveryStatus.DELIVERED, delivery(mailer, delivery_id).last_error
    finally:
        controller.stop()
    assert received == [True]


def test_every_attempt_is_in_the_audit_log(
    service: NotificationService, receiver: Receiver, clock: Clock, acme: str
) -> None:
    webhook(service, receiver, acme)
    [delivery_id] = announce(service, clock)
    receiver.statuses = [503, 200]
    service.deliver(delivery_id)
    clock.advance(timedelta(seconds=30))
    receiver.now = clock().timestamp()
    service.deliver(delivery_id)

    entries = service.audit.entries("delivery", delivery_id)

    assert [(e.action, e.details["attempts"], e.details["reason"]) for e in entries] == [
        ("notification.retrying", 1, "HTTP 503"),
        ("notification.delivered", 2, "sent"),
    ]
    assert {e.actor for e in entries} == {"notify-worker"}
