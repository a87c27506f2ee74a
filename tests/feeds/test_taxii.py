"""The TAXII 2.1 server: the real taxii2-client reads what the policy lets it and is refused the rest; every object
passes the STIX 2.1 validator; paging as TAXII says; response shapes as medallion (the reference server) gives."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests
import sqlalchemy as sa
import stix2validator
from fastapi.testclient import TestClient
from taxii2client.v21 import Server, as_pages

from clearinghouse.cases.rules import VendorStatement, VendorStatus, VexJustification
from clearinghouse.cases.service import CaseService
from clearinghouse.feeds import taxii
from clearinghouse.feeds.taxii import COLLECTIONS, partner_collection
from clearinghouse.identity.model import OrgKind, Role
from clearinghouse.intake.lifecycle import ReportState
from clearinghouse.intake.service import ReportService
from clearinghouse.policy import Operator
from clearinghouse.policy.cases import CaseRole
from clearinghouse.records.model import Tlp
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.records import RecordStore
from tests.feeds.conftest import LiveServer, bearer, label

TAXII = "application/taxii+json;version=2.1"
ROOT = "/taxii2/api"
CLEAR, GREEN, AMBER = (
    next(c.id for c in COLLECTIONS.values() if c.labels == {t}) for t in (Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER)
)


class BearerAuth(requests.auth.AuthBase):
    """The clearinghouse's API tokens, as any requests-based client sends them."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


def _all_objects(client: TestClient, collection: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 50}
    while True:
        page = client.get(f"{ROOT}/collections/{collection}/objects/", params=params, headers=headers or {})
        assert page.status_code == 200, page.text
        found += page.json().get("objects", [])
        if not page.json()["more"]:
            return found
        params["next"] = page.json()["next"]


def test_taxii2_client_reads_what_it_may_and_is_refused_the_rest(
    live: LiveServer, engine: sa.Engine, sample_store: RecordStore
) -> None:
    label(engine, "PYSEC-2016-38", "AMBER")
    label(engine, "PYSEC-2016-39", "GREEN")
    label(engine, "PYSEC-2016-40", "GREEN", "embargoed")
    partner = bearer(engine, "Mercy Hospital", OrgKind.CRITICAL_INFRASTRUCTURE, Role.PARTNER, "energy")
    staff = bearer(engine, "Clearinghouse", OrgKind.CLEARINGHOUSE, Role.ANALYST)
    hospital = IdentityStore(engine).authenticate(partner).organisation
    early_warning = partner_collection(hospital.id, hospital.name).id
    readable = {None: {CLEAR}, partner: {CLEAR, GREEN, early_warning}, staff: {*COLLECTIONS, early_warning}}
    for token, may_read in readable.items():
        server = Server(f"{live.url}/taxii2/", auth=BearerAuth(token) if token else None)
        (api_root,) = server.api_roots
        assert {c.id for c in api_root.collections} == may_read
        names: set[str] = set()
        for collection in api_root.collections:
            for envelope in as_pages(collection.get_objects, per_request=40):
                names |= {o["name"] for o in envelope.get("objects", []) if o["type"] == "vulnerability"}
        assert ("PYSEC-2016-38" in names) == (token == staff)
        assert ("PYSEC-2016-39" in names) == (token in (partner, staff))
        assert ("PYSEC-2016-40" in names) == (token == staff)  # embargoed: staff only, whatever its label
        for refused in {*COLLECTIONS, early_warning} - may_read:
            collection_url = f"{live.url}{ROOT}/collections/{refused}/"
            direct = requests.get(
                collection_url + "objects/",
                headers={"Accept": TAXII, **({"Authorization": f"Bearer {token}"} if token else {})},
                timeout=30,
            )
            assert direct.status_code == 404  # the collection does not exist for this caller
    bad = Server(f"{live.url}/taxii2/", auth=BearerAuth("chk_000000000000_" + "x" * 43))
    with pytest.raises(requests.HTTPError):
        bad.api_roots[0].collections  # noqa: B018 - the call is the test


def test_every_object_is_valid_stix(client: TestClient, sample_store: RecordStore) -> None:
    objects = _all_objects(client, CLEAR)
    public = [r for r in sample_store.iter_records() if r.tlp == "CLEAR"]
    assert len([o for o in objects if o["type"] == "vulnerability"]) == len(public)
    assert objects[0]["id"] == "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
    bundle = {"type": "bundle", "id": "bundle--6b8f4f1a-4d4e-4a43-a0c0-7d1b0f8d6b11", "objects": objects}
    results = stix2validator.validate_parsed_json(bundle, stix2validator.ValidationOptions(version="2.1"))
    errors = (
        [str(e) for result in results for e in result.errors]
        if isinstance(results, list)
        else [str(e) for e in results.errors]
    )
    assert errors == []
    vulnerability = next(o for o in objects if o.get("name") == "PYSEC-2016-38")
    assert vulnerability["object_marking_refs"] == ["marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"]
    assert {"source_name": "cve", "external_id": "CVE-2016-4911"} in vulnerability["external_references"]
    has = [o for o in objects if o["type"] == "relationship" and o["target_ref"] == vulnerability["id"]]
    software = {o["id"]: o for o in objects if o["type"] == "software"}
    assert [software[r["source_ref"]]["name"] for r in has] == ["keystone"]


def test_paging_added_after_and_bad_parameters(
    client: TestClient, sample_store: RecordStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = _all_objects(client, CLEAR)
    page = client.get(f"{ROOT}/collections/{CLEAR}/objects/", params={"limit": 10})
    assert page.headers["content-type"] == TAXII
    assert len(page.json()["objects"]) == 10 and page.json()["more"] is True
    assert page.headers["X-TAXII-Date-Added-First"] == "2022-10-01T00:00:00.000000Z"  # the TLP marking
    monkeypatch.setattr(taxii, "MAX_LIMIT", 7)
    capped = client.get(f"{ROOT}/collections/{CLEAR}/objects/", params={"limit": 10**9})
    assert capped.status_code == 200 and len(capped.json()["objects"]) == 7  # capped, as TAXII 3.4 allows
    monkeypatch.undo()
    manifest = client.get(f"{ROOT}/collections/{CLEAR}/manifest/", params={"limit": 1000}).json()["objects"]
    assert [m["id"] for m in manifest] == [o["id"] for o in whole]
    assert manifest[1].keys() == {"id", "date_added", "version", "media_type"}
    last_added = page.headers["X-TAXII-Date-Added-Last"]
    later = client.get(f"{ROOT}/collections/{CLEAR}/objects/", params={"added_after": last_added, "limit": 1000})
    assert later.status_code == 200
    assert all(m["date_added"] > last_added for m in manifest[len(manifest) - len(later.json().get("objects", [])) :])
    one = whole[1]
    single = client.get(f"{ROOT}/collections/{CLEAR}/objects/{one['id']}/").json()
    assert single["objects"] == [one]
    versions = client.get(f"{ROOT}/collections/{CLEAR}/objects/{one['id']}/versions/").json()
    assert versions == {"more": False, "versions": [one["modified"]]}
    for params, status in [
        ({"added_after": "notatime"}, 400),
        ({"added_after": "2024-01-01T00:00:00"}, 400),  # no time zone
        ({"limit": 0}, 400),
        ({"limit": "many"}, 422),
        ({"next": "garbage"}, 400),
        ({"next": base64.urlsafe_b64encode(b'["2024-01-01T00:00:00Z", 5, -1]').decode()}, 400),
    ]:
        refused = client.get(f"{ROOT}/collections/{CLEAR}/objects/", params=params)
        assert refused.status_code == status, (params, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
    assert client.get(f"{ROOT}/collections/{GREEN}/objects/").status_code == 404
    assert client.get(f"{ROOT}/collections/not-a-collection/").status_code == 404


def test_response_shapes_match_medallion(client: TestClient, sample_store: RecordStore) -> None:
    medallion = pytest.importorskip("medallion")
    from medallion.backends.memory_backend import MemoryBackend

    # The first objects we serve, each once (a software object recurs under every record naming its package), in
    # medallion's memory layout: the object with its hidden date added, and the manifest.
    manifest = client.get(f"{ROOT}/collections/{CLEAR}/manifest/", params={"limit": 60}).json()["objects"]
    served = {
        o["id"]: o for o in client.get(f"{ROOT}/collections/{CLEAR}/objects/", params={"limit": 60}).json()["objects"]
    }
    manifest = list({m["id"]: m for m in manifest}.values())
    objects = [{**served[m["id"]], "_date_added": m["date_added"]} for m in manifest]
    ours = {
        "discovery": client.get("/taxii2/").json(),
        "root": client.get(f"{ROOT}/").json(),
        "collections": client.get(f"{ROOT}/collections/").json(),
        "collection": client.get(f"{ROOT}/collections/{CLEAR}/").json(),
    }
    app = medallion.application_instance
    app.taxii_config = {"max_page_size": 1000}
    app.users_backend = {"reader": "secret"}
    backend = MemoryBackend()
    backend.data = {
        "/discovery": {**ours["discovery"], "api_roots": ["http://localhost/api/"], "default": "http://localhost/api/"},
        "api": {
            "information": ours["root"],
            "status": [],
            "collections": [{**ours["collection"], "objects": objects, "manifest": manifest}],
        },
    }
    app.medallion_backend = backend
    if not app.blueprints:
        medallion.register_blueprints(app)
    reference = app.test_client()
    auth = {"Authorization": "Basic " + base64.b64encode(b"reader:secret").decode(), "Accept": TAXII}
    theirs = {
        "discovery": reference.get("/taxii2/", headers=auth),
        "root": reference.get("/api/", headers=auth),
        "collections": reference.get("/api/collections/", headers=auth),
        "collection": reference.get(f"/api/collections/{CLEAR}/", headers=auth),
    }
    for name, response in theirs.items():
        assert response.status_code == 200 and response.mimetype == TAXII.split(";")[0], name
        assert response.get_json().keys() == ours[name].keys(), name
    assert theirs["collections"].get_json()["collections"][0].keys() == ours["collections"]["collections"][0].keys()
    for path in ("objects", "manifest"):
        ref = reference.get(f"/api/collections/{CLEAR}/{path}/?limit=10", headers=auth)
        mine = client.get(f"{ROOT}/collections/{CLEAR}/{path}/", params={"limit": 10})
        assert ref.status_code == mine.status_code == 200
        assert ref.mimetype == mine.headers["content-type"].split(";")[0]
        assert ref.get_json().keys() == mine.json().keys() == {"more", "next", "objects"}, path
        assert [o.keys() for o in ref.get_json()["objects"][:3]] == [o.keys() for o in mine.json()["objects"][:3]]
        for header in ("X-TAXII-Date-Added-First", "X-TAXII-Date-Added-Last"):
            assert header in ref.headers and header in mine.headers, (path, header)
    # Both cap a huge limit rather than refuse it, and both refuse a limit of 0 as a bad request.
    huge = reference.get(f"/api/collections/{CLEAR}/objects/?limit={10**9}", headers=auth)
    assert huge.status_code == 200 == client.get(f"{ROOT}/collections/{CLEAR}/objects/?limit={10**9}").status_code
    zero = reference.get(f"/api/collections/{CLEAR}/objects/?limit=0", headers=auth)
    assert zero.status_code == 400 == client.get(f"{ROOT}/collections/{CLEAR}/objects/?limit=0").status_code


def _case_with_a_statement(client: TestClient, engine: sa.Engine) -> tuple[Any, Any]:
    """An open case on a reported package, its vendor saying it is not affected."""
    reporter = bearer(engine, "Reporter Org", OrgKind.REPORTER, Role.REPORTER)
    bearer(engine, "Acme Software", OrgKind.VENDOR, Role.VENDOR)
    report = {
        "kind": "structured",
        "provenance": {"origin": "human"},
        "report": {
            "title": "Path traversal in stated-pkg's archive extractor",
            "description": "Archive members named with ../ are written outside the target directory when extracted.",
            "affected": [{"purl": "pkg:pypi/stated-pkg", "versions": ["1.0"]}],
        },
    }
    posted = client.post("/api/v1/reports", json=report, headers={"Authorization": f"Bearer {reporter}"})
    report_id = posted.json()["report_ids"][0]
    operator = Operator("test")
    for target in (ReportState.TRIAGED, ReportState.VALIDATED):
        ReportService(engine).change_state(operator, report_id, target, "reproduced")
    cases = CaseService(engine)
    case = cases.open_case(operator, [report_id])
    cases.add_participant(operator, case.id, "Acme Software", CaseRole.VENDOR, "maintains it")
    justification = next(iter(VexJustification))
    statement = VendorStatement(VendorStatus.NOT_AFFECTED, justification, note="Our build never ships the extractor.")
    cases.state_status(operator, case.id, statement, vendor="Acme Software")
    return case, justification


def test_vendor_statements_are_notes_about_the_advisory(client: TestClient, engine: sa.Engine) -> None:
    case, justification = _case_with_a_statement(client, engine)
    staff = {"Authorization": f"Bearer {bearer(engine, 'Clearinghouse', OrgKind.CLEARINGHOUSE, Role.ANALYST)}"}
    found: list[dict[str, Any]] = []
    for collection in client.get(f"{ROOT}/collections/", headers=staff).json()["collections"]:
        found += _all_objects(client, collection["id"], staff)
    (advisory,) = [o for o in found if o["type"] == "vulnerability" and o["name"] == case.advisory_id]
    (note,) = [o for o in found if o["type"] == "note" and advisory["id"] in o["object_refs"]]
    assert note["abstract"] == "Acme Software: not_affected" and note["authors"] == ["Acme Software"]
    assert justification.value in note["content"] and "never ships the extractor" in note["content"]
    # Embargoed: nobody but staff reads the advisory, or the statement about it, through TAXII.
    assert case.advisory_id not in str(_all_objects(client, CLEAR))


def test_a_partner_named_for_early_warning_reads_the_embargoed_advisory_in_its_own_collection(
    client: TestClient, engine: sa.Engine
) -> None:
    case, _justification = _case_with_a_statement(client, engine)
    hospital_token = bearer(engine, "Mercy Hospital", OrgKind.CRITICAL_INFRASTRUCTURE, Role.PARTNER, "energy")
    bank_token = bearer(engine, "First Bank", OrgKind.CRITICAL_INFRASTRUCTURE, Role.PARTNER, "financial-services")
    hospital = IdentityStore(engine).authenticate(hospital_token).organisation
    bank = IdentityStore(engine).authenticate(bank_token).organisation
    CaseService(engine).add_participant(
        Operator("test"), case.id, "Mercy Hospital", CaseRole.EARLY_WARNING, "runs the product"
    )
    as_hospital = {"Authorization": f"Bearer {hospital_token}"}
    as_bank = {"Authorization": f"Bearer {bank_token}"}
    own = partner_collection(hospital.id, hospital.name).id
    objects = _all_objects(client, own, as_hospital)
    names = [o["name"] for o in objects if o["type"] == "vulnerability"]
    assert names == [case.advisory_id]  # embargoed, and only its own cases' advisories
    assert not [o for o in objects if o["type"] == "note"]  # early warning: not the vendors' statements
    assert client.get(f"{ROOT}/collections/{own}/objects/", headers=as_bank).status_code == 404
    assert client.get(f"{ROOT}/collections/{own}/", headers=as_bank).status_code == 404
    assert client.get(f"{ROOT}/collections/{own}/").status_code == 404
    bank_own = partner_collection(bank.id, bank.name).id
    assert [o for o in _all_objects(client, bank_own, as_bank) if o["type"] == "vulnerability"] == []
    listed = {c["id"] for c in client.get(f"{ROOT}/collections/", headers=as_bank).json()["collections"]}
    assert own not in listed and bank_own in listed
