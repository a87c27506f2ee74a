"""Hostile input over HTTP and in the group commit: each refusal is precise, alone, and one log line."""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from clearinghouse.identity.model import OrgKind, Role
from clearinghouse.intake.findings import normalise
from clearinghouse.intake.service import Accepted, ReportService, Submitted
from clearinghouse.intake.submission import StructuredSubmission
from clearinghouse.policy import Operator
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.tables import report_attachments
from tests.api.test_reports_api import AI, Orgs, client, orgs, settings, structured

__all__ = ["client", "orgs", "settings"]  # the fixtures this module borrows


def nested(depth: int) -> dict[str, Any]:
    document: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        document = {"x": document}
    return document


def osv_submission(depth: int) -> dict[str, Any]:
    record = {
        "id": "PYSEC-2099-1",
        "modified": "2024-01-01T00:00:00Z",
        "summary": "deeply nested vendor data",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "jinja2"}, "versions": ["2.10"]}],
        "database_specific": nested(depth),
    }
    return {"kind": "osv", "provenance": AI, "osv": record}


def post(client: TestClient, headers: dict[str, str], body: bytes) -> Any:
    return client.post("/api/v1/reports", content=body, headers={**headers, "Content-Type": "application/json"})


def test_deep_nesting_is_422_on_every_route_not_500(client: TestClient, orgs: Orgs) -> None:
    reporter = orgs.token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    analyst = orgs.token("Clearinghouse", OrgKind.CLEARINGHOUSE, Role.ANALYST)
    for path, headers in [("/api/v1/reports", reporter), ("/api/v1/reports/x/state", analyst)]:
        response = client.post(path, content=b"[" * 600, headers={**headers, "Content-Type": "application/json"})
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "nested-too-deep"
    deep_osv = post(client, reporter, json.dumps(osv_submission(900)).encode())
    assert deep_osv.status_code == 422 and deep_osv.json()["code"] == "nested-too-deep"


def test_nul_and_control_characters_are_422_on_both_databases(client: TestClient, orgs: Orgs) -> None:
    reporter = orgs.token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    for title in ["NUL in the title\x00", "escape \x1b[31m in the title"]:
        response = client.post("/api/v1/reports", json=structured(title=title), headers=reporter)
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "$.report.title"
    # Text that merely describes a NUL is text.
    fine = client.post("/api/v1/reports", json=structured(title="Writes \\u0000 to the log"), headers=reporter)
    assert fine.status_code == 202, fine.text


def test_attachment_names_are_bare_file_names_and_media_types_are_validated(
    client: TestClient, orgs: Orgs, engine: sa.Engine
) -> None:
    reporter = orgs.token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    content = base64.b64encode(b"PoC").decode()

    def attach(name: str, media_type: str = "text/plain") -> Any:
        attachment = {"name": name, "media_type": media_type, "content_base64": content}
        return client.post("/api/v1/reports", json=structured(attachments=[attachment]), headers=reporter)

    for name in ["..", "evil\u202egnp.exe", "a\u2066b.txt", "dir/."]:
        refused = attach(name)
        assert refused.status_code == 422, (name, refused.text)
        assert refused.json()["field"] == "$.report.attachments[0].name"
    for media_type in ["text/plain\r\nX-Injected: 1", "textplain", "text/", "text/plain; charset"]:
        refused = attach("poc.txt", media_type)
        assert refused.status_code == 422, (media_type, refused.text)
        assert refused.json()["field"] == "$.report.attachments[0].media_type"
    accepted = attach("../../etc/passwd", "Text/Plain; charset=utf-8")
    assert accepted.status_code == 202, accepted.text
    with engine.connect() as conn:
        row = conn.execute(sa.select(report_attachments.c.name, report_attachments.c.media_type)).one()
    assert (row.name, row.media_type) == ("passwd", "text/plain; charset=utf-8")


def test_a_client_error_logs_one_line_with_its_code_and_no_traceback(
    client: TestClient, orgs: Orgs, caplog: pytest.LogCaptureFixture
) -> None:
    reporter = orgs.token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    with caplog.at_level(logging.INFO):
        caplog.clear()
        post(client, reporter, json.dumps(osv_submission(900)).encode())
        post(client, reporter, b'{"kind": ')
    lines = [record for record in caplog.records if record.name.startswith("clearinghouse")]
    assert [record.getMessage() for record in lines] == [
        "POST /api/v1/reports -> 422 nested-too-deep",
        "POST /api/v1/reports -> 400 malformed-json",
    ]
    assert all(record.exc_info is None for record in caplog.records)


def test_one_hostile_submission_in_a_group_commit_fails_alone(engine: sa.Engine) -> None:
    identity = IdentityStore(engine)
    principals = []
    for org in ("Finder Inc", "Other Labs"):
        identity.create_organisation(org, OrgKind.REPORTER)
        grant = identity.create_token(org, "u", Role.REPORTER)
        principals.append(identity.authenticate(grant.plaintext))
    submission = StructuredSubmission.model_validate(structured())
    (finding,) = normalise(submission)
    legit = [Submitted(principals[n % 2], [replace(finding, title=f"Legitimate report {n}")], AI) for n in range(40)]
    # Past the API's depth cap (a submission reaching the store by another path): it cannot even be serialised.
    hostile = Submitted(principals[0], [replace(finding, extra={"osv": nested(900)})], AI)
    nul = Submitted(principals[1], [replace(finding, title="NUL\x00")], AI)
    batch = [*legit[:20], hostile, nul, *legit[20:]]
    outcomes = ReportService(engine).accept_many(batch)
    assert isinstance(outcomes[20], Exception) and isinstance(outcomes[21], Exception)
    accepted = [outcome for outcome in outcomes if isinstance(outcome, Accepted)]
    assert len(accepted) == 40
    stored = ReportService(engine)
    assert {stored.get(outcome.report_ids[0], Operator("test")).title for outcome in accepted} == {
        f"Legitimate report {n}" for n in range(40)
    }
