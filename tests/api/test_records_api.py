"""The records API: problem+json errors, TLP-filtered reads, offline docs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from clearinghouse.api.app import create_app
from clearinghouse.config import Settings
from clearinghouse.identity.model import OrgKind, Role
from clearinghouse.ingest.pipeline import ImportPipeline
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.records import RecordStore
from clearinghouse.store.tables import records
from tests.conftest import SAMPLE


@pytest.fixture
def client(database_url: str, engine: sa.Engine, tmp_path) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    ImportPipeline(RecordStore(engine)).run([SAMPLE])
    with TestClient(create_app(Settings(home=tmp_path, database_url=database_url))) as test_client:
        yield test_client


def token(engine: sa.Engine, kind: OrgKind, role: Role, sector: str | None = None) -> dict[str, str]:
    identity = IdentityStore(engine)
    identity.create_organisation(f"{kind.value} org", kind, sector)
    grant = identity.create_token(f"{kind.value} org", "someone", role)
    return {"Authorization": f"Bearer {grant.plaintext}"}


def test_records_by_alias_with_computed_scores(client: TestClient) -> None:
    response = client.get("/api/v1/records/CVE-2022-21736")
    assert response.status_code == 200
    body = response.json()
    assert {r["osv"]["id"] for r in body["records"]} == {"BIT-tensorflow-2022-21736", "PYSEC-2022-115", "PYSEC-2022-60"}
    bitnami = next(r for r in body["records"] if r["osv"]["id"].startswith("BIT"))
    assert bitnami["clearinghouse"]["tlp"] == "CLEAR"
    assert bitnami["clearinghouse"]["scores"][0]["base_score"] > 0


def test_errors_are_problem_json_with_stable_codes(client: TestClient) -> None:
    missing = client.get("/api/v1/records/CVE-1999-0001")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "not-found"
    bad = client.get("/api/v1/affected", params={"ecosystem": "Nonsense", "package": "x", "version": "1"})
    assert bad.status_code == 422 and bad.json()["field"] == "ecosystem"
    incomplete = client.get("/api/v1/affected", params={"ecosystem": "PyPI"})
    assert incomplete.status_code == 422 and incomplete.json()["code"] == "invalid-request"
    forged = client.get("/api/v1/stats", headers={"Authorization": "Bearer chk_000000000000_nope"})
    assert forged.status_code == 401 and forged.headers["www-authenticate"] == "Bearer"


def test_tlp_hides_restricted_records_from_outsiders(client: TestClient, engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(records).where(records.c.id == "PYSEC-2022-60").values(tlp="AMBER"))
    anonymous = client.get("/api/v1/records/PYSEC-2022-60")
    assert anonymous.status_code == 404  # same answer as for a record that does not exist
    partner = token(engine, OrgKind.CRITICAL_INFRASTRUCTURE, Role.PARTNER, sector="energy")
    assert client.get("/api/v1/records/PYSEC-2022-60", headers=partner).status_code == 404
    by_alias = client.get("/api/v1/records/CVE-2022-21736", headers=partner).json()
    assert "PYSEC-2022-60" not in {r["osv"]["id"] for r in by_alias["records"]}
    assert "PYSEC-2022-60" not in by_alias["same_vulnerability"]
    analyst = token(engine, OrgKind.CLEARINGHOUSE, Role.ANALYST)
    assert client.get("/api/v1/records/PYSEC-2022-60", headers=analyst).status_code == 200


def test_docs_work_offline(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/docs-assets/swagger-ui-bundle.js" in page.text and "cdn" not in page.text.lower()
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            assert "**Access:**" in operation.get("description", ""), path
