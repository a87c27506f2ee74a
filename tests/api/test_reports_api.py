"""Report intake over HTTP: submission formats, access, idempotency, limits, pipeline and lifecycle."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from clearinghouse.api.app import create_app
from clearinghouse.config import Settings
from clearinghouse.identity.model import OrgKind, Role
from clearinghouse.ingest.pipeline import ImportPipeline
from clearinghouse.store.audit import AuditLog
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.records import RecordStore
from clearinghouse.store.tables import audit_log
from tests.conftest import KEV_SAMPLE, SAMPLE, tamper_with_audit_log

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
AI = {"origin": "ai", "model": "example-model-1", "tool": "bughunter", "run_id": "run-42", "human_verified": False}


def structured(title: str = "SQL injection in tensorflow saved model loader", **changes: Any) -> dict[str, Any]:
    report = {
        "title": title,
        "description": "Crafted saved model files make the loader build an SQL query from attacker-controlled "
        "names without escaping, letting an attacker read arbitrary rows.",
        "affected": [{"purl": "pkg:pypi/tensorflow", "versions": ["2.7.0"]}],
        "cwe": "CWE-89",
        "cvss_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N",
        "proof_of_concept": "python -c 'import tensorflow as tf; tf.saved_model.load(\"evil\")'",
        "locations": ["tensorflow/python/saved_model/load.py:120"],
        **changes,
    }
    return {"kind": "structured", "provenance": AI, "report": report}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # The worker runs on demand in tests (`drain`), so assertions see a settled state.
    return Settings(home=tmp_path, database_url=database_url, embedded_worker=False, max_body_bytes=200_000)


@pytest.fixture
def client(settings: Settings, engine: sa.Engine) -> Iterator[TestClient]:
    records = RecordStore(engine)
    ImportPipeline(records).run([SAMPLE])
    from clearinghouse.formats import kev

    records.replace_kev(kev.parse(KEV_SAMPLE.read_bytes()))
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def drain(client: TestClient) -> None:
    client.app.state.worker.run_until_idle()  # type: ignore[attr-defined]


class Orgs:
    def __init__(self, engine: sa.Engine) -> None:
        self.identity = IdentityStore(engine)

    def token(self, org: str, kind: OrgKind, role: Role, sector: str | None = None) -> dict[str, str]:
        try:
            self.identity.organisation(org)
        except Exception:
            self.identity.create_organisation(org, kind, sector)
        return {"Authorization": f"Bearer {self.identity.create_token(org, f'user-{role.value}', role).plaintext}"}


@pytest.fixture
def orgs(engine: sa.Engine) -> Orgs:
    return Orgs(engine)


def test_a_structured_ai_report_is_accepted_checked_and_triaged(client: TestClient, orgs: Orgs) -> None:
    reporter = orgs.token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    response = client.post("/api/v1/reports", json=structured(), headers=reporter)
    assert response.status_code == 202
    body = response.json()
    (report_id,) = body["report_ids"]
    assert response.headers["location"] == body["status_urls"][0] == f"/api/v1/reports/{report_id}"
    assert client.get(body["status_urls"][0], headers=reporter).json()["state"] == "received"

    drain(client)
    report = client.get(f"/api/v1/reports/{report_id}", headers=reporter).json()
    assert report["state"] == "triaged"
    assert datetime.fromisoformat(report["received_at"]).utcoffset() == timedelta(0)  # UTC, and says so
    assert report["provenance"]["origin"] == "ai" and report["provenance"]["model"] == "example-model-1"
    assert all(report["pipeline"][step]["ok"] for step in ("normalise", "check", "deduplicate", "triage"))
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["package-known"]["passed"] is True  # tensorflow is in the sample data
    assert checks["human-verified"]["passed"] is False
    assert 0 < report["credibility"] < 1
    ssvc = report["triage"]["ssvc"]
    assert ssvc["outcome"] == report["ssvc"]
    assert {p["name"] for p in ssvc["points"]} >= {"Exploitation", "Automatable", "Technical Impact"}
    assert all(p["source"] for p in ssvc["points"])
    assert report["triage"]["cvss"][0]["base_score"] == 9.1


def test_wrong_role_gets_403_and_no_data(client: TestClient, orgs: Orgs) -> None:
    partner = orgs.token("Water Co", OrgKind.CRITICAL_INFRASTRUCTURE, Role.PARTNER, "water-and-wastewater")
    response = client.post("/api/v1/reports", json=structured(), headers=partner)
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert "report_ids" not in response.json()
    listing = client.get("/api/v1/reports", headers=partner)
    assert listing.status_code == 403 and "reports" not in listing.json()
    reporter = orgs.token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    report_id = client.post("/api/v1/reports", json=structured(), headers=reporter).json()["report_ids"][0]
    change = client.post(
        f"/api/v1/reports/{report_id}/state", json={"target": "invalid", "reason": "spam"}, headers=reporter
    )
    assert change.status_code == 403
    assert client.post("/api/v1/reports", json=structured()).status_code == 401


def test_reporters_see_only_their_own_organisations_reports(client: TestClient, orgs: Orgs) -> None:
    mine = orgs.token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    theirs = orgs.token("Other Lab", OrgKind.REPORTER, Role.REPORTER)
    report_id = client.post("/api/v1/reports", json=structured(), headers=mine).json()["report_ids"][0]
    assert client.get(f"/api/v1/reports/{report_id}", headers=theirs).status_code == 404
    assert client.get("/api/v1/reports", headers=theirs).json()["reports"] == []
    analyst = orgs.token("Clearinghouse", OrgKind.CLEARINGHOUSE, Role.ANALYST)
    assert client.get(f"/api/v1/reports/{report_id}", headers=analyst).status_code == 200


def test_idempotency_key_replays_and_refuses_a_different_body(client: TestClient, orgs: Orgs) -> None:
    reporter = orgs.token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    headers = {**reporter, "Idempotency-Key": "abc-123"}
    first = client.post("/api/v1/reports", json=structured(), headers=headers)
    again = client.post("/api/v1/reports", json=structured(), headers=headers)
    assert again.status_code == 202 and again.json()["report_ids"] == first.json()["report_ids"]
    assert again.headers["idempotent-replayed"] == "true"
    other = client.post("/api/v1/reports", json=structured(title="A different report title"), headers=headers)
    assert other.status_code == 409 and other.json()["code"] == "idempotency-key-reused"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code", "field"),
    [
        (b'{"kind": "structured",', "application/json", 400, "malformed-json", None),
        (json.dumps(structured()).encode(), "text/plain", 415, "unsupported-media-type", None),
        (
            json.dumps(structured(affected=[{"purl": "pkg:"}])).encode(),
            "application/json",
            422,
            "invalid-record",
            "$.report.affected[0].purl",
        ),
        (
            json.dumps(structured(cvss_vector="CVSS:3.1/AV:Q")).encode(),
            "application/json",
            422,
            "invalid-record",
            "$.report.cvss_vector",
        ),
        (
            json.dumps({"kind": "sarif", "provenance": AI, "sarif": {"version": "2.0.0", "runs": []}}).encode(),
            "application/json",
            422,
            "invalid-record",
            "$.sarif.version",
        ),
        (
            json.dumps({**structured(), "severity": "high"}).encode(),
            "application/json",
            422,
            "invalid-record",
            "$.severity",
        ),
        (
            json.dumps(
                {"kind": "structured", "provenance": {"origin": "ai"}, "report": structured()["report"]}
            ).encode(),
            "application/json",
            422,
            "invalid-record",
            "$.provenance",
        ),
    ],
)
def test_bad_input_gets_a_problem_naming_the_field(
    client: TestClient, orgs: Orgs, body: bytes, content_type: str, status: int, code: str, field: str | None
) -> None:
    reporter = orgs.token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    response = client.post("/api/v1/reports", content=body, headers={**reporter, "Content-Type": content_type})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    if field:
        assert response.json()["field"] == field


def test_oversized_bodies_and_attachments_are_refused(client: TestClient, orgs: Orgs) -> None:
    reporter = orgs.token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    huge = client.post(
        "/api/v1/reports", content=b"x" * 300_000, headers={**reporter, "Content-Type": "application/json"}
    )
    assert huge.status_code == 413 and huge.json()["code"] == "body-too-large"
    attachment = {"name": "poc.bin", "content_base64": base64.b64encode(b"\0" * 300_000).decode()}
    big = client.post("/api/v1/reports", json=structured(attachments=[attachment]), headers=reporter)
    assert big.status_code in (413, 422)


def test_a_sarif_log_becomes_one_report_per_result(client: TestClient, orgs: Orgs) -> None:
    reporter = orgs.token("Scanner Co", OrgKind.REPORTER, Role.REPORTER)
    log = json.loads((FIXTURES / "bandit-1.9.4.sarif").read_text())
    submission = {
        "kind": "sarif",
        "provenance": {"origin": "ai", "tool": "bandit 1.9.4"},
        "sarif": log,
        "product": {"purl": "pkg:pypi/vulnapp", "versions": ["1.0"]},
    }
    response = client.post("/api/v1/reports", json=submission, headers=reporter)
    assert response.status_code == 202
    assert len(response.json()["report_ids"]) == len(log["runs"][0]["results"]) == 5
    drain(client)
    report = client.get(response.json()["status_urls"][3], headers=reporter).json()
    assert report["finding"]["cwes"] == ["CWE-78"] and report["finding"]["locations"] == ["app.py:11"]


def test_the_same_finding_twice_is_an_exact_duplicate_in_one_cluster(client: TestClient, orgs: Orgs) -> None:
    first = orgs.token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    second = orgs.token("Other Lab", OrgKind.REPORTER, Role.REPORTER)
    a = client.post("/api/v1/reports", json=structured(), headers=first).json()["report_ids"][0]
    drain(client)
    reworded = structured()
    reworded["report"]["title"] = reworded["report"]["title"].upper()  # same content, other case
    b = client.post("/api/v1/reports", json=reworded, headers=second).json()["report_ids"][0]
    drain(client)
    analyst = orgs.token("Clearinghouse", OrgKind.CLEARINGHOUSE, Role.ANALYST)
    report = client.get(f"/api/v1/reports/{b}", headers=analyst).json()
    assert report["duplicates"]["exact_duplicate_of"] == a
    assert report["cluster_id"] == a


def test_a_reporter_learns_only_that_an_earlier_report_may_describe_the_same_issue(
    client: TestClient, orgs: Orgs
) -> None:
    first = orgs.token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    second = orgs.token("Other Lab", OrgKind.REPORTER, Role.REPORTER)
    analyst = orgs.token("Clearinghouse", OrgKind.CLEARINGHOUSE, Role.ANALYST)
    a = client.post("/api/v1/reports", json=structured(), headers=first).json()["report_ids"][0]
    drain(client)
    guess = structured(title="SQL injection in the tensorflow saved model loader (names not escaped)")
    b = client.post("/api/v1/reports", json=guess, headers=second).json()["report_ids"][0]
    own = client.post("/api/v1/reports", json=guess, headers=second).json()["report_ids"][0]
    drain(client)

    staff_view = client.get(f"/api/v1/reports/{b}", headers=analyst).json()
    assert a in {c["id"].removeprefix("report:") for c in staff_view["duplicates"]["candidates"]}
    assert staff_view["cluster_id"] == a

    for view in (
        client.get(f"/api/v1/reports/{b}", headers=second).json(),
        next(r for r in client.get("/api/v1/reports", headers=second).json()["reports"] if r["id"] == b),
    ):
        assert a not in orjson.dumps(view).decode()  # no id of the other organisation's report anywhere
        assert view["duplicates"]["earlier_report_may_describe_same_issue"] is True
        assert all(c["id"].removeprefix("report:") != a for c in view["duplicates"]["candidates"])
        assert view["duplicates"]["exact_duplicate_of"] is None and view["cluster_id"] is None
        assert "tensorflow/python/saved_model/load.py:120" not in orjson.dumps(view["duplicates"]).decode()
    # Its own organisation's earlier copy is not hidden from it.
    own_view = client.get(f"/api/v1/reports/{own}", headers=second).json()
    assert b in {c["id"].removeprefix("report:") for c in own_view["duplicates"]["candidates"]}
    # And the first reporter learns nothing of the later one.
    assert b not in orjson.dumps(client.get(f"/api/v1/reports/{a}", headers=first).json()).decode()


def test_lifecycle_changes_are_audited_and_illegal_ones_refused(
    client: TestClient, orgs: Orgs, engine: sa.Engine
) -> None:
    reporter = orgs.token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    analyst = orgs.token("Clearinghouse", OrgKind.CLEARINGHOUSE, Role.ANALYST)
    report_id = client.post("/api/v1/reports", json=structured(), headers=reporter).json()["report_ids"][0]
    drain(client)
    illegal = client.post(
        f"/api/v1/reports/{report_id}/state", json={"target": "published", "reason": "ship it"}, headers=analyst
    )
    assert illegal.status_code == 409 and "validated" in illegal.json()["detail"]
    ok = client.post(
        f"/api/v1/reports/{report_id}/state", json={"target": "validated", "reason": "reproduced"}, headers=analyst
    )
    assert ok.status_code == 200 and ok.json()["state"] == "validated"
    audit = AuditLog(engine)
    actions = [(e.action, e.details.get("to")) for e in audit.entries("report", report_id)]
    assert actions == [("report.received", None), ("report.state", "triaged"), ("report.state", "validated")]
    assert audit.verify().ok
    # someone with database-owner rights edits history past the append-only triggers
    tamper_with_audit_log(engine, sa.update(audit_log).where(audit_log.c.seq == 2).values(actor="nobody"))
    broken = audit.verify()
    assert not broken.ok and broken.first_bad_seq == 2


def test_rate_limit_answers_429_with_retry_after(settings: Settings, engine: sa.Engine, orgs: Orgs) -> None:
    reporter = orgs.token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    with TestClient(create_app(replace(settings, rate_per_second=0.5, rate_burst=2))) as limited:
        codes = [limited.post("/api/v1/reports", json=structured(), headers=reporter).status_code for _ in range(3)]
        assert codes == [202, 202, 429]
        refused = limited.post("/api/v1/reports", json=structured(), headers=reporter)
        assert int(refused.headers["retry-after"]) >= 1


def test_reprocessing_runs_every_step_again(client: TestClient, orgs: Orgs, engine: sa.Engine) -> None:
    reporter = orgs.token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    analyst = orgs.token("Clearinghouse", OrgKind.CLEARINGHOUSE, Role.ANALYST)
    report_id = client.post("/api/v1/reports", json=structured(), headers=reporter).json()["report_ids"][0]
    drain(client)
    assert client.post(f"/api/v1/reports/{report_id}/reprocess", headers=reporter).status_code == 403
    assert client.post(f"/api/v1/reports/{report_id}/reprocess", headers=analyst).status_code == 202
    drain(client)
    report = client.get(f"/api/v1/reports/{report_id}", headers=analyst).json()
    assert all(report["pipeline"][step]["ok"] for step in ("normalise", "check", "deduplicate", "triage"))
    assert report["state"] == "triaged"
    actions = [e.action for e in AuditLog(engine).entries("report", report_id)]
    assert actions.count("report.reprocess") == 1


def test_a_failing_step_marks_the_report_and_reprocessing_recovers_it(
    client: TestClient, orgs: Orgs, monkeypatch: pytest.MonkeyPatch
) -> None:
    reporter = orgs.token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    analyst = orgs.token("Clearinghouse", OrgKind.CLEARINGHOUSE, Role.ANALYST)
    report_id = client.post("/api/v1/reports", json=structured(), headers=reporter).json()["report_ids"][0]
    finder = client.app.state.pipeline.duplicates  # type: ignore[attr-defined]

    def broken(*_: object) -> None:
        raise OSError("index volume unavailable")

    monkeypatch.setattr(finder, "find", broken)
    drain(client)
    report = client.get(f"/api/v1/reports/{report_id}", headers=analyst).json()
    assert report["state"] == "received" and report["triage"] is None
    assert report["pipeline"]["normalise"]["ok"] and report["pipeline"]["check"]["ok"]
    failed = report["pipeline"]["deduplicate"]
    assert failed["ok"] is False and failed["error"] == "OSError: index volume unavailable"
    assert "triage" not in report["pipeline"]

    monkeypatch.undo()
    assert client.post(f"/api/v1/reports/{report_id}/reprocess", headers=analyst).status_code == 202
    drain(client)
    report = client.get(f"/api/v1/reports/{report_id}", headers=analyst).json()
    assert report["state"] == "triaged" and report["ssvc"]
    assert all(report["pipeline"][step]["ok"] for step in ("normalise", "check", "deduplicate", "triage"))


def test_analysts_confirm_split_and_merge_duplicate_clusters(client: TestClient, orgs: Orgs, engine: sa.Engine) -> None:
    first = orgs.token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    second = orgs.token("Other Lab", OrgKind.REPORTER, Role.REPORTER)
    analyst = orgs.token("Clearinghouse", OrgKind.CLEARINGHOUSE, Role.ANALYST)
    a = client.post("/api/v1/reports", json=structured(), headers=first).json()["report_ids"][0]
    drain(client)
    b = client.post("/api/v1/reports", json=structured(), headers=second).json()["report_ids"][0]
    drain(client)
    other = structured()
    other["report"]["title"] = "Completely different: template injection in the admin panel"
    other["report"]["description"] = "Server-side template injection through the theme preview renders user input."
    c = client.post("/api/v1/reports", json=other, headers=second).json()["report_ids"][0]
    drain(client)

    def members(cluster: str) -> set[str]:
        return {r["id"] for r in client.get(f"/api/v1/clusters/{cluster}", headers=analyst).json()["reports"]}

    assert members(a) == {a, b}
    assert client.get(f"/api/v1/clusters/{a}", headers=first).status_code == 403
    change = f"/api/v1/reports/{b}/cluster"
    assert client.post(change, json={"action": "confirm", "reason": "same bug"}, headers=second).status_code == 403
    assert (
        client.post(change, json={"action": "confirm", "reason": "same bug"}, headers=analyst).json()["cluster_id"] == a
    )
    split = client.post(change, json={"action": "split", "reason": "different root cause"}, headers=analyst).json()
    assert split["cluster_id"] == b and members(a) == {a} and members(b) == {b}
    missing = client.post(f"/api/v1/reports/{c}/cluster", json={"action": "merge", "reason": "same"}, headers=analyst)
    assert missing.status_code == 422 and missing.json()["code"] == "missing-merge-target"
    merged = client.post(
        f"/api/v1/reports/{c}/cluster",
        json={"action": "merge", "into": a, "reason": "same root cause"},
        headers=analyst,
    ).json()
    assert merged["cluster_id"] == a and members(a) == {a, c}
    actions = [e.action for e in AuditLog(engine).entries() if e.action.startswith("cluster.")]
    assert actions == ["cluster.confirm", "cluster.split", "cluster.merge"]
    # A later copy of c joins the cluster c is in now (a's, after the merge), not the one c started in.
    d = client.post("/api/v1/reports", json=other, headers=first).json()["report_ids"][0]
    drain(client)
    assert client.get(f"/api/v1/reports/{d}", headers=analyst).json()["cluster_id"] == a


def test_the_queue_pages_with_a_cursor_and_a_total(client: TestClient, orgs: Orgs) -> None:
    reporter = orgs.token("Finder Labs", OrgKind.REPORTER, Role.REPORTER)
    analyst = orgs.token("Clearinghouse", OrgKind.CLEARINGHOUSE, Role.ANALYST)
    for n in range(7):
        assert client.post("/api/v1/reports", json=structured(title=f"Report number {n}"), headers=reporter).is_success
    drain(client)
    whole = client.get("/api/v1/reports", params={"limit": 500}, headers=analyst).json()
    assert whole["total"] == 7 and len(whole["reports"]) == 7 and whole["next_cursor"] is None

    seen: list[str] = []
    cursor = None
    for _ in range(3):  # 3 + 3 + 1
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/reports", params=params, headers=analyst).json()
        assert page["total"] == 7
        seen += [report["id"] for report in page["reports"]]
        cursor = page["next_cursor"]
    assert cursor is None
    assert seen == [report["id"] for report in whole["reports"]]  # the same order, nothing repeated or skipped
    assert whole["reports"][0]["received_at"].endswith("Z")  # UTC, as every frontier timestamp


@pytest.mark.parametrize("limit", ["0", "-1", "501", "100000", "ten"])
def test_a_limit_outside_1_to_500_is_422(client: TestClient, orgs: Orgs, limit: str) -> None:
    analyst = orgs.token("Clearinghouse", OrgKind.CLEARINGHOUSE, Role.ANALYST)
    answer = client.get("/api/v1/reports", params={"limit": limit}, headers=analyst)
    assert answer.status_code == 422 and answer.json()["code"] == "invalid-request"
    assert answer.json()["errors"][0]["field"] == "query.limit"


@pytest.mark.parametrize("cursor", ["not-a-cursor", "WyJjbHVzdGVyIiwiMjAyNiIsIngiXQ", "W10", "x" * 1001])
def test_a_cursor_this_server_did_not_hand_out_is_422(client: TestClient, orgs: Orgs, cursor: str) -> None:
    analyst = orgs.token("Clearinghouse", OrgKind.CLEARINGHOUSE, Role.ANALYST)
    answer = client.get("/api/v1/reports", params={"cursor": cursor}, headers=analyst)
    assert answer.status_code == 422 and answer.json()["code"] in {"invalid-cursor", "invalid-request"}


def test_a_cluster_pages_with_a_cursor_and_a_total(client: TestClient, orgs: Orgs) -> None:
    reporter = orgs.token("Finder Labs", OrgKind.REPORTER, Role.REPORTER)
    analyst = orgs.token("Clearinghouse", OrgKind.CLEARINGHOUSE, Role.ANALYST)
    for _ in range(3):
        client.post("/api/v1/reports", json=structured(), headers=reporter)
    drain(client)
    cluster_id = client.get("/api/v1/reports", headers=analyst).json()["reports"][0]["cluster_id"]
    first = client.get(f"/api/v1/clusters/{cluster_id}", params={"limit": 2}, headers=analyst).json()
    assert first["total"] == 3 and len(first["reports"]) == 2
    rest = client.get(
        f"/api/v1/clusters/{cluster_id}", params={"limit": 2, "cursor": first["next_cursor"]}, headers=analyst
    ).json()
    assert len(rest["reports"]) == 1 and rest["next_cursor"] is None
    assert len({r["id"] for r in first["reports"] + rest["reports"]}) == 3


@pytest.mark.parametrize(
    ("product", "words"),
    [
        ({"purl": "pkg:pypi/%zz"}, "invalid percent-encoding"),
        ({"purl": "pkg:npm/left-pad", "ecosystem": "PyPI", "name": "left-pad"}, "does not match ecosystem 'PyPI'"),
        ({"purl": "pkg:pypi/requests", "ecosystem": "PyPI", "name": "urllib3"}, "not the entry's 'urllib3'"),
    ],
)
def test_a_reported_purl_that_is_malformed_or_names_another_product_is_refused(
    client: TestClient, orgs: Orgs, product: dict[str, str], words: str
) -> None:
    reporter = orgs.token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    response = client.post("/api/v1/reports", json=structured(affected=[product]), headers=reporter)
    assert response.status_code == 422 and response.json()["field"].startswith("$.report.affected[0]")
    assert words in response.json()["detail"]
