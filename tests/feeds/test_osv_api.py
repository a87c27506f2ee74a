"""The OSV-compatible API answers as OSV.dev's does, with the `affected` evaluator's results, through the policy."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from clearinghouse.feeds import osv_api
from clearinghouse.identity.model import OrgKind, Role
from clearinghouse.records.model import canonical_ecosystem
from clearinghouse.store.records import RecordStore
from tests.conftest import sample_documents
from tests.feeds.conftest import bearer, label

KEYSTONE = {"package": {"name": "keystone", "ecosystem": "PyPI"}, "version": "9.0.0"}


def _ids(body: dict[str, object]) -> list[str]:
    vulns = body.get("vulns", [])
    assert isinstance(vulns, list)
    return [v["id"] for v in vulns]


def _sample_pins() -> list[tuple[str, str, str]]:
    """(ecosystem, name, version) for a listed version and every range bound of each affected package of the
    sample: versions inside, at and past the ranges' ends."""
    pins = set()
    for document in sample_documents():
        for entry in document.get("affected") or ():
            package = entry.get("package")
            if not package:
                continue
            bounds = [
                v for r in entry.get("ranges") or () if r["type"] != "GIT" for e in r["events"] for v in e.values()
            ]
            for version in [*(entry.get("versions") or ())[:1], *bounds]:
                if version != "0":
                    pins.add((package["ecosystem"], package["name"], version))
    return sorted(pins)


def test_answers_agree_with_the_affected_evaluator(client: TestClient, sample_store: RecordStore) -> None:
    pins = _sample_pins()
    assert len(pins) > 50
    affected = 0
    for ecosystem, name, version in pins:
        expected = sorted(
            r.id
            for r in sample_store.affected(canonical_ecosystem(ecosystem), name, version)
            if r.tlp == "CLEAR" and r.osv.withdrawn is None
        )
        query = {"package": {"name": name, "ecosystem": ecosystem}, "version": version}
        answer = client.post("/v1/query", json=query)
        assert answer.status_code == 200, answer.text
        assert _ids(answer.json()) == expected, (ecosystem, name, version)
        affected += bool(expected)
    assert 10 < affected < len(pins)  # both answers are exercised
    batch = client.post(
        "/v1/querybatch",
        json={"queries": [{"package": {"name": n, "ecosystem": e}, "version": v} for e, n, v in pins]},
    )
    assert batch.status_code == 200
    answered = [_ids(result) for result in batch.json()["results"]]
    singles = [
        _ids(client.post("/v1/query", json={"package": {"name": n, "ecosystem": e}, "version": v}).json())
        for e, n, v in pins
    ]
    assert answered == singles


def test_query_shapes_as_osv_dev(client: TestClient) -> None:
    full = client.post("/v1/query", json=KEYSTONE).json()
    assert _ids(full) == ["PYSEC-2016-38"]
    assert full["vulns"][0]["affected"][0]["package"]["name"] == "keystone"  # the whole record, as stored
    purl = client.post("/v1/query", json={"package": {"purl": "pkg:pypi/keystone@9.0.0"}})
    assert purl.json() == full
    # Without a Content-Type, as pip-audit posts.
    raw_body = b'{"package": {"name": "Keystone", "ecosystem": "PyPI"}, "version": "9.0.0"}'
    raw = client.post("/v1/query", content=raw_body)
    assert raw.status_code == 200 and _ids(raw.json()) == ["PYSEC-2016-38"]
    every_version = client.post("/v1/query", json={"package": {"name": "keystone", "ecosystem": "PyPI"}}).json()
    assert "PYSEC-2016-38" in _ids(every_version)
    assert client.post("/v1/query", json={**KEYSTONE, "version": "9.0.1"}).json() == {}  # fixed there: empty
    unparseable = client.post("/v1/query", json={**KEYSTONE, "version": "not a version"})
    assert unparseable.status_code == 200 and unparseable.json() == {}
    unknown_type = client.post("/v1/query", json={"package": {"purl": "pkg:unknowntype/x@1"}})
    assert unknown_type.status_code == 200 and unknown_type.json() == {}
    batch = client.post("/v1/querybatch", json={"queries": [KEYSTONE, {"package": {"purl": "pkg:pypi/nothing@1"}}]})
    assert batch.json()["results"][0]["vulns"][0].keys() == {"id", "modified"}
    assert batch.json()["results"][1] == {}
    vuln = client.get("/v1/vulns/PYSEC-2016-38")
    assert vuln.status_code == 200 and vuln.json() == full["vulns"][0]
    assert client.get("/v1/vulns/CVE-2016-4911").status_code == 404  # an alias is not an id, as on OSV.dev


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"package": {"purl": "pkg:pypi/keystone", "name": "keystone"}}, "name specified in a PURL query"),
        ({"package": {"purl": "pkg:pypi/keystone", "ecosystem": "PyPI"}}, "ecosystem specified in a PURL query"),
        ({"package": {"purl": "pkg:pypi/keystone@1"}, "version": "2"}, "version specified in params and PURL query"),
        ({"package": {"name": "keystone", "ecosystem": "pypi"}, "version": "1"}, "Invalid ecosystem."),
        ({"commit": "not-hex"}, "Invalid hash."),
        ({"version": "1.0"}, "Invalid query."),
        ({"package": {"name": "keystone", "ecosystem": "PyPI"}, "page_token": "garbage"}, "Invalid page token."),
        ({"package": {"name": 7}}, "Invalid request: package.name: Input should be a valid string"),
    ],
)
def test_bad_queries_are_refused_as_osv_dev_refuses_them(
    client: TestClient, body: dict[str, object], message: str
) -> None:
    answer = client.post("/v1/query", json=body)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"] == message


def test_hostile_bodies_are_refused_before_parsing(client: TestClient) -> None:
    deep = b'{"package": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert client.post("/v1/query", content=deep).status_code == 422  # nested too deep, with no Content-Type
    assert client.post("/v1/query", content=b"{not json").status_code == 400
    too_many = client.post("/v1/querybatch", json={"queries": [KEYSTONE] * 1001})
    assert too_many.status_code == 400 and too_many.json()["detail"] == "Too many queries."
    assert client.post("/v1/querybatch", json={"queries": [KEYSTONE] * 1000}).status_code == 200
    assert client.get("/v1/vulns/" + "A" * 150).status_code == 400  # "ID too long", as OSV.dev


def test_paging_with_osv_tokens(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    every = {"package": {"name": "tensorflow", "ecosystem": "PyPI"}}
    whole = _ids(client.post("/v1/query", json=every).json())
    assert len(whole) >= 3
    monkeypatch.setattr(osv_api, "PAGE_SIZE", 2)
    pages: list[str] = []
    body = client.post("/v1/query", json=every).json()
    while True:
        assert len(_ids(body)) <= 2
        pages += _ids(body)
        if "next_page_token" not in body:
            break
        body = client.post("/v1/query", json={**every, "page_token": body["next_page_token"]}).json()
    assert pages == whole
    first = client.post("/v1/query", json=every).json()
    other_query = client.post("/v1/query", json={**KEYSTONE, "page_token": first["next_page_token"]})
    assert other_query.status_code == 400  # a token belongs to the query it was made for
    batch = client.post("/v1/querybatch", json={"queries": [KEYSTONE, every]}).json()["results"]
    assert "next_page_token" not in batch[0] and "next_page_token" in batch[1]
    bad = client.post("/v1/querybatch", json={"queries": [KEYSTONE, {**every, "page_token": "x"}]})
    assert bad.status_code == 400 and bad.json()["detail"] == "Invalid page token at index: 1."


def test_commit_queries_match_affected_commits(client: TestClient, sample_store: RecordStore) -> None:
    with_git = [
        (d["id"], event)
        for d in sample_documents()
        for entry in d.get("affected") or ()
        for rng in entry.get("ranges") or ()
        if rng["type"] == "GIT"
        for event in rng["events"]
    ]
    record_id, event = next((i, e) for i, e in with_git if e.get("introduced", "0") != "0")
    answer = client.post("/v1/query", json={"commit": event["introduced"]})
    assert record_id in _ids(answer.json())
    assert client.post("/v1/query", json={"commit": "ab" * 20}).json() == {}


def test_only_what_the_caller_may_read(client: TestClient, engine: sa.Engine) -> None:
    label(engine, "PYSEC-2016-38", "AMBER")
    assert client.post("/v1/query", json=KEYSTONE).json() == {}
    assert client.get("/v1/vulns/PYSEC-2016-38").status_code == 404
    batch = client.post("/v1/querybatch", json={"queries": [KEYSTONE]}).json()
    assert batch == {"results": [{}]}
    staff = {"Authorization": f"Bearer {bearer(engine, 'Clearinghouse', OrgKind.CLEARINGHOUSE, Role.ANALYST)}"}
    hospital = bearer(engine, "Mercy Hospital", OrgKind.CRITICAL_INFRASTRUCTURE, Role.PARTNER, "energy")
    partner = {"Authorization": f"Bearer {hospital}"}
    assert _ids(client.post("/v1/query", json=KEYSTONE, headers=staff).json()) == ["PYSEC-2016-38"]
    assert client.post("/v1/query", json=KEYSTONE, headers=partner).json() == {}
    label(engine, "PYSEC-2016-38", "GREEN", "embargoed")
    assert client.post("/v1/query", json=KEYSTONE, headers=partner).json() == {}
    assert client.get("/v1/vulns/PYSEC-2016-38", headers=partner).status_code == 404
    assert client.get("/v1/vulns/PYSEC-2016-38", headers=staff).status_code == 200
