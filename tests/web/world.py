"""A small, realistic store for the web tests and the page benchmark: organisations with users who sign in,
reports (two of them duplicates from different organisations), and a frontier model part-way through review.
Everything is made through the API and the services, as users would make it."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from clearinghouse.cases.routing import DeclarationKind
from clearinghouse.cases.service import CaseService
from clearinghouse.identity.model import OrgKind, Role
from clearinghouse.policy import Operator
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.web_accounts import WebAccounts

PASSWORD = "correct horse battery staple"
CRITERIA = (Path(__file__).resolve().parents[2] / "examples" / "frontier" / "criteria.yaml").read_text("utf-8")
FRONTIER = "/api/v1/frontier"
AI = {"origin": "ai", "model": "example-model-1", "tool": "bughunter", "run_id": "run-42", "human_verified": False}

# (organisation, kind, sector, login, role)
PEOPLE = [
    ("Clearinghouse", OrgKind.CLEARINGHOUSE, None, "ana", Role.ANALYST),
    ("Clearinghouse", OrgKind.CLEARINGHOUSE, None, "root", Role.ADMIN),
    ("Finder Inc", OrgKind.REPORTER, None, "rita", Role.REPORTER),
    ("Other Lab", OrgKind.REPORTER, None, "otto", Role.REPORTER),
    ("Mercy Hospital", OrgKind.CRITICAL_INFRASTRUCTURE, "healthcare-and-public-health", "pat", Role.PARTNER),
    ("First Bank", OrgKind.CRITICAL_INFRASTRUCTURE, "financial-services", "bea", Role.PARTNER),
    ("Northwind AI", OrgKind.AI_DEVELOPER, None, "dev", Role.VENDOR),
    ("DHS Evaluation", OrgKind.GOVERNMENT_EVALUATOR, None, "eve", Role.EVALUATOR),
    ("Pallets", OrgKind.VENDOR, None, "vic", Role.VENDOR),
    ("Acme Software", OrgKind.VENDOR, None, "ace", Role.VENDOR),
]
# What each vendor declared it owns (cases route reports to vendors by these).
DECLARATIONS = [("Pallets", "pkg:pypi/jinja2"), ("Acme Software", "pkg:pypi/acme-widgets")]


def structured(
    title: str, description: str, package: str = "tensorflow", origin: dict[str, Any] = AI
) -> dict[str, Any]:
    report = {
        "title": title,
        "description": description,
        "affected": [{"purl": f"pkg:pypi/{package}", "versions": ["2.7.0"]}],
        "cwe": "CWE-89",
        "cvss_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N",
        "proof_of_concept": f"python -c 'import {package}'",
        "locations": [f"{package}/python/saved_model/load.py:120"],
    }
    return {"kind": "structured", "provenance": origin, "report": report}


SQLI = structured(
    "SQL injection in tensorflow saved model loader",
    "Crafted saved model files make the loader build an SQL query from attacker-controlled names without "
    "escaping, letting an attacker read arbitrary rows.\nThe loader trusts the names it reads.",
)


@dataclass
class World:
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)  # login -> Authorization header
    reports: dict[str, str] = field(default_factory=dict)  # name -> report id
    model_id: str = ""
    submission_id: str = ""


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def build(client: TestClient, engine: sa.Engine, *, frontier: bool = True) -> World:
    world = World()
    identity = IdentityStore(engine)
    accounts = WebAccounts(engine)
    for organisation, kind, sector, login, role in PEOPLE:
        try:
            identity.organisation(organisation)
        except Exception:
            identity.create_organisation(organisation, kind, sector)
        accounts.create_user(organisation, login, role, PASSWORD)
        world.tokens[login] = {"Authorization": f"Bearer {identity.create_token(organisation, login, role).plaintext}"}
    for vendor, purl in DECLARATIONS:
        CaseService(engine).declare(Operator("test"), DeclarationKind.PURL, purl, organisation=vendor)
    post = client.post
    world.reports["sqli"] = ok(post("/api/v1/reports", json=SQLI, headers=world.tokens["rita"]), 202)["report_ids"][0]
    drain(client)
    again = copy.deepcopy(SQLI)
    again["report"]["title"] = again["report"]["title"].upper()
    again["report"]["description"] += "\nSeen again on 2.7.1."
    world.reports["sqli-again"] = ok(post("/api/v1/reports", json=again, headers=world.tokens["otto"]), 202)[
        "report_ids"
    ][0]
    person = {"origin": "human", "human_verified": True}
    xss = structured(
        "Stored XSS in jinja2 sandbox error page",
        "The sandbox's error page echoes template names unescaped, so a stored template name runs script.",
        package="jinja2",
        origin=person,
    )
    world.reports["xss"] = ok(post("/api/v1/reports", json=xss, headers=world.tokens["otto"]), 202)["report_ids"][0]
    drain(client)
    if frontier:
        _frontier(client, world)
    return world


def drain(client: TestClient) -> None:
    client.app.state.worker.run_until_idle()  # type: ignore[attr-defined]


def _frontier(client: TestClient, world: World) -> None:
    today = datetime.now(UTC).date()
    developer, evaluator = world.tokens["dev"], world.tokens["eve"]
    ok(client.post(f"{FRONTIER}/criteria", json={"yaml": CRITERIA}, headers=evaluator), 201)
    model = {"name": "Meridian", "version": "4.0", "modality": "text+code", "training_compute_flop": 3.2e25}
    world.model_id = ok(client.post(f"{FRONTIER}/models", json=model, headers=developer), 201)["id"]
    offer = {
        "partner_release_on": (today + timedelta(days=20)).isoformat(),
        "endpoint_ref": "https://api.northwind.example/v1/meridian-preview",
        "secret": "sk-live-very-secret",
        "contacts": [{"name": "Ada", "email": "ada@northwind.example", "role": "safety lead"}],
    }
    submission = ok(client.post(f"{FRONTIER}/models/{world.model_id}/submissions", json=offer, headers=developer), 201)
    world.submission_id = submission["id"]
    run = {
        "suite": "clearinghouse-cyber",
        "run_id": "ctf-2026-11-20-meridian-4",
        "metrics": {
            "ctf_solve_rate": {"value": 0.62, "ci_low": 0.55, "ci_high": 0.69},
            "knowledge_accuracy": {"value": 0.81, "ci_low": 0.77, "ci_high": 0.85},
        },
    }
    recorded = ok(client.post(f"{FRONTIER}/models/{world.model_id}/evaluations", json=run, headers=evaluator), 201)
    criteria = {"criteria_id": "eo-covered-frontier-models"}
    ok(client.post(f"{FRONTIER}/models/{world.model_id}/determinations", json=criteria, headers=evaluator), 201)
    finding = {
        "severity": "high",
        "capability_area": "vulnerability-exploitation",
        "title": "Writes working exploits for known CVEs",
        "description": "Solved 62% of the CTF challenges, including heap exploitation.",
        "evaluation_run_id": recorded["id"],
    }
    ok(client.post(f"{FRONTIER}/models/{world.model_id}/findings", json=finding, headers=evaluator), 201)
    grant = {
        "partner": "Mercy Hospital",
        "justification": "runs patient-safety systems exposed to the model's capabilities",
        "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=10)).isoformat(),
    }
    ok(client.post(f"{FRONTIER}/submissions/{world.submission_id}/grants", json=grant, headers=evaluator), 201)
