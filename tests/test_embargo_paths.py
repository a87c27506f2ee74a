"""The enforced embargo: every path that reads records or cases, probed with the embargoed advisory of an open case.

Each entry of `READ_PATHS` names a read path and a probe answering "does this caller get the advisory?". Until
publication, non-participants (no token, another vendor) never do; participants do wherever the path serves them
(exports never carry an unreleased record, to anyone). A new read path (feeds, partner sharing, search) appends its
probe here. The CLI's `show` and `affected` act as the store's operator (staff) and so have no non-participant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from clearinghouse.cases.service import CaseService
from clearinghouse.config import Settings
from clearinghouse.feeds.csaf_provider import DIRECTORIES as CSAF_DIRECTORIES
from clearinghouse.feeds.stix import vulnerability_id
from clearinghouse.feeds.taxii import COLLECTIONS as TAXII_COLLECTIONS
from clearinghouse.formats.csaf import file_name as csaf_file_name
from clearinghouse.identity.model import OrgKind, Principal, Role
from clearinghouse.intake.lifecycle import ReportState
from clearinghouse.intake.service import ReportService
from clearinghouse.notify.service import NotificationService
from clearinghouse.notify.views import SubscriptionRequest
from clearinghouse.partners.service import AssetService
from clearinghouse.policy import ANONYMOUS, Actor, Operator
from clearinghouse.policy.cases import CaseRole
from clearinghouse.policy.rules import export_visibility
from clearinghouse.records.model import Tlp
from clearinghouse.sharing.export import ExportFormat, export_records
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.records import RecordStore
from clearinghouse.store.tables import notification_deliveries
from clearinghouse.store.web_accounts import WebAccounts
from clearinghouse.web.app import create_app  # the API with the web pages: both kinds of read path

CVE = "CVE-2026-49999"
PACKAGE = {"ecosystem": "PyPI", "package": "embargoed-pkg", "version": "1.0"}
SBOM_COMPONENT = {"bom-ref": "pkg", "name": "embargoed-pkg", "version": "1.0", "purl": "pkg:pypi/embargoed-pkg@1.0"}
REPORT = {
    "kind": "structured",
    "provenance": {"origin": "human"},
    "report": {
        "title": "Path traversal in embargoed-pkg's archive extractor",
        "description": "Archive members named with ../ are written outside the target directory when extracted.",
        "affected": [{"purl": "pkg:pypi/embargoed-pkg", "versions": ["1.0"]}],
    },
}


@dataclass
class Embargoed:
    client: TestClient
    engine: sa.Engine
    tmp_path: Path
    case_id: str
    advisory_id: str
    headers: dict[str, dict[str, str]]
    actors: dict[str, Actor]
    later_report: str  # submitted after the case opened, naming its CVE: de-duplication finds the advisory
    assets: dict[str, str] = field(default_factory=dict)  # partners' assets naming embargoed-pkg 1.0


Probe = Callable[[Embargoed, str], bool]


def _status(world: Embargoed, who: str, path: str, **params: Any) -> Any:
    return world.client.get(path, params=params, headers=world.headers[who])


def _record_by_id(world: Embargoed, who: str) -> bool:
    return bool(_status(world, who, f"/api/v1/records/{world.advisory_id}").status_code == 200)


def _record_by_alias(world: Embargoed, who: str) -> bool:
    response = _status(world, who, f"/api/v1/records/{CVE}")
    return response.status_code == 200 and world.advisory_id in {r["osv"]["id"] for r in response.json()["records"]}


def _affected(world: Embargoed, who: str) -> bool:
    response = _status(world, who, "/api/v1/affected", **PACKAGE)
    assert response.status_code == 200, response.text
    return world.advisory_id in {r["osv"]["id"] for r in response.json()["records"]}


def _case(world: Embargoed, who: str) -> bool:
    return bool(_status(world, who, f"/api/v1/cases/{world.case_id}").status_code == 200)


def _case_list(world: Embargoed, who: str) -> bool:
    response = _status(world, who, "/api/v1/cases")
    return response.status_code == 200 and world.case_id in {c["id"] for c in response.json()["cases"]}


def _report_duplicates(world: Embargoed, who: str) -> bool:
    response = _status(world, who, f"/api/v1/reports/{world.later_report}")
    if response.status_code != 200:
        return False
    candidates = (response.json().get("duplicates") or {}).get("candidates", [])
    return f"record:{world.advisory_id}" in {c["id"] for c in candidates}


def _export(world: Embargoed, who: str) -> bool:
    visibility = export_visibility(world.actors[who], Tlp.RED)
    records = RecordStore(world.engine).find(world.advisory_id)
    out = world.tmp_path / f"export-{who}"
    return bool(export_records(records, ExportFormat.OSV, out, visibility).written)


def _notifications(world: Embargoed, who: str) -> bool:
    """Notifications carry what the case tells its participants: each organisation's deliveries log shows them."""
    response = _status(world, who, "/api/v1/notifications/deliveries")
    return response.status_code == 200 and world.case_id in {d["subject"] for d in response.json()["deliveries"]}


def _osv_query(world: Embargoed, who: str) -> bool:
    query = {"package": {"ecosystem": "PyPI", "name": PACKAGE["package"]}, "version": PACKAGE["version"]}
    single = world.client.post("/v1/query", json=query, headers=world.headers[who])
    batch = world.client.post("/v1/querybatch", json={"queries": [query]}, headers=world.headers[who])
    assert single.status_code == batch.status_code == 200, single.text + batch.text
    listed = [v["id"] for v in single.json().get("vulns", [])] + [
        v["id"] for v in batch.json()["results"][0].get("vulns", [])
    ]
    return world.advisory_id in listed


def _osv_vuln(world: Embargoed, who: str) -> bool:
    return bool(_status(world, who, f"/v1/vulns/{world.advisory_id}").status_code == 200)


def _csaf(world: Embargoed, who: str) -> bool:
    name = csaf_file_name(world.advisory_id)
    for directory in CSAF_DIRECTORIES:
        index = _status(world, who, f"/.well-known/csaf/{directory}/index.txt")
        feed = _status(world, who, f"/.well-known/csaf/{directory}/feed.json")
        if name in index.text or world.advisory_id in feed.text:
            return True
        for year in range(2024, 2030):
            if _status(world, who, f"/.well-known/csaf/{directory}/{year}/{name}").status_code == 200:
                return True
    return False


def _taxii(world: Embargoed, who: str) -> bool:
    vulnerability = vulnerability_id(world.advisory_id)
    listed = _status(world, who, "/taxii2/api/collections/").json().get("collections", [])
    for collection in {*TAXII_COLLECTIONS, *(c["id"] for c in listed)}:  # partners' early-warning ones too
        objects = _status(world, who, f"/taxii2/api/collections/{collection}/objects/", limit=1000)
        one = _status(world, who, f"/taxii2/api/collections/{collection}/objects/{vulnerability}/")
        if world.advisory_id in objects.text or one.status_code == 200:
            return True
    return False


WEB_PASSWORD = "a long enough passphrase"


def _page(world: Embargoed, who: str, path: str) -> Any:
    """A page as `who` sees it in a browser: signed in with a password (anonymous: not signed in)."""
    with TestClient(world.client.app) as browser:
        if who != "anonymous":
            form = browser.get("/sign-in").text
            token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            signed = browser.post("/sign-in", data={"csrf_token": token, "login": who, "password": WEB_PASSWORD})
            assert signed.status_code == 200, signed.text
        return browser.get(path, follow_redirects=False)  # anonymous: a redirect to sign in, not a page


def _web_advisory(world: Embargoed, who: str) -> bool:
    return bool(_page(world, who, f"/advisories/{world.advisory_id}").status_code == 200)


def _web_advisory_by_alias(world: Embargoed, who: str) -> bool:
    page = _page(world, who, f"/advisories/{CVE}")
    return page.status_code == 200 and world.advisory_id in page.text


def _web_download(world: Embargoed, who: str) -> bool:
    return bool(_page(world, who, f"/advisories/{world.advisory_id}/osv.json").status_code == 200)


def _web_case(world: Embargoed, who: str) -> bool:
    return bool(_page(world, who, f"/cases/{world.case_id}").status_code == 200)


def _web_case_list(world: Embargoed, who: str) -> bool:
    page = _page(world, who, "/cases")
    return page.status_code == 200 and world.case_id in page.text


def _alerts(world: Embargoed, who: str) -> bool:
    response = _status(world, who, "/api/v1/alerts")
    return response.status_code == 200 and world.advisory_id in {a["record_id"] for a in response.json()["alerts"]}


def _asset_matches(world: Embargoed, who: str) -> bool:
    if who not in world.assets:
        return False
    response = _status(world, who, f"/api/v1/assets/{world.assets[who]}/matches")
    return response.status_code == 200 and world.advisory_id in {m["record_id"] for m in response.json()["matches"]}


def _asset_vex(world: Embargoed, who: str) -> bool:
    if who not in world.assets:
        return False
    seen = set()
    for format_ in ("cyclonedx", "csaf"):
        response = _status(world, who, f"/api/v1/assets/{world.assets[who]}/vex", format=format_)
        if response.status_code == 200:
            document = response.json()
            seen |= {v.get("id") for v in document.get("vulnerabilities", [])}
            seen |= {i["text"] for v in document.get("vulnerabilities", []) for i in v.get("ids", [])}
    return world.advisory_id in seen


def _alert_notification(world: Embargoed, who: str) -> bool:
    """Whether an `alert.raised` webhook or e-mail about the advisory was queued for the caller's organisation."""
    actor = world.actors[who]
    if not isinstance(actor, Principal):
        return False
    with world.engine.connect() as conn:
        bodies = conn.execute(
            sa.select(notification_deliveries.c.body).where(
                notification_deliveries.c.event_kind == "alert.raised",
                notification_deliveries.c.organisation_id == actor.organisation.id,
            )
        ).scalars()
        return any(alert["record_id"] == world.advisory_id for body in bodies for alert in body["alerts"])


@dataclass(frozen=True)
class ReadPath:
    name: str
    probe: Probe
    participants_see: bool = True
    staff_see: bool = True  # False for paths that hand out released records only, to anyone (exports, downloads)
    seen_by: frozenset[str] | None = None  # the participants the path serves (None: every participant)


READ_PATHS: list[ReadPath] = [
    ReadPath("GET /api/v1/records/{id}", _record_by_id),
    ReadPath("GET /api/v1/records/{alias}", _record_by_alias),
    ReadPath("GET /api/v1/affected", _affected),
    ReadPath("GET /api/v1/cases/{case_id}", _case),
    ReadPath("GET /api/v1/cases", _case_list),
    ReadPath("export (CLI `export`, sharing.export)", _export, participants_see=False, staff_see=False),
    # A reporter is never told which non-public record its report resembles (staff are: see the test below).
    ReadPath("GET /api/v1/reports/{id} duplicates", _report_duplicates, participants_see=False),
    # Deliveries are read by the subscribed organisations (notifications:manage), not by analysts.
    ReadPath("notifications (webhooks, e-mail; GET /api/v1/notifications/deliveries)", _notifications, staff_see=False),
    ReadPath("POST /v1/query, POST /v1/querybatch", _osv_query),
    ReadPath("GET /v1/vulns/{id}", _osv_vuln),
    # The CSAF and TAXII feeds hand unreleased records to staff (and TAXII to early-warning partners) only.
    ReadPath("CSAF provider (index.txt, feed.json, documents)", _csaf, participants_see=False),
    # TAXII also serves each partner named for early warning its own collection (feeds' partner audiences).
    ReadPath("TAXII (objects, object by id)", _taxii, seen_by=frozenset({"hospital"})),
    ReadPath("page /advisories/{id}", _web_advisory),
    ReadPath("page /advisories/{alias}", _web_advisory_by_alias),
    ReadPath("download /advisories/{id}/osv.json", _web_download, participants_see=False, staff_see=False),
    ReadPath("page /cases/{case_id}", _web_case),
    ReadPath("page /cases", _web_case_list),
    # Partners' alerts, matches, VEX and alert notifications: only the partner the case names for early warning.
    ReadPath("GET /api/v1/alerts", _alerts, seen_by=frozenset({"hospital"})),
    ReadPath("GET /api/v1/assets/{id}/matches", _asset_matches, seen_by=frozenset({"hospital"})),
    ReadPath("GET /api/v1/assets/{id}/vex", _asset_vex, seen_by=frozenset({"hospital"})),
    ReadPath("alert.raised webhook / e-mail", _alert_notification, seen_by=frozenset({"hospital"})),
]
NON_PARTICIPANTS = ("anonymous", "outsider", "bank")
PARTICIPANTS = ("vendor", "reporter", "hospital")


@pytest.fixture
def embargoed(database_url: str, engine: sa.Engine, tmp_path: Path) -> Iterator[Embargoed]:
    identity = IdentityStore(engine)
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    actors: dict[str, Actor] = {"anonymous": ANONYMOUS}
    for who, name, kind, role in (
        ("analyst", "Clearinghouse", OrgKind.CLEARINGHOUSE, Role.ANALYST),
        ("reporter", "Reporter Org", OrgKind.REPORTER, Role.REPORTER),
        ("vendor", "Acme Software", OrgKind.VENDOR, Role.VENDOR),
        ("outsider", "Gamma Corp", OrgKind.VENDOR, Role.VENDOR),
        ("hospital", "Mercy Hospital", OrgKind.CRITICAL_INFRASTRUCTURE, Role.PARTNER),  # named for early warning
        ("bank", "First Bank", OrgKind.CRITICAL_INFRASTRUCTURE, Role.PARTNER),  # not named
    ):
        identity.create_organisation(name, kind, "energy" if kind is OrgKind.CRITICAL_INFRASTRUCTURE else None)
        grant = identity.create_token(name, who, role)
        headers[who] = {"Authorization": f"Bearer {grant.plaintext}"}
        actors[who] = identity.authenticate(grant.plaintext)
        WebAccounts(engine).create_user(name, who, role, WEB_PASSWORD)
        # Every organisation is subscribed before the case opens, so notifications are probed like any path.
        if who != "analyst":  # staff hear through the case itself; an analyst's token does not manage them
            request = SubscriptionRequest(channel="email", addresses=[f"{who}@example.org"])
            NotificationService(engine).subscribe(actors[who], request)
    settings = Settings(home=tmp_path, database_url=database_url, embedded_worker=False, rate_limits=False)
    with TestClient(create_app(settings)) as client:
        assets = {}
        for partner in ("hospital", "bank"):
            organisation = identity.organisation(actors[partner].organisation.name)  # type: ignore[union-attr]
            NotificationService(engine, settings).subscribe(
                Operator("test"),
                SubscriptionRequest(
                    channel="email", addresses=[f"soc@{partner}.example"], organisation=organisation.name
                ),
            )
            sbom = {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [SBOM_COMPONENT]}
            response = client.post("/api/v1/assets", json=sbom, headers=headers[partner])
            assets[partner] = response.json()["asset"]["id"]
        response = client.post("/api/v1/reports", json=REPORT, headers=headers["reporter"])
        report_id = response.json()["report_ids"][0]
        operator = Operator("test")
        for target in (ReportState.TRIAGED, ReportState.VALIDATED):
            ReportService(engine).change_state(operator, report_id, target, "reproduced")
        cases = CaseService(engine)
        case = cases.open_case(operator, [report_id], cve_id=CVE)
        cases.add_participant(operator, case.id, "Acme Software", CaseRole.VENDOR, "purl pkg:pypi/embargoed-pkg")
        cases.add_participant(operator, case.id, "Mercy Hospital", CaseRole.EARLY_WARNING, "runs embargoed-pkg")
        AssetService(engine).match_records([case.advisory_id])  # what the queued partners.match_records job does
        later = {**REPORT, "report": {**REPORT["report"], "description": f"Same as {CVE}: ../ escapes the target."}}
        later_id = client.post("/api/v1/reports", json=later, headers=headers["reporter"]).json()["report_ids"][0]
        client.app.state.worker.run_until_idle()  # type: ignore[attr-defined]
        yield Embargoed(
            client, engine, tmp_path, case.id, case.advisory_id, headers, actors, later_report=later_id, assets=assets
        )


def test_staff_see_what_the_probes_look_for(embargoed: Embargoed) -> None:
    """The probes are not vacuous: each finds the advisory for clearinghouse staff where the path serves staff
    (paths serving only named partners, `seen_by`, are checked by their partner in the test below)."""
    for path in READ_PATHS:
        if path.staff_see and path.seen_by is None:
            assert path.probe(embargoed, "analyst"), path.name


@pytest.mark.parametrize("path", READ_PATHS, ids=[p.name for p in READ_PATHS])
def test_the_embargoed_advisory_reaches_participants_only(embargoed: Embargoed, path: ReadPath) -> None:
    for who in NON_PARTICIPANTS:
        assert not path.probe(embargoed, who), f"{path.name} shows the embargoed advisory to {who}"
    for who in PARTICIPANTS:
        served = path.seen_by is None or who in path.seen_by
        assert path.probe(embargoed, who) is (path.participants_see and served), f"{path.name} as {who}"
