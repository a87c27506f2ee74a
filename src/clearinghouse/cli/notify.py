"""`clearinghouse notify`: notification subscriptions, a test delivery and the deliveries log, through the same
service and access rules as the API (`--token` acts as that token's user; without it, as the store's operator)."""

from __future__ import annotations

import getpass
from typing import Annotated

import orjson
import typer
from pydantic import ValidationError
from rich.table import Table

from clearinghouse.cli import render
from clearinghouse.config import Settings
from clearinghouse.errors import InvalidSubscription
from clearinghouse.notify.events import EVENT_KINDS
from clearinghouse.notify.rules import DeliveryStatus
from clearinghouse.notify.service import NotificationService
from clearinghouse.notify.views import SubscriptionRequest
from clearinghouse.policy import Actor, Operator
from clearinghouse.store.db import open_engine
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.pages import DEFAULT_LIMIT, MAX_LIMIT

notify_app = typer.Typer(
    help="Notifications: webhook and e-mail subscriptions, test deliveries, the deliveries log.", no_args_is_help=True
)
console = render.console()

Token = Annotated[
    str | None,
    typer.Option(
        envvar="CLEARINGHOUSE_TOKEN",
        help="Act as this API token's user (its scopes apply, as in the API); without it, as the operator",
    ),
]
Org = Annotated[str | None, typer.Option("--org", help="The organisation (by name); default: the token's own")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _service(token: str | None) -> tuple[NotificationService, Actor]:
    settings = Settings.from_env()
    engine = open_engine(settings)
    actor: Actor = Operator(f"cli:{getpass.getuser()}")
    if token is not None:
        actor = IdentityStore(engine).authenticate(token.strip())
    return NotificationService(engine, settings), actor


@notify_app.command("subscribe")
def subscribe(
    webhook: Annotated[str | None, typer.Option(help="Deliver by POST to this http(s) URL (signed)")] = None,
    email: Annotated[list[str] | None, typer.Option(help="Deliver by e-mail to this address (repeatable)")] = None,
    event: Annotated[
        list[str] | None, typer.Option(help=f"Only these event kinds (repeatable): {', '.join(sorted(EVENT_KINDS))}")
    ] = None,
    org: Org = None,
    token: Token = None,
) -> None:
    """Subscribe an organisation to events by webhook or e-mail. A webhook's signing secret is printed once."""
    if (webhook is None) == (not email):
        raise InvalidSubscription("give either --webhook URL or --email ADDRESS (repeatable), not both")
    service, actor = _service(token)
    try:
        request = SubscriptionRequest(
            channel="webhook" if webhook else "email",
            url=webhook,
            addresses=email or None,
            event_kinds=event or [],
            organisation=org,
        )
    except ValidationError as exc:  # over a length limit: the first problem, as one message
        problem = exc.errors()[0]
        field = ".".join(str(part) for part in problem["loc"])
        raise InvalidSubscription(f"{field}: {problem['msg']}") from None
    created = service.subscribe(actor, request)
    kinds = ", ".join(created.event_kinds) or "every event"
    console.print(
        f"subscription {created.id}: {created.channel} to {created.url or ', '.join(created.addresses or [])}"
        f" for {kinds}",
        highlight=False,
    )
    if created.secret:
        console.print("signing secret (copy it now, it is not shown again):", style="bold")
        print(created.secret)


@notify_app.command("list")
def list_subscriptions(org: Org = None, token: Token = None, as_json: AsJson = False) -> None:
    """The subscriptions you manage (the operator: every organisation's)."""
    service, actor = _service(token)
    page = service.subscriptions(actor, MAX_LIMIT, None, org)
    if as_json:
        print(orjson.dumps([s.model_dump(mode="json") for s in page.subscriptions]).decode())
        return
    table = Table("id", "organisation", "channel", "to", "events", "enabled")
    for item in page.subscriptions:
        target = item.url or ", ".join(item.addresses or [])
        events = ", ".join(item.event_kinds) or "all"
        table.add_row(item.id, item.organisation, item.channel, target, events, "yes" if item.enabled else "no")
    console.print(table)


@notify_app.command("enable")
def enable(subscription_id: str, token: Token = None) -> None:
    """Turn a subscription on again."""
    service, actor = _service(token)
    service.set_enabled(actor, subscription_id, enabled=True)
    console.print(f"subscription {subscription_id} enabled", highlight=False)


@notify_app.command("disable")
def disable(subscription_id: str, token: Token = None) -> None:
    """Turn a subscription off: its queued deliveries fail, saying so."""
    service, actor = _service(token)
    service.set_enabled(actor, subscription_id, enabled=False)
    console.print(f"subscription {subscription_id} disabled", highlight=False)


@notify_app.command("test")
def send_test(subscription_id: str, token: Token = None) -> None:
    """Send a test notification to one subscription now and print what the receiver answered."""
    service, actor = _service(token)
    queued = service.send_test(actor, subscription_id)
    service.deliver(queued.id)  # now, not when a worker gets to it; the queued job then finds it done
    outcome = service.delivery(actor, queued.id)
    detail = f": {outcome.last_error}" if outcome.last_error else ""
    console.print(f"test delivery {queued.id}: {outcome.status.value}{detail}", highlight=False)
    if outcome.status is not DeliveryStatus.DELIVERED:
        raise typer.Exit(1)


@notify_app.command("deliveries")
def deliveries(
    status: Annotated[DeliveryStatus | None, typer.Option(help="Only deliveries in this state")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help="How many, newest first")] = DEFAULT_LIMIT,
    org: Org = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """The deliveries log, newest first: each event sent, its attempts and outcome."""
    service, actor = _service(token)
    page = service.deliveries(actor, status=status, limit=limit, organisation=org)
    if as_json:
        print(orjson.dumps([d.model_dump(mode="json") for d in page.deliveries]).decode())
        return
    table = Table("id", "organisation", "event", "subject", "channel", "status", "attempts", "last error")
    for item in page.deliveries:
        table.add_row(
            item.id,
            item.organisation,
            item.event_kind,
            item.subject,
            item.channel,
            item.status.value,
            str(item.attempts),
            item.last_error or "",
        )
    console.print(table)
    console.print(f"{len(page.deliveries)} of {page.total}", highlight=False)
