"""Reports matched to the records already published (issue 12 item 9), through the API and the job worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from clearinghouse.api.app import create_app
from clearinghouse.config import Settings
from clearinghouse.identity.model import OrgKind, Role
from clearinghouse.ingest.pipeline import ImportPipeline
from clearinghouse.store.records import RecordStore
from tests.api.test_reports_api import AI, Orgs, drain
from tests.conftest import SAMPLE

# Seven real PyPI Advisory Database records (CC-BY-4.0): five on jinja2, two on markdown2.
KNOWN = Path(__file__).resolve().parents[1] / "fixtures" / "known-records.jsonl"


@pytest.fixture
def client(database_url: str, tmp_path: Path, engine: sa.Engine) -> Iterator[TestClient]:
    ImportPipeline(RecordStore(engine)).run([SAMPLE, KNOWN])  # the sample: word statistics of a collection
    settings = Settings(home=tmp_path, database_url=database_url, embedded_worker=False)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def orgs(engine: sa.Engine) -> Orgs:
    return Orgs(engine)


def report(title: str, description: str, purl: str, versions: list[str]) -> dict[str, Any]:
    body = {"title": title, "description": description, "affected": [{"purl": purl, "versions": versions}]}
    return {"kind": "structured", "provenance": AI, "report": body}


def triage_of(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/reports", json=body, headers=headers)
    assert response.status_code == 202, response.text
    drain(client)
    (report_id,) = response.json()["report_ids"]
    triage: dict[str, Any] = client.get(f"/api/v1/reports/{report_id}", headers=headers).json()["triage"]
    return triage


def test_a_redos_report_on_jinja2_2_10_is_published_as_pysec_2021_66(client: TestClient, orgs: Orgs) -> None:
    reporter = orgs.token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    triage = triage_of(
        client,
        reporter,
        report(
            "ReDoS in jinja2 urlize",
            # A reporter who read the upstream fix: the advisory's own terms, in other sentences.
            "The ReDoS comes from the _punctuation_re regex and its multiple wildcards: the last wildcard, which "
            "searches for trailing punctuation, is the most exploitable. Rendering untrusted text through the urlize "
            "filter hangs the process; Markdown or request timeouts mitigate it.",
            "pkg:pypi/jinja2",
            ["2.10"],
        ),
    )
    assert [p["id"] for p in triage["published_as"]] == ["PYSEC-2021-66"]
    assert triage["published_as"][0]["fixed_versions"] == ["2.11.3"]
    assert "CVE-2020-28493" in triage["published_as"][0]["aliases"]
    known = {k["id"]: k for k in triage["known_records"]}
    # Every record whose ranges hold jinja2 2.10 is linked, with the range that holds it; only the one telling
    # the same story is the reported vulnerability.
    assert set(known) == {"PYSEC-2021-66", "PYSEC-2019-217"}
    assert known["PYSEC-2019-217"]["same_vulnerability"] is False
    explained = {m["explanation"] for m in known["PYSEC-2021-66"]["version_matches"]}
    assert "jinja2 2.10 is inside the ECOSYSTEM range introduced 0, fixed 2.11.3" in explained
    assert set(triage["related_records"]) == set(known)


def test_a_report_on_a_fixed_version_or_another_package_is_not_known(client: TestClient, orgs: Orgs) -> None:
    reporter = orgs.token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    fixed = report("ReDoS in jinja2 urlize", "The urlize filter regex backtracks.", "pkg:pypi/jinja2", ["3.1.4"])
    assert triage_of(client, reporter, fixed)["known_records"] == []
    other = report("ReDoS in urlize", "The urlize filter regex backtracks.", "pkg:pypi/flask", ["2.10"])
    assert triage_of(client, reporter, other)["published_as"] == []
