"""The issue's scenario over HTTP, on SQLite and PostgreSQL: a hospital uploads an SBOM made by the real
`cyclonedx-py`, a record affecting one of its components arrives later, the alert is delivered by a signed webhook,
listed and acknowledged, and the VEX exports say so; the bank sees none of it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from clearinghouse.api.app import create_app
from clearinghouse.config import Settings
from clearinghouse.identity.model import OrgKind, Role
from clearinghouse.ingest.pipeline import ImportPipeline
from clearinghouse.notify.service import NotificationService
from clearinghouse.notify.views import SubscriptionRequest
from clearinghouse.policy import Operator
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.records import RecordStore
from tests.notify.conftest import Receiver

KNOWN_RECORDS = Path(__file__).resolve().parents[1] / "fixtures" / "known-records.jsonl"  # real jinja2 advisories


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path,
        database_url=database_url,
        embedded_worker=False,
        webhook_allow_private=True,  # the receiver listens on 127.0.0.1
        rate_limits=False,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def _token(engine: sa.Engine, organisation: str, sector: str) -> dict[str, str]:
    identity = IdentityStore(engine)
    identity.create_organisation(organisation, OrgKind.CRITICAL_INFRASTRUCTURE, sector)
    grant = identity.create_token(organisation, "ops", Role.PARTNER)
    return {"Authorization": f"Bearer {grant.plaintext}"}


def _requirements_sbom(tmp_path: Path) -> bytes:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("jinja2==2.10\nmarkdown2==2.3.0\n", "utf-8")
    command = shutil.which("cyclonedx-py") or str(Path(sys.executable).parent / "cyclonedx-py")
    made = subprocess.run(
        [command, "requirements", str(requirements), "--sv", "1.6", "--of", "JSON", "--no-validate", "-o", "-"],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return made.stdout


def test_a_new_record_raises_an_alert_delivered_by_webhook(
    client: TestClient,
    engine: sa.Engine,
    settings: Settings,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    hospital = _token(engine, "Mercy Hospital", "healthcare-and-public-health")
    bank = _token(engine, "First Bank", "financial-services")
    notifications = NotificationService(engine, settings)
    created = notifications.subscribe(
        Operator("test"), SubscriptionRequest(channel="webhook", url=receiver.url, organisation="Mercy Hospital")
    )
    receiver.secret, receiver.now = created.secret or "", time.time()

    uploaded = client.post("/api/v1/assets?name=patient-portal", content=_requirements_sbom(tmp_path), headers=hospital)
    assert uploaded.status_code == 201, uploaded.text
    body = uploaded.json()
    asset_id = body["asset"]["id"]
    assert body["kept"] == 2 and body["alerts"] == 0  # no records yet
    assert uploaded.headers["Location"] == f"/api/v1/assets/{asset_id}"

    # The jinja2 advisories arrive; the import queues matching, the worker matches and delivers.
    ImportPipeline(RecordStore(engine), workers=0).run([KNOWN_RECORDS])
    client.app.state.worker.run_until_idle()  # type: ignore[attr-defined]
    alerts = client.get("/api/v1/alerts", headers=hospital).json()["alerts"]
    records = RecordStore(engine)
    expected = {
        r.id for name, v in (("jinja2", "2.10"), ("markdown2", "2.3.0")) for r in records.affected("PyPI", name, v)
    }
    assert {a["record_id"] for a in alerts} == expected and expected
    hooks = [orjson.loads(hit.body) for hit in receiver.received]
    assert all(hit.signature_ok for hit in receiver.received)
    # One signed webhook for the asset's new alerts, naming each (record, TLP, components).
    assert [hook["kind"] for hook in hooks] == ["alert.raised"]
    named = {(a["alert_id"], a["record_id"]) for a in hooks[0]["body"]["alerts"]}
    assert named == {(a["id"], a["record_id"]) for a in alerts} and hooks[0]["body"]["count"] == len(alerts)
    assert hooks[0]["body"]["asset_name"] == "patient-portal"

    matches = client.get(f"/api/v1/assets/{asset_id}/matches", headers=hospital).json()
    assert {m["record_id"] for m in matches["matches"]} == expected and matches["total"] == len(expected)
    acknowledged = client.post(f"/api/v1/alerts/{alerts[0]['id']}/ack", json={"note": "upgraded"}, headers=hospital)
    assert acknowledged.status_code == 200 and acknowledged.json()["state"] == "acknowledged"
    open_alerts = client.get("/api/v1/alerts?state=open", headers=hospital).json()["alerts"]
    assert len(open_alerts) == len(alerts) - 1

    cyclonedx_vex = client.get(f"/api/v1/assets/{asset_id}/vex", headers=hospital).json()
    assert {v["id"] for v in cyclonedx_vex["vulnerabilities"]} == expected
    csaf = client.get(f"/api/v1/assets/{asset_id}/vex?format=csaf", headers=hospital).json()
    assert csaf["document"]["category"] == "csaf_vex" and len(csaf["vulnerabilities"]) == len(expected)

    # The bank: another organisation's asset, matches, VEX and alerts do not exist.
    for path in (f"/api/v1/assets/{asset_id}", f"/api/v1/assets/{asset_id}/matches", f"/api/v1/assets/{asset_id}/vex"):
        refused = client.get(path, headers=bank)
        assert refused.status_code == 404 and refused.headers["content-type"] == "application/problem+json"
    assert client.get("/api/v1/alerts", headers=bank).json()["alerts"] == []
    assert client.post(f"/api/v1/alerts/{alerts[1]['id']}/ack", headers=bank).status_code == 404


def test_a_malformed_sbom_is_refused_as_problem_json(client: TestClient, engine: sa.Engine) -> None:
    hospital = _token(engine, "Mercy Hospital", "healthcare-and-public-health")
    for body, status, code in [
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><bom/>', 422, "invalid-record"),
        (b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": 7}', 422, "invalid-record"),
        (b"", 422, "invalid-record"),
        (b"x" * (3 * 1024 * 1024), 413, "body-too-large"),
    ]:
        response = client.post("/api/v1/assets", content=body, headers=hospital)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == code
