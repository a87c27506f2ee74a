"""Hostile bodies on the case endpoints: refused as problem+json 4xx (never a 500), nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from clearinghouse.api.app import create_app
from clearinghouse.config import Settings
from clearinghouse.identity.model import OrgKind, Role
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.tables import cases, vendor_declarations


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/v1/cases", {"report_ids": ["a\x00b"]}, 422),  # PostgreSQL text cannot hold NUL
        ("/api/v1/cases", {"report_ids": [], "tlp": "CLEAR"}, 422),
        ("/api/v1/cases", {"report_ids": ["no-such-report"]}, 404),
        ("/api/v1/vendors/declarations", {"kind": "repository", "pattern": "[", "organisation": "Acme"}, 422),
        ("/api/v1/vendors/declarations", {"kind": "purl", "pattern": "pkg:pypi/x\x00", "organisation": "Acme"}, 422),
        ("/api/v1/vendors/declarations", {"kind": "cpe", "pattern": "cpe:2.3:a:*:*", "organisation": "Acme"}, 422),
    ],
)
def test_a_hostile_body_is_a_clean_refusal(
    database_url: str, engine: sa.Engine, tmp_path: Path, path: str, body: dict[str, object], status: int
) -> None:
    identity = IdentityStore(engine)
    identity.create_organisation("Clearinghouse", OrgKind.CLEARINGHOUSE)
    identity.create_organisation("Acme", OrgKind.VENDOR)
    token = identity.create_token("Clearinghouse", "analyst", Role.ANALYST).plaintext
    settings = Settings(home=tmp_path, database_url=database_url, embedded_worker=False)
    with TestClient(create_app(settings)) as client:
        response = client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    with engine.connect() as conn:
        for table in (cases, vendor_declarations):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0
