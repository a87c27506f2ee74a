"""Frontier-model review over HTTP, end to end on SQLite and PostgreSQL: a fictional developer's model from
registration to the final report, and the access rules around it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from clearinghouse.api.app import create_app
from clearinghouse.config import Settings
from clearinghouse.identity.model import SCOPES_BY_ROLE, OrgKind, Role, Scope
from clearinghouse.store.audit import AuditLog
from clearinghouse.store.identity import IdentityStore

CRITERIA = (Path(__file__).resolve().parents[2] / "examples" / "frontier" / "criteria.yaml").read_text("utf-8")
API = "/api/v1/frontier"
TODAY = datetime.now(UTC).date()  # the service's clock is UTC


class Orgs:
    def __init__(self, engine: sa.Engine) -> None:
        self.identity = IdentityStore(engine)

    def token(
        self, org: str, kind: OrgKind, role: Role, sector: str | None = None, scopes: set[Scope] | None = None
    ) -> dict[str, str]:
        try:
            self.identity.organisation(org)
        except Exception:
            self.identity.create_organisation(org, kind, sector)
        grant = self.identity.create_token(org, f"user-{role.value}", role, scopes)
        return {"Authorization": f"Bearer {grant.plaintext}"}


@pytest.fixture
def client(database_url: str, engine: sa.Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path, database_url=database_url, embedded_worker=False)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def orgs(engine: sa.Engine) -> Orgs:
    return Orgs(engine)


@pytest.fixture
def people(orgs: Orgs) -> dict[str, dict[str, str]]:
    return {
        "developer": orgs.token("Northwind AI", OrgKind.AI_DEVELOPER, Role.VENDOR),
        "evaluator": orgs.token("DHS Evaluation", OrgKind.GOVERNMENT_EVALUATOR, Role.EVALUATOR),
        "uncleared": orgs.token(
            "CAISI Lab",
            OrgKind.GOVERNMENT_EVALUATOR,
            Role.EVALUATOR,
            scopes=SCOPES_BY_ROLE[Role.EVALUATOR] - {Scope.FRONTIER_RESTRICTED},
        ),
        "hospital": orgs.token(
            "Mercy Hospital", OrgKind.CRITICAL_INFRASTRUCTURE, Role.PARTNER, "healthcare-and-public-health"
        ),
        "bank": orgs.token("First Bank", OrgKind.CRITICAL_INFRASTRUCTURE, Role.PARTNER, "financial-services"),
        "other_developer": orgs.token("Rival Labs", OrgKind.AI_DEVELOPER, Role.VENDOR),
        "vendor": orgs.token("Acme Software", OrgKind.VENDOR, Role.VENDOR),
    }


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def setup_model(client: TestClient, people: dict[str, dict[str, str]], release_in: int = 20) -> tuple[str, str]:
    ok(client.post(f"{API}/criteria", json={"yaml": CRITERIA}, headers=people["evaluator"]), 201)
    model = ok(
        client.post(
            f"{API}/models",
            json={"name": "Meridian", "version": "4.0", "modality": "text+code", "training_compute_flop": 3.2e25},
            headers=people["developer"],
        ),
        201,
    )
    offer = {
        "partner_release_on": (TODAY + timedelta(days=release_in)).isoformat(),
        "endpoint_ref": "https://api.northwind.example/v1/meridian-preview",
        "secret": "sk-live-very-secret",
        "contacts": [{"name": "Ada", "email": "ada@northwind.example", "role": "safety lead"}],
    }
    submission = ok(
        client.post(f"{API}/models/{model['id']}/submissions", json=offer, headers=people["developer"]), 201
    )
    return model["id"], submission["id"]


def nominate(client: TestClient, who: dict[str, str], submission_id: str, partner: str, start: int, end: int) -> Any:
    body = {
        "partner": partner,
        "justification": "runs patient-safety systems exposed to the model's capabilities",
        "starts_on": (TODAY + timedelta(days=start)).isoformat(),
        "ends_on": (TODAY + timedelta(days=end)).isoformat(),
    }
    return client.post(f"{API}/submissions/{submission_id}/grants", json=body, headers=who)


def test_end_to_end_from_registration_to_final_report(
    client: TestClient, people: dict[str, dict[str, str]], engine: sa.Engine
) -> None:
    developer, evaluator, hospital = people["developer"], people["evaluator"], people["hospital"]
    ok(client.post(f"{API}/criteria", json={"yaml": CRITERIA}, headers=evaluator), 201)
    model = ok(
        client.post(
            f"{API}/models",
            json={"name": "Meridian", "version": "4.0", "modality": "text+code", "training_compute_flop": 3.2e25},
            headers=developer,
        ),
        201,
    )
    model_id = model["id"]
    assert model["developer"] == "Northwind AI"

    # Self-assessment before any evaluation: the cyber benchmark is missing, so it cannot be settled yet.
    criteria = {"criteria_id": "eo-covered-frontier-models"}
    first = ok(client.post(f"{API}/models/{model_id}/self-assessment", json=criteria, headers=developer), 201)
    assert first["coverage"] == "needs_evaluation" and first["basis"] == "self-assessment"
    assert any("ctf_solve_rate" in m for m in first["missing"])

    # Voluntary submission: the window opens 30 days before the partner release at most.
    release = TODAY + timedelta(days=20)
    offer = {
        "partner_release_on": release.isoformat(),
        "endpoint_ref": "https://api.northwind.example/v1/meridian-preview",
        "secret": "sk-live-very-secret",
        "contacts": [{"name": "Ada", "email": "ada@northwind.example"}],
    }
    submission = ok(client.post(f"{API}/models/{model_id}/submissions", json=offer, headers=developer), 201)
    submission_id = submission["id"]
    assert submission["state"] == "offered" and submission["release_gated"] is False
    assert submission["window"] == {
        "opens_on": TODAY.isoformat(),
        "partner_release_on": release.isoformat(),
        "days": 20,
        "max_days": 30,
    }
    assert "sk-live-very-secret" not in str(submission) and len(submission["access_method"]["secret_sha256"]) == 64
    assert submission["milestones"]["final_report"]["due_on"] == (release - timedelta(days=1)).isoformat()
    ok(
        client.post(
            f"{API}/submissions/{submission_id}/milestones/access_confirmed",
            json={"note": "key works"},
            headers=evaluator,
        )
    )

    # Early access for a hospital: nominated by the evaluator, approved by the developer, used and audited.
    grant = ok(nominate(client, evaluator, submission_id, "Mercy Hospital", 0, 10), 201)
    assert grant["state"] == "nominated" and grant["sector"] == "healthcare-and-public-health"
    ok(client.post(f"{API}/grants/{grant['id']}/approve", json={"reason": "hospital IT"}, headers=developer))
    used = ok(client.post(f"{API}/grants/{grant['id']}/access", json={"purpose": "patch validation"}, headers=hospital))
    assert used["endpoint_ref"].startswith("https://api.northwind.example")

    # An evaluation run attached, then the government determination cites it.
    run = {
        "suite": "clearinghouse-cyber",
        "run_id": "ctf-2026-11-20-meridian-4",
        "log_location": "s3://evals/meridian-4/ctf.eval",
        "metrics": {"ctf_solve_rate": {"value": 0.62, "ci_low": 0.55, "ci_high": 0.69}},
    }
    recorded = ok(client.post(f"{API}/models/{model_id}/evaluations", json=run, headers=evaluator), 201)
    assert recorded["metrics"]["ctf_solve_rate"] == {"value": 0.62, "ci_low": 0.55, "ci_high": 0.69}
    decided = ok(client.post(f"{API}/models/{model_id}/determinations", json=criteria, headers=evaluator), 201)
    assert decided["coverage"] == "covered" and decided["basis"] == "government-evaluation"
    cyber = next(r for r in decided["results"] if r["name"] == "offensive_cyber_capability")
    assert (cyber["observed"], cyber["threshold"], cyber["run_id"]) == (0.62, 0.5, "ctf-2026-11-20-meridian-4")

    ok(
        client.post(
            f"{API}/submissions/{submission_id}/milestones/evaluation_plan_agreed",
            json={"note": "CTF + red team"},
            headers=evaluator,
        )
    )
    finding = {
        "severity": "high",
        "capability_area": "vulnerability-exploitation",
        "title": "Writes working exploits for known CVEs",
        "description": "Solved 62% of the CTF challenges, including heap exploitation.",
        "evaluation_run_id": recorded["id"],
    }
    ok(client.post(f"{API}/models/{model_id}/findings", json=finding, headers=evaluator), 201)
    final = ok(
        client.post(
            f"{API}/submissions/{submission_id}/milestones/final_report", json={"note": "delivered"}, headers=evaluator
        )
    )
    assert final["state"] == "reported"

    html = client.get(f"{API}/models/{model_id}/report", headers=developer)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    for expected in ("Meridian 4.0", "covered", "ctf_solve_rate", "Writes working exploits", "frontier.grant.access"):
        assert expected in html.text
    pdf = client.get(f"{API}/models/{model_id}/report?format=pdf", headers=evaluator)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    actions = [e.action for e in AuditLog(engine).entries("frontier-model", model_id)]
    assert actions[0] == "frontier.model.registered" and "frontier.grant.access" in actions
    assert AuditLog(engine).verify().ok


def test_wrong_role_gets_403_and_no_data(client: TestClient, people: dict[str, dict[str, str]]) -> None:
    model_id, submission_id = setup_model(client, people)
    body = {"name": "X", "version": "1", "modality": "text"}
    for who in ("hospital", "evaluator"):
        response = client.post(f"{API}/models", json=body, headers=people[who])
        assert response.status_code == 403 and "id" not in response.json()
    # A software vendor holds the vendor role but is no AI developer.
    refused = client.post(f"{API}/models", json=body, headers=people["vendor"])
    assert refused.status_code == 403 and "AI-developer" in refused.json()["detail"]
    partner_read = client.get(f"{API}/models/{model_id}", headers=people["hospital"])
    assert partner_read.status_code == 403 and "name" not in partner_read.json()
    assert client.get(f"{API}/models/{model_id}", headers=people["other_developer"]).status_code == 404
    finding = {"severity": "low", "capability_area": "x", "title": "self-graded", "description": "nothing to see"}
    assert (
        client.post(f"{API}/models/{model_id}/findings", json=finding, headers=people["developer"]).status_code == 403
    )
    assert (
        client.post(
            f"{API}/submissions/{submission_id}/withdraw", json={"reason": "no"}, headers=people["evaluator"]
        ).status_code
        == 403
    )
    assert client.get(f"{API}/models/{model_id}").status_code == 401


def test_restricted_determinations_are_hidden_from_non_cleared_roles(
    client: TestClient, people: dict[str, dict[str, str]], engine: sa.Engine
) -> None:
    model_id, _ = setup_model(client, people)
    criteria = {"criteria_id": "eo-covered-frontier-models"}
    refused = client.post(
        f"{API}/models/{model_id}/determinations", json={**criteria, "restricted": True}, headers=people["uncleared"]
    )
    assert refused.status_code == 403
    review = ok(
        client.post(
            f"{API}/models/{model_id}/classified-reviews",
            json={"holder": "NSA AI Security Center"},
            headers=people["evaluator"],
        ),
        201,
    )
    assert set(review) == {"id", "model_id", "authority", "holder", "designation"}
    content = client.post(
        f"{API}/models/{model_id}/classified-reviews",
        json={"holder": "NSA", "findings": "classified text"},
        headers=people["evaluator"],
    )
    assert content.status_code == 422  # there is nowhere to put a classified review's content
    ok(
        client.post(
            f"{API}/classified-reviews/{review['id']}/conclusion",
            json={"designation": "covered-frontier-model"},
            headers=people["evaluator"],
        )
    )
    secret = ok(
        client.post(
            f"{API}/models/{model_id}/determinations",
            json={**criteria, "restricted": True},
            headers=people["evaluator"],
        ),
        201,
    )
    assert secret["coverage"] == "covered" and secret["restricted"] is True
    ok(client.post(f"{API}/models/{model_id}/self-assessment", json=criteria, headers=people["developer"]), 201)

    cleared = ok(client.get(f"{API}/models/{model_id}/determinations", headers=people["evaluator"]))["determinations"]
    assert [d["restricted"] for d in cleared] == [True, False]
    for who in ("uncleared", "developer"):
        seen = ok(client.get(f"{API}/models/{model_id}/determinations", headers=people[who]))["determinations"]
        assert [d["restricted"] for d in seen] == [False], who
        report = client.get(f"{API}/models/{model_id}/report", headers=people[who]).text
        assert "RESTRICTED" not in report and "government-evaluation" not in report
    assert "RESTRICTED" in client.get(f"{API}/models/{model_id}/report", headers=people["evaluator"]).text
    audit = [
        e
        for e in AuditLog(engine).entries("frontier-model", model_id)
        if e.details.get("determination_id") == secret["id"]
    ]
    assert audit and "coverage" not in audit[0].details


def test_grants_outside_the_window_or_to_non_partners_are_refused(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    _, submission_id = setup_model(client, people, release_in=20)
    outside = nominate(client, people["evaluator"], submission_id, "Mercy Hospital", 5, 25)
    assert outside.status_code == 422 and outside.json()["code"] == "grant-refused"
    assert "inside the review window" in outside.json()["detail"]
    not_partner = nominate(client, people["developer"], submission_id, "Acme Software", 1, 5)
    missing = nominate(client, people["developer"], submission_id, "Nobody Ltd", 1, 5)
    # A nomination reveals neither that an organisation exists nor its kind: one answer for both.
    assert not_partner.status_code == missing.status_code == 422
    assert not_partner.json()["code"] == missing.json()["code"] == "grant-refused"
    assert "Acme" not in missing.json()["detail"].replace("Nobody Ltd", "")
    assert not_partner.json()["detail"].replace("Acme Software", "X") == missing.json()["detail"].replace(
        "Nobody Ltd", "X"
    )
    assert nominate(client, people["other_developer"], submission_id, "Mercy Hospital", 1, 5).status_code == 404
    assert nominate(client, people["hospital"], submission_id, "Mercy Hospital", 1, 5).status_code == 403


def test_a_revoked_grantee_gets_403_and_an_audit_entry(
    client: TestClient, people: dict[str, dict[str, str]], engine: sa.Engine
) -> None:
    model_id, submission_id = setup_model(client, people)
    grant = ok(nominate(client, people["developer"], submission_id, "First Bank", 0, 5), 201)
    early = client.post(f"{API}/grants/{grant['id']}/access", json={"purpose": "try"}, headers=people["bank"])
    assert early.status_code == 403 and "nominated" in early.json()["detail"]  # not approved yet
    ok(client.post(f"{API}/grants/{grant['id']}/approve", json={"reason": "approved"}, headers=people["developer"]))
    ok(client.post(f"{API}/grants/{grant['id']}/access", json={"purpose": "fraud models"}, headers=people["bank"]))
    foreign = client.post(
        f"{API}/grants/{grant['id']}/access", json={"purpose": "someone else's"}, headers=people["hospital"]
    )
    missing = client.post(f"{API}/grants/no-such-grant/access", json={"purpose": "guess"}, headers=people["hospital"])
    # Someone else's grant answers like a missing one, and the attempt is audited under the grant.
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["detail"].replace(grant["id"], "X") == missing.json()["detail"].replace("no-such-grant", "X")
    (attempt,) = AuditLog(engine).entries("frontier-grant", grant["id"])
    assert attempt.action == "frontier.grant.access-denied" and attempt.actor.endswith("@Mercy Hospital")
    ok(
        client.post(
            f"{API}/grants/{grant['id']}/revoke", json={"reason": "leak suspected"}, headers=people["evaluator"]
        )
    )
    denied = client.post(f"{API}/grants/{grant['id']}/access", json={"purpose": "again"}, headers=people["bank"])
    assert denied.status_code == 403 and denied.json()["code"] == "early-access-denied"
    assert "revoked" in denied.json()["detail"] and "endpoint_ref" not in denied.json()
    entries = [
        e for e in AuditLog(engine).entries("frontier-model", model_id) if e.details.get("grant_id") == grant["id"]
    ]
    assert [e.action for e in entries] == [
        "frontier.grant.nominated",
        "frontier.grant.access-denied",
        "frontier.grant.approved",
        "frontier.grant.access",
        "frontier.grant.revoked",
        "frontier.grant.access-denied",
    ]
    assert entries[-1].details["why"] == "the grant is revoked" and entries[-1].actor.endswith("@First Bank")


def test_more_than_30_days_is_refused_citing_the_rule(client: TestClient, people: dict[str, dict[str, str]]) -> None:
    model_id, _ = setup_model(client, people)
    offer = {
        "partner_release_on": (TODAY + timedelta(days=90)).isoformat(),
        "access_days": 45,
        "endpoint_ref": "https://x.example",
    }
    refused = client.post(f"{API}/models/{model_id}/submissions", json=offer, headers=people["developer"])
    assert refused.status_code == 422 and refused.json()["code"] == "window-refused"
    assert "up to 30 days before they plan to release such models to other trusted partners" in refused.json()["detail"]
    past = {"partner_release_on": (TODAY - timedelta(days=1)).isoformat(), "endpoint_ref": "https://x.example"}
    assert (
        client.post(f"{API}/models/{model_id}/submissions", json=past, headers=people["developer"]).status_code == 422
    )


def test_moving_the_release_earlier_shrinks_the_window_and_is_recorded(
    client: TestClient, people: dict[str, dict[str, str]], engine: sa.Engine
) -> None:
    model_id, submission_id = setup_model(client, people, release_in=20)
    earlier = TODAY + timedelta(days=12)
    moved = ok(
        client.post(
            f"{API}/submissions/{submission_id}/release-date",
            json={"partner_release_on": earlier.isoformat(), "reason": "launch moved up"},
            headers=people["developer"],
        )
    )
    assert moved["window"]["partner_release_on"] == earlier.isoformat() and moved["window"]["days"] == 12
    change = moved["plan_changes"][-1]
    assert change["window_shrank_by_days"] == 8 and change["reason"] == "launch moved up"
    assert moved["milestones"]["final_report"]["due_on"] == (earlier - timedelta(days=1)).isoformat()
    assert (
        ok(client.get(f"{API}/models/{model_id}", headers=people["developer"]))["planned_partner_release"]
        == earlier.isoformat()
    )
    audit = [
        e
        for e in AuditLog(engine).entries("frontier-model", model_id)
        if e.action == "frontier.submission.release-moved"
    ]
    assert audit and audit[0].details["window_shrank_by_days"] == 8
    withdrawn = ok(
        client.post(
            f"{API}/submissions/{submission_id}/withdraw", json={"reason": "changed plans"}, headers=people["developer"]
        )
    )
    assert withdrawn["state"] == "withdrawn"


def test_a_published_criteria_version_is_immutable(client: TestClient, people: dict[str, dict[str, str]]) -> None:
    ok(client.post(f"{API}/criteria", json={"yaml": CRITERIA}, headers=people["evaluator"]), 201)
    changed = CRITERIA.replace("threshold: 0.5", "threshold: 0.4")
    refused = client.post(f"{API}/criteria", json={"yaml": changed}, headers=people["evaluator"])
    assert refused.status_code == 409 and refused.json()["code"] == "criteria-immutable"
    v2 = changed.replace("version: 1", "version: 2\nsupersedes: eo-covered-frontier-models@1")
    ok(client.post(f"{API}/criteria", json={"yaml": v2}, headers=people["evaluator"]), 201)
    listed = ok(client.get(f"{API}/criteria", headers=people["developer"]))["criteria"]
    assert [(c["version"], c["status"]) for c in listed] == [(1, "superseded"), (2, "published")]
    broken = client.post(
        f"{API}/criteria",
        json={"yaml": CRITERIA.replace("min_flop: 1e26", "min_flop: lots")},
        headers=people["evaluator"],
    )
    assert (
        broken.status_code == 422 and broken.json()["field"] == "criteria.large_training_run.training_compute.min_flop"
    )


def test_classified_reviews_never_reach_the_developers_own_timeline_or_assessment(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    model_id, _ = setup_model(client, people)
    criteria = {"criteria_id": "eo-covered-frontier-models"}  # nsa_designation is `classified: true`
    ok(
        client.post(
            f"{API}/models/{model_id}/classified-reviews", json={"holder": "NSA/CSS"}, headers=people["evaluator"]
        ),
        201,
    )
    assessment = ok(
        client.post(f"{API}/models/{model_id}/self-assessment", json=criteria, headers=people["developer"]), 201
    )
    nsa = next(r for r in assessment["results"] if r["name"] == "nsa_designation")
    assert nsa["outcome"] == "not_met" and "review" not in orjson.dumps(assessment).decode().lower()
    for who in ("developer", "uncleared"):
        report = client.get(f"{API}/models/{model_id}/report", headers=people[who]).text
        assert "classified-review" not in report and "NSA/CSS" not in report, who
    # The cleared evaluator sees both: the review on the timeline, and the open review in its determination.
    assert "classified-review" in client.get(f"{API}/models/{model_id}/report", headers=people["evaluator"]).text
    government = ok(
        client.post(f"{API}/models/{model_id}/determinations", json=criteria, headers=people["evaluator"]), 201
    )
    assert next(r for r in government["results"] if r["name"] == "nsa_designation")["outcome"] == "unknown"
