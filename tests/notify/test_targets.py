"""The SSRF guard: webhook targets must be public http(s) addresses, checked when subscribing and at delivery."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from clearinghouse.errors import InvalidSubscription, WebhookHostUnresolvable, WebhookTargetRefused
from clearinghouse.identity.model import OrgKind
from clearinghouse.notify import Event, publish
from clearinghouse.notify.rules import DeliveryStatus
from clearinghouse.notify.service import NotificationService
from clearinghouse.notify.targets import Resolver, check_url
from clearinghouse.notify.views import SubscriptionRequest
from clearinghouse.policy import Operator
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.tables import notification_deliveries
from tests.notify.conftest import Clock, Receiver

PUBLIC = "93.184.215.14"


def resolving_to(*addresses: str) -> Resolver:
    return lambda host, port: list(addresses)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://127.1.2.3:8080/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://[::]/hook", "unspecified"),
        ("http://10.0.0.8/hook", "private"),
        ("http://172.16.5.4/hook", "private"),
        ("http://192.168.1.1/hook", "private"),
        ("http://[fc00::1]/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://[ff02::1]/hook", "multicast"),
        ("http://240.0.0.1/hook", "reserved"),
        ("http://100.64.0.1/hook", "shared"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://[::ffff:10.1.2.3]/hook", "private"),
        ("http://[64:ff9b::a9fe:a9fe]/hook", "link-local"),  # NAT64 of 169.254.169.254
        ("http://[2002:7f00:1::]/hook", "loopback"),  # 6to4 of 127.0.0.1
    ],
)
def test_internal_addresses_are_refused(url: str, reason: str) -> None:
    with pytest.raises(WebhookTargetRefused, match=reason):
        check_url(url, allow_private=False)


def test_a_name_is_refused_if_any_of_its_addresses_is_internal() -> None:
    with pytest.raises(WebhookTargetRefused, match=r"'hooks.example.org' is a private address \(10.0.0.5\)"):
        check_url("https://hooks.example.org/x", allow_private=False, resolve=resolving_to(PUBLIC, "10.0.0.5"))


def test_a_public_name_is_accepted_and_pinned_to_its_checked_address() -> None:
    target = check_url("https://hooks.example.org:8443/x?y=1", allow_private=False, resolve=resolving_to(PUBLIC))
    assert (target.scheme, target.host, target.port, target.address) == ("https", "hooks.example.org", 8443, PUBLIC)


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("ftp://hooks.example.org/x", WebhookTargetRefused, "must be http or https"),
        ("file:///etc/passwd", WebhookTargetRefused, "must be http or https"),
        ("gopher://127.0.0.1:25/", WebhookTargetRefused, "must be http or https"),
        ("https://user:pw@hooks.example.org/x", InvalidSubscription, "user name or password"),
        ("https:///nohost", InvalidSubscription, "needs a host"),
        ("https://hooks.example.org/a b", InvalidSubscription, "printable characters without spaces"),
        ("https://hooks.example.org:99999/", InvalidSubscription, "not a URL"),
        ("https://" + "a" * 2100 + ".org/", InvalidSubscription, "at most 2048"),
    ],
)
def test_malformed_urls_are_refused(url: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        check_url(url, allow_private=False, resolve=resolving_to(PUBLIC))


def test_the_operator_may_allow_internal_targets() -> None:
    assert check_url("http://127.0.0.1:9000/hook", allow_private=True).address == "127.0.0.1"


def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(WebhookHostUnresolvable, match="does not resolve"):
        check_url("https://no-such-host.invalid/x", allow_private=False)


def test_a_subscription_to_an_internal_address_is_refused_and_nothing_is_kept(engine: sa.Engine) -> None:
    IdentityStore(engine).create_organisation("Acme", OrgKind.VENDOR)
    service = NotificationService(engine)
    request = SubscriptionRequest(channel="webhook", url="http://127.0.0.1:8120/hook", organisation="Acme")
    with pytest.raises(WebhookTargetRefused, match="loopback"):
        service.subscribe(Operator("test"), request)
    assert service.subscriptions(Operator("test")).total == 0


def test_dns_rebinding_after_subscribing_is_refused_at_delivery(
    engine: sa.Engine, receiver: Receiver, clock: Clock
) -> None:
    """The name resolved to a public address when subscribed and to loopback (the receiver) at delivery: the
    request is never sent, and it is not retried."""
    acme = IdentityStore(engine).create_organisation("Acme", OrgKind.VENDOR)
    answers = [PUBLIC]
    service = NotificationService(engine, clock=clock, resolver=lambda host, port: list(answers))
    port = receiver.url.split(":")[2].split("/")[0]
    request = SubscriptionRequest(channel="webhook", url=f"http://rebind.example:{port}/hook", organisation="Acme")
    service.subscribe(Operator("test"), request)
    with engine.begin() as conn:
        publish(conn, Event("case.opened", "CASE-2026-0001", frozenset({acme.id}), "opened", {}, clock()))
        delivery_id = conn.execute(sa.select(notification_deliveries.c.id)).scalar_one()
    answers[:] = ["127.0.0.1"]

    assert service.deliver(delivery_id) is DeliveryStatus.FAILED
    assert receiver.received == []
    with engine.connect() as conn:
        error = conn.execute(sa.select(notification_deliveries.c.last_error)).scalar_one()
    assert "loopback address (127.0.0.1)" in error
