"""`publish`: one outbox row and one job per subscribed channel of each audience organisation, in the caller's
transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from clearinghouse.errors import InvalidEvent
from clearinghouse.identity.model import OrgKind
from clearinghouse.notify import Event, publish, repository
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.tables import jobs, notification_deliveries

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def subscribe(engine: sa.Engine, organisation_id: str, channel: str, kinds: list[str] | None = None) -> str:
    subscription_id = str(uuid.uuid4())
    with engine.begin() as conn:
        repository.insert_subscription(
            conn,
            dict(
                id=subscription_id,
                organisation_id=organisation_id,
                channel=channel,
                url="https://hooks.example.org/ch" if channel == "webhook" else None,
                secret="s" * 43 if channel == "webhook" else None,
                addresses=["psirt@example.org"] if channel == "email" else None,
                event_kinds=kinds or [],
                enabled=True,
                created_by="test",
                created_at=NOW,
                updated_at=NOW,
            ),
        )
    return subscription_id


def event(audience: set[str], kind: str = "case.opened", **changes: object) -> Event:
    fields: dict[str, object] = dict(
        kind=kind,
        subject="CASE-2026-0001",
        audience=frozenset(audience),
        title="A case was opened",
        body={"case": "CASE-2026-0001", "state": "open"},
        occurred_at=NOW,
    )
    fields.update(changes)
    return Event(**fields)  # type: ignore[arg-type]


@pytest.fixture
def orgs(engine: sa.Engine) -> tuple[str, str, str]:
    identity = IdentityStore(engine)
    return (
        identity.create_organisation("Acme", OrgKind.VENDOR).id,
        identity.create_organisation("Globex", OrgKind.VENDOR).id,
        identity.create_organisation("Initech", OrgKind.VENDOR).id,
    )


def test_each_subscribed_channel_of_the_audience_gets_one_delivery_and_one_job(
    engine: sa.Engine, orgs: tuple[str, str, str]
) -> None:
    acme, globex, initech = orgs
    subscribe(engine, acme, "webhook")
    subscribe(engine, acme, "email")
    subscribe(engine, globex, "email")
    subscribe(engine, initech, "webhook")  # not in the audience

    with engine.begin() as conn:
        queued = publish(conn, event({acme, globex}))

    assert queued == 3
    with engine.connect() as conn:
        rows = conn.execute(sa.select(notification_deliveries)).all()
        queued_jobs = conn.execute(sa.select(jobs.c.kind, jobs.c.payload)).all()
    assert sorted((row.organisation_id, row.channel) for row in rows) == sorted(
        [(acme, "webhook"), (acme, "email"), (globex, "email")]
    )
    assert all(row.status == "queued" and row.attempts == 0 for row in rows)
    assert all(row.body == {"case": "CASE-2026-0001", "state": "open"} for row in rows)
    assert sorted(job.kind for job in queued_jobs) == ["notify.email", "notify.email", "notify.webhook"]
    assert {job.payload["delivery_id"] for job in queued_jobs} == {row.id for row in rows}


def test_a_subscription_filtered_to_other_kinds_and_a_disabled_one_get_nothing(
    engine: sa.Engine, orgs: tuple[str, str, str]
) -> None:
    acme, globex, _ = orgs
    subscribe(engine, acme, "webhook", kinds=["case.published"])
    disabled = subscribe(engine, globex, "email")
    with engine.begin() as conn:
        repository.update_subscription(conn, disabled, enabled=False)

    with engine.begin() as conn:
        assert publish(conn, event({acme, globex}, kind="case.message")) == 0
        assert publish(conn, event({acme, globex}, kind="case.published")) == 1


def test_a_rolled_back_caller_leaves_no_delivery_and_no_job(engine: sa.Engine, orgs: tuple[str, str, str]) -> None:
    acme, _, _ = orgs
    subscribe(engine, acme, "webhook")

    with pytest.raises(RuntimeError), engine.begin() as conn:
        assert publish(conn, event({acme})) == 1
        raise RuntimeError("the caller's own write failed after publishing")

    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(notification_deliveries)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(jobs)).scalar() == 0


def test_times_are_kept_in_utc(engine: sa.Engine, orgs: tuple[str, str, str]) -> None:
    acme, _, _ = orgs
    subscribe(engine, acme, "email")
    paris = timezone(timedelta(hours=1))
    with engine.begin() as conn:
        publish(conn, event({acme}, occurred_at=datetime(2026, 12, 6, 10, 0, tzinfo=paris)))
    with engine.connect() as conn:
        occurred = conn.execute(sa.select(notification_deliveries.c.occurred_at)).scalar_one()
    assert occurred.replace(tzinfo=occurred.tzinfo or UTC) == NOW


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "case.deleted"}, "unknown event kind 'case.deleted'"),
        ({"occurred_at": datetime(2026, 12, 6, 9, 0)}, "timezone-aware"),
        ({"body": {"affected": {"pkg:pypi/jinja2"}}}, "body must be JSON"),
        ({"body": {"text": "x" * 70_000}}, "at most 65536"),
        ({"title": "   "}, "title must be"),
        ({"subject": ""}, "subject must be"),
    ],
)
def test_a_bad_event_is_refused_before_anything_is_written(
    engine: sa.Engine, orgs: tuple[str, str, str], changes: dict[str, object], message: str
) -> None:
    acme, _, _ = orgs
    subscribe(engine, acme, "webhook")
    with pytest.raises(InvalidEvent, match=message), engine.begin() as conn:
        publish(conn, event({acme}, **changes))
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(notification_deliveries)).scalar() == 0


def test_an_audience_without_subscriptions_queues_nothing(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        assert publish(conn, event(set())) == 0
        assert publish(conn, event({"no-such-organisation"})) == 0
