"""The permission matrix: every operation of the OpenAPI document x every principal class x every object state,
checked against the declarative table in `permission_table.py` (not against the policy code).

An operation the table does not name fails the test, so a new route cannot ship without its row. The number of
cells checked is printed (run with `-s`) and kept in `CELLS_CHECKED` for the closing note.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from clearinghouse.api.app import create_app
from clearinghouse.cases.rules import CaseState, VendorStatement, VendorStatus
from clearinghouse.cases.service import CaseService, NewAttachment
from clearinghouse.config import Settings
from clearinghouse.feeds.stix import vulnerability_id
from clearinghouse.feeds.taxii import COLLECTIONS, partner_collection
from clearinghouse.frontier.grants import GrantState
from clearinghouse.frontier.service import AccessOffer, FrontierService, ModelRegistration
from clearinghouse.identity.model import Principal
from clearinghouse.ingest.pipeline import ImportPipeline
from clearinghouse.intake.lifecycle import ReportState
from clearinghouse.intake.service import ReportService
from clearinghouse.notify.service import NotificationService
from clearinghouse.notify.views import SubscriptionRequest
from clearinghouse.partners.service import AssetService
from clearinghouse.policy import Operator
from clearinghouse.policy.cases import CaseRole
from clearinghouse.records.model import Tlp
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.records import RecordStore
from clearinghouse.store.tables import records, reports
from tests.api import permission_table as table

CRITERIA = (Path(__file__).resolve().parents[2] / "examples" / "frontier" / "criteria.yaml").read_text("utf-8")
CRITERIA_ID = "eo-covered-frontier-models"
TODAY = datetime.now(UTC).date()
PACKAGE = {"ecosystem": "PyPI", "package": "matrix-package", "version": "1.0"}
RECORD_STATES = {  # object name -> (TLP label, record status)
    "record-clear": ("CLEAR", "published"),
    "record-green": ("GREEN", "published"),
    "record-amber": ("AMBER", "published"),
    "record-amber-strict": ("AMBER+STRICT", "published"),
    "record-red": ("RED", "published"),
    "record-embargoed": ("GREEN", "embargoed"),
}
OSV_QUERY = {"package": {"ecosystem": "PyPI", "name": "matrix-package"}, "version": "1.0"}
# The CSAF directory each record's advisory is filed in (by TLP; all were modified, never published, in 2026).
CSAF_DIRECTORY = {
    f"PYSEC-2099-{n}": {"CLEAR": "white", "GREEN": "green", "RED": "red"}.get(label, "amber")
    for n, (label, _status) in enumerate(RECORD_STATES.values(), start=1)
}
RECORD_TLP = {f"PYSEC-2099-{n}": label for n, (label, _status) in enumerate(RECORD_STATES.values(), start=1)}
CELLS_CHECKED: list[int] = []
SBOM = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.6",
    "components": [{"bom-ref": "m", "name": "matrix-package", "version": "1.0", "purl": "pkg:pypi/matrix-package@1.0"}],
}


def _osv(record_id: str) -> dict[str, Any]:
    return {
        "schema_version": "1.7.0",
        "id": record_id,
        "modified": "2026-01-01T00:00:00Z",
        "summary": f"matrix record {record_id}",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "matrix-package"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}],
            }
        ],
    }


def _report_body(title: str) -> dict[str, Any]:
    return {
        "kind": "structured",
        "provenance": {"origin": "human"},
        "report": {
            "title": title,
            "description": "A crafted request makes the parser read past the end of its buffer and crash.",
            "affected": [{"purl": "pkg:pypi/matrix-package", "versions": ["1.0"]}],
            "cwe": "CWE-125",
        },
    }


class World:
    """The organisations, tokens and objects the matrix runs against."""

    def __init__(self, client: TestClient, engine: sa.Engine, tmp_path: Path) -> None:
        self.client = client
        self.engine = engine
        self.service = FrontierService(engine)
        self.counter = itertools.count()
        identity = IdentityStore(engine)
        for name, kind, sector in table.ORGANISATIONS.values():
            identity.create_organisation(name, kind, sector)
        self.headers: dict[str, dict[str, str]] = {
            table.ANONYMOUS: {},
            table.BAD_TOKEN: {"Authorization": "Bearer chk_000000000000_" + "x" * 43},
        }
        self.principals: dict[str, Principal] = {}
        for principal, (org, role, scopes) in table.TOKENS.items():
            grant = identity.create_token(table.ORGANISATIONS[org][0], principal, role, scopes)
            self.headers[principal] = {"Authorization": f"Bearer {grant.plaintext}"}
            self.principals[principal] = identity.authenticate(grant.plaintext)
        self._records(tmp_path)
        self.service.publish_criteria(self.principals["gov-evaluator"], CRITERIA)
        self.shared: dict[str, str] = {name: self.make(name) for name in self._object_names()}

    def _records(self, tmp_path: Path) -> None:
        source = tmp_path / "matrix.jsonl"
        ids = {name: f"PYSEC-2099-{n}" for n, name in enumerate(RECORD_STATES, start=1)}
        source.write_bytes(b"\n".join(orjson.dumps(_osv(record_id)) for record_id in ids.values()))
        ImportPipeline(RecordStore(self.engine)).run([source])
        with self.engine.begin() as conn:
            for name, (label, status) in RECORD_STATES.items():
                conn.execute(sa.update(records).where(records.c.id == ids[name]).values(tlp=label, status=status))
        self.record_ids = ids

    @staticmethod
    def _object_names() -> set[str]:
        return {name for row in table.TABLE.values() for name in row.sees}

    def make(self, name: str) -> str:
        """A new object of the kind `name` names (records are made once, in `_records`)."""
        p = self.principals
        if name in RECORD_STATES:
            return self.record_ids[name]
        if name in ("subscription-ven", "delivery-ven"):
            return self._notification(name)
        if name == "taxii-partner-ci":
            hospital = self.principals["ci-partner"].organisation
            return partner_collection(hospital.id, hospital.name).id
        if name.startswith("taxii-"):
            wanted = {name.removeprefix("taxii-")}
            return next(c.id for c in COLLECTIONS.values() if {t.value.lower() for t in c.labels} == wanted)
        if name.startswith("csaf-"):
            if name == "csaf-key":
                return f"{self.client.app.state.csaf_provider.signer.fingerprint}.asc"  # type: ignore[attr-defined]
            return name.removeprefix("csaf-")
        if name in ("case-rep", "case-ready"):
            return self._case(ready=name == "case-ready")
        if name == "message-acme":
            log = NewAttachment("crash.log", "text/plain", base64.b64encode(b"segfault").decode())
            posted = CaseService(self.engine).post_message(
                Operator("matrix"), self._case(ready=False), "for Acme", "Acme Software", [log]
            )
            return str(posted.id)
        if name.startswith(("asset-", "alert-")):
            return self._asset_or_alert(name)
        if name in ("report-rep", "report-ai", "cluster-rep"):
            submitter = "rep-reporter" if name != "report-ai" else "ai-reporter"
            body = _report_body(f"matrix report {next(self.counter)}")
            response = self.client.post("/api/v1/reports", json=body, headers=self.headers[submitter])
            assert response.status_code == 202, response.text
            report_id: str = response.json()["report_ids"][0]
            with self.engine.begin() as conn:  # its own duplicate cluster, as the pipeline would leave it
                conn.execute(sa.update(reports).where(reports.c.id == report_id).values(cluster_id=report_id))
            return report_id
        developer = p["ai2-vendor"] if name.endswith("-ai2") else p["ai-vendor"]
        if name.startswith("model-"):
            registration = ModelRegistration(f"Model {next(self.counter)}", "1.0", "text")
            return str(self.service.register_model(developer, registration)["id"])
        model_id = self.make("model-ai" if developer is p["ai-vendor"] else "model-ai2")
        if name.startswith("review-"):
            return str(self.service.open_classified_review(Operator("matrix"), model_id, "NSA", "NSA/CSS")["id"])
        submission = self.service.offer(developer, model_id, AccessOffer(TODAY + timedelta(days=20), "https://x"))
        if name.startswith("submission-"):
            return str(submission["id"])
        partner = "First Bank" if name == "grant-bank-approved" else "Mercy Hospital"
        grant = self.service.nominate(
            p["gov-evaluator"], submission["id"], partner, "runs systems the model could affect", TODAY, TODAY
        )
        if name.endswith("-approved"):
            self.service.decide_grant(developer, grant["id"], GrantState.APPROVED, "approved")
        return str(grant["id"])

    def _notification(self, name: str) -> str:
        """Acme Software's e-mail subscription, or a test delivery queued to one."""
        service = NotificationService(self.engine)
        request = SubscriptionRequest(channel="email", addresses=["psirt@acme.example"], organisation="Acme Software")
        subscription = service.subscribe(Operator("matrix"), request)
        if name == "subscription-ven":
            return subscription.id
        return service.send_test(Operator("matrix"), subscription.id).id

    def validated_report(self) -> str:
        report_id = self.make("report-rep")
        reports = ReportService(self.engine)
        for target in (ReportState.TRIAGED, ReportState.VALIDATED):
            reports.change_state(Operator("matrix"), report_id, target, "matrix")
        return report_id

    def _case(self, ready: bool) -> str:
        """A case of Reporter Org's report with Acme Software as vendor and Mercy Hospital for early warning;
        `ready`: vendors told and Acme fixed, so the publication gate is open."""
        operator = Operator("matrix")
        cases = CaseService(self.engine)
        case_id = cases.open_case(operator, [self.validated_report()]).id
        cases.add_participant(operator, case_id, "Acme Software", CaseRole.VENDOR, "matrix")
        cases.add_participant(operator, case_id, "Mercy Hospital", CaseRole.EARLY_WARNING, "matrix")
        if ready:
            cases.move(operator, case_id, CaseState.VENDORS_NOTIFIED, "matrix")
            fixed = VendorStatement(VendorStatus.FIXED, fixed_versions=("9.9",))
            cases.state_status(operator, case_id, fixed, "Acme Software")
        return case_id

    def _asset_or_alert(self, name: str) -> str:
        """An SBOM naming matrix-package 1.0 (affected by every matrix record), uploaded by the hospital's partner
        or for the bank; an alert is the one raised for the TLP:CLEAR record."""
        assets = AssetService(self.engine)
        if name.endswith("-ci"):
            uploaded = assets.upload(self.principals["ci-partner"], orjson.dumps(SBOM))
        else:
            bank = IdentityStore(self.engine).organisation("First Bank")
            uploaded = assets.upload(Operator("matrix"), orjson.dumps(SBOM), f"bank {next(self.counter)}", bank)
        asset_id = uploaded["asset"]["id"]
        if name.startswith("asset-"):
            return asset_id
        raised = assets.alerts(Operator("matrix"))
        return next(
            a["id"] for a in raised if a["asset_id"] == asset_id and a["record_id"] == self.record_ids["record-clear"]
        )


def _body(operation: str, world: World) -> dict[str, Any] | None:
    n = next(world.counter)
    release = (TODAY + timedelta(days=10)).isoformat()
    bodies: dict[str, Callable[[], dict[str, Any]]] = {
        "POST /api/v1/reports": lambda: _report_body(f"matrix submission {n}"),
        "POST /api/v1/assets": lambda: SBOM,
        "POST /api/v1/alerts/{alert_id}/ack": lambda: {"note": "seen it"},
        "POST /api/v1/reports/{report_id}/state": lambda: {"target": "triaged", "reason": "looked at it"},
        "POST /api/v1/reports/{report_id}/cluster": lambda: {"action": "confirm", "reason": "same bug"},
        "POST /api/v1/reports/{report_id}/reproductions": lambda: {
            "poc": {"kind": "script", "source": "import matrix_package"},
            "oracle": {"kind": "exception", "exception": "ValueError"},
        },
        "POST /api/v1/frontier/criteria": lambda: {"yaml": CRITERIA},
        "POST /api/v1/frontier/models": lambda: {"name": f"Registered {n}", "version": "1", "modality": "text"},
        "POST /api/v1/frontier/models/{model_id}/self-assessment": lambda: {"criteria_id": CRITERIA_ID},
        "POST /api/v1/frontier/models/{model_id}/determinations": lambda: {"criteria_id": CRITERIA_ID},
        "POST /api/v1/frontier/models/{model_id}/classified-reviews": lambda: {"holder": "NSA/CSS"},
        "POST /api/v1/frontier/classified-reviews/{review_id}/conclusion": lambda: {"designation": None},
        "POST /api/v1/frontier/models/{model_id}/submissions": lambda: {
            "partner_release_on": (TODAY + timedelta(days=20)).isoformat(),
            "endpoint_ref": "https://api.example/preview",
        },
        "POST /api/v1/frontier/submissions/{submission_id}/release-date": lambda: {
            "partner_release_on": release,
            "reason": "launch moved",
        },
        "POST /api/v1/frontier/submissions/{submission_id}/withdraw": lambda: {"reason": "not ready"},
        "POST /api/v1/frontier/submissions/{submission_id}/milestones/{milestone}": lambda: {"note": "interim done"},
        "POST /api/v1/frontier/submissions/{submission_id}/grants": lambda: {
            "partner": "Mercy Hospital",
            "justification": "runs systems the model could affect",
            "starts_on": TODAY.isoformat(),
            "ends_on": (TODAY + timedelta(days=2)).isoformat(),
        },
        "POST /api/v1/frontier/grants/{grant_id}/approve": lambda: {"reason": "approved"},
        "POST /api/v1/frontier/grants/{grant_id}/decline": lambda: {"reason": "declined"},
        "POST /api/v1/frontier/grants/{grant_id}/revoke": lambda: {"reason": "revoked"},
        "POST /api/v1/frontier/grants/{grant_id}/access": lambda: {"purpose": "validate patches"},
        "POST /api/v1/frontier/models/{model_id}/evaluations": lambda: {
            "suite": "clearinghouse-cyber",
            "run_id": f"run-{n}",
            "metrics": {"ctf_solve_rate": {"value": 0.4}},
        },
        "POST /api/v1/notifications/subscriptions": lambda: {"channel": "email", "addresses": [f"n{n}@example.org"]},
        "PATCH /api/v1/notifications/subscriptions/{subscription_id}": lambda: {"enabled": n % 2 == 0},
        "POST /v1/query": lambda: OSV_QUERY,
        "POST /v1/querybatch": lambda: {"queries": [OSV_QUERY]},
        "POST /api/v1/cases": lambda: {"report_ids": [world.validated_report()]},
        "POST /api/v1/cases/{case_id}/reports": lambda: {"report_ids": [world.validated_report()]},
        "POST /api/v1/cases/{case_id}/participants": lambda: {"organisation": "Southwind AI", "reason": "matrix"},
        "POST /api/v1/cases/{case_id}/state": lambda: {"target": "vendors_notified", "reason": "told"},
        "POST /api/v1/cases/{case_id}/embargo": lambda: {
            "public_at": (TODAY + timedelta(days=30)).isoformat() + "T09:00",
            "zone": "Europe/Berlin",
        },
        "POST /api/v1/cases/{case_id}/vendor-status": lambda: {"vendor": "Acme Software", "status": "affected"},
        "POST /api/v1/cases/{case_id}/messages": lambda: {"body": f"matrix message {n}"},
        "POST /api/v1/cases/{case_id}/publish": lambda: {},
        "POST /api/v1/vendors/declarations": lambda: {
            "kind": "purl",
            "pattern": f"pkg:pypi/matrix-declared-{n}",
            "organisation": "Acme Software",
        },
        "POST /api/v1/frontier/models/{model_id}/findings": lambda: {
            "severity": "low",
            "capability_area": "exploitation",
            "title": "A finding",
            "description": "Something the evaluators saw.",
        },
    }
    return bodies[operation]() if operation in bodies else None


def _call(world: World, operation: str, principal: str, object_id: str | None) -> tuple[int, Any]:
    method, template = operation.split(" ", 1)
    path = template.replace("{milestone}", "interim_findings")
    params: dict[str, str] = {}
    if operation == "GET /api/v1/affected":
        params = PACKAGE
    elif operation == "GET /.well-known/csaf/{directory}/{year}/{filename}":
        assert object_id is not None
        path = f"/.well-known/csaf/{CSAF_DIRECTORY[object_id]}/2026/{object_id.lower()}.json"
    elif "{object_id}" in path:  # TAXII: the record's vulnerability object, in its label's collection
        assert object_id is not None
        collection = next(c.id for c in COLLECTIONS.values() if c.labels == {Tlp(RECORD_TLP[object_id])})
        path = path.replace("{collection_id}", collection).replace("{object_id}", vulnerability_id(object_id))
    elif object_id is not None and "{" in path:
        path = path.split("{")[0] + object_id + path.split("}", 1)[1]
    response = world.client.request(
        method, path, json=_body(operation, world), params=params, headers=world.headers[principal]
    )
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json", (operation, response.text)
    media_type = response.headers["content-type"].split(";")[0]  # TAXII's has a version parameter
    body = response.json() if media_type.endswith("json") else None
    return response.status_code, body


def _listed(operation: str, body: Any, object_id: str) -> bool:
    if operation == "GET /api/v1/affected":
        return object_id in {r["osv"]["id"] for r in body["records"]}
    if operation.startswith("GET /api/v1/notifications/"):
        items = body["subscriptions"] if "subscriptions" in body else body["deliveries"]
        return object_id in {item["id"] for item in items}
    if operation == "GET /taxii2/api/collections/":
        return object_id in {c["id"] for c in body["collections"]}
    if operation == "POST /v1/query":
        return object_id in {v["id"] for v in body.get("vulns", [])}
    if operation == "POST /v1/querybatch":
        return object_id in {v["id"] for v in body["results"][0].get("vulns", [])}
    if operation == "GET /api/v1/cases":
        return object_id in {c["id"] for c in body["cases"]}
    key = next(k for k in ("reports", "assets", "alerts") if k in body)
    return object_id in {r["id"] for r in body[key]}


@pytest.fixture
def world(database_url: str, engine: sa.Engine, tmp_path: Path) -> Iterator[World]:
    # The matrix sends hundreds of requests, many with bad tokens, from one address: limits are tested elsewhere.
    settings = Settings(
        home=tmp_path,
        database_url=database_url,
        embedded_worker=False,
        rate_per_second=1e6,
        rate_burst=1_000_000,
        address_rate_per_second=1e6,
        address_rate_burst=1_000_000,
        auth_failures_per_minute=1e6,
    )
    with TestClient(create_app(settings)) as client:
        yield World(client, engine, tmp_path)


def test_every_operation_has_a_row_and_every_row_an_operation(world: World) -> None:
    document = world.client.get("/openapi.json").json()
    operations = {f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item}
    assert sorted(operations - set(table.TABLE)) == [], "operations without a row in permission_table.TABLE"
    assert sorted(set(table.TABLE) - operations) == [], "rows for operations the API does not have"


def test_permission_matrix(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    document = world.client.get("/openapi.json").json()
    operations = sorted(f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item)
    wrong: list[str] = []
    cells = 0
    for operation in operations:
        row = table.TABLE[operation]
        for principal in table.PRINCIPALS:
            for object_name in sorted(row.sees) or [None]:
                want = table.expected(row, principal, object_name)
                admitted = want == row.ok or want == "listed"
                object_id = None
                if object_name is not None:
                    fresh = row.fresh and admitted
                    object_id = world.make(object_name) if fresh else world.shared[object_name]
                status, body = _call(world, operation, principal, object_id)
                got: int | str = status
                if row.listing and status == 200 and object_id is not None:
                    got = "listed" if _listed(operation, body, object_id) else "absent"
                cells += 1
                if got != want:
                    detail = body.get("detail") if isinstance(body, dict) else None
                    wrong.append(f"{operation} as {principal} on {object_name}: got {got}, want {want} ({detail})")
    CELLS_CHECKED.append(cells)
    with capsys.disabled():
        print(f"\npermission matrix: {cells} cells checked, {len(wrong)} wrong")
    assert wrong == []
