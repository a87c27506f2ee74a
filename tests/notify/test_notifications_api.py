"""The notifications API: an organisation's own subscriptions and deliveries, the secret shown once, precise
problem+json refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from clearinghouse.api.app import create_app
from clearinghouse.config import Settings
from clearinghouse.identity.model import OrgKind, Role
from clearinghouse.notify import Event, publish
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.tables import notification_subscriptions
from tests.notify.conftest import START, Receiver

BASE = "/api/v1/notifications"


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    settings = Settings(
        home=tmp_path, database_url=database_url, embedded_worker=False, rate_limits=False, webhook_allow_private=True
    )
    app = create_app(settings)
    identity = IdentityStore(app.state.engine)
    identity.create_organisation("Acme", OrgKind.VENDOR)
    identity.create_organisation("Globex", OrgKind.VENDOR)
    identity.create_organisation("Clearinghouse", OrgKind.CLEARINGHOUSE)
    tokens = {
        "acme": identity.create_token("Acme", "psirt", Role.VENDOR),
        "globex": identity.create_token("Globex", "psirt", Role.VENDOR),
        "admin": identity.create_token("Clearinghouse", "root", Role.ADMIN),
    }
    with TestClient(app) as client:
        yield client, {name: {"Authorization": f"Bearer {grant.plaintext}"} for name, grant in tokens.items()}


def test_the_secret_is_shown_once_and_another_organisation_cannot_see_the_subscription(
    api: tuple[TestClient, dict[str, dict[str, str]]], receiver: Receiver, engine: sa.Engine
) -> None:
    client, headers = api
    created = client.post(
        f"{BASE}/subscriptions", json={"channel": "webhook", "url": receiver.url}, headers=headers["acme"]
    )
    assert created.status_code == 201, created.text
    subscription = created.json()
    assert len(subscription["secret"]) >= 43 and subscription["url"] == receiver.url

    listed = client.get(f"{BASE}/subscriptions", headers=headers["acme"]).json()
    assert [s["id"] for s in listed["subscriptions"]] == [subscription["id"]]
    assert "secret" not in listed["subscriptions"][0]

    assert client.get(f"{BASE}/subscriptions", headers=headers["globex"]).json()["total"] == 0
    for method, path, body in (
        ("PATCH", f"{BASE}/subscriptions/{subscription['id']}", {"enabled": False}),
        ("POST", f"{BASE}/subscriptions/{subscription['id']}/test", None),
    ):
        answer = client.request(method, path, json=body, headers=headers["globex"])
        assert answer.status_code == 404 and answer.json()["code"] == "not-found"
    missing = client.patch(f"{BASE}/subscriptions/no-such-id", json={"enabled": False}, headers=headers["globex"])
    assert missing.json()["detail"] == "no subscription 'no-such-id'"  # the same answer as another's

    # Staff see every organisation's; to a vendor another organisation is one that does not exist.
    assert client.get(f"{BASE}/subscriptions", headers=headers["admin"]).json()["total"] == 1
    other = {"channel": "email", "addresses": ["x@globex.example"], "organisation": "Globex"}
    refused = client.post(f"{BASE}/subscriptions", json=other, headers=headers["acme"])
    nobody = client.post(f"{BASE}/subscriptions", json={**other, "organisation": "Nobody"}, headers=headers["acme"])
    assert refused.status_code == nobody.status_code == 404  # no oracle for other organisations' names
    assert refused.json()["detail"] == "no organisation named 'Globex'"
    assert client.post(f"{BASE}/subscriptions", json=other, headers=headers["admin"]).status_code == 201
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(notification_subscriptions)).scalar() == 2


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        ({"channel": "webhook", "url": "http://169.254.169.254/x"}, "webhook-target-refused", "link-local"),
        ({"channel": "webhook", "url": "ftp://example.org/"}, "webhook-target-refused", "http or https"),
        ({"channel": "webhook"}, "invalid-subscription", "needs `url`"),
        ({"channel": "email", "addresses": ["a@b.example\r\nBcc: x@evil.example"]}, "invalid-subscription", "plain"),
        ({"channel": "email", "addresses": ["Eve <eve@evil.example>"]}, "invalid-subscription", "plain e-mail"),
        ({"channel": "email", "addresses": []}, "invalid-subscription", "needs `addresses`"),
        (
            {"channel": "email", "addresses": ["a@b.example"], "event_kinds": ["case.*"]},
            "invalid-subscription",
            "unknown",
        ),
    ],
)
def test_bad_subscriptions_are_refused_precisely_and_nothing_is_kept(
    database_url: str, tmp_path: Path, body: dict[str, object], code: str, fragment: str, engine: sa.Engine
) -> None:
    settings = Settings(home=tmp_path, database_url=database_url, embedded_worker=False, rate_limits=False)
    app = create_app(settings)
    identity = IdentityStore(app.state.engine)
    identity.create_organisation("Acme", OrgKind.VENDOR)
    token = identity.create_token("Acme", "psirt", Role.VENDOR).plaintext
    with TestClient(app) as client:
        answer = client.post(f"{BASE}/subscriptions", json=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code and fragment in answer.json()["detail"]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(notification_subscriptions)).scalar() == 0


def test_each_organisation_reads_only_its_own_deliveries_a_page_at_a_time(
    api: tuple[TestClient, dict[str, dict[str, str]]], engine: sa.Engine
) -> None:
    client, headers = api
    for name in ("acme", "globex"):
        body = {"channel": "email", "addresses": [f"psirt@{name}.example"]}
        assert client.post(f"{BASE}/subscriptions", json=body, headers=headers[name]).status_code == 201
    with engine.begin() as conn:
        acme, globex = (
            conn.execute(sa.text("SELECT id FROM organisations WHERE name = :n"), {"n": n}).scalar_one()
            for n in ("Acme", "Globex")
        )
        for number in range(3):
            publish(conn, Event("case.message", f"CASE-2026-000{number}", frozenset({acme}), "a message", {}, START))
        publish(conn, Event("case.opened", "CASE-2026-0009", frozenset({globex}), "globex only", {}, START))

    first = client.get(f"{BASE}/deliveries", params={"limit": 2}, headers=headers["acme"]).json()
    assert first["total"] == 3 and len(first["deliveries"]) == 2 and first["next_cursor"]
    rest = client.get(
        f"{BASE}/deliveries", params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers["acme"]
    ).json()
    subjects = [d["subject"] for d in first["deliveries"] + rest["deliveries"]]
    assert sorted(subjects) == ["CASE-2026-0000", "CASE-2026-0001", "CASE-2026-0002"]
    assert rest["next_cursor"] is None
    assert [d["subject"] for d in client.get(f"{BASE}/deliveries", headers=headers["globex"]).json()["deliveries"]] == [
        "CASE-2026-0009"
    ]
    assert client.get(f"{BASE}/deliveries", headers=headers["admin"]).json()["total"] == 4
    hidden = client.get(f"{BASE}/deliveries", params={"organisation": "Acme"}, headers=headers["globex"])
    assert hidden.status_code == 404
    bad = client.get(f"{BASE}/deliveries", params={"cursor": "not-a-cursor"}, headers=headers["acme"])
    assert bad.status_code == 422 and bad.json()["code"] == "invalid-cursor"
