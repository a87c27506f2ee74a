"""The web interface over HTTP (SQLite and PostgreSQL): sign-in and its cookies, CSRF, who reaches which page
(invisible is 404), and the pages' actions going through the same services as the API."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import orjson
import sqlalchemy as sa
from fastapi.testclient import TestClient

from clearinghouse.config import Settings
from clearinghouse.identity import passwords
from clearinghouse.intake.lifecycle import ReportState
from clearinghouse.intake.service import ReportService
from clearinghouse.policy import Operator
from clearinghouse.store.audit import AuditLog
from clearinghouse.store.web_accounts import WebAccounts
from clearinghouse.web.app import create_app
from tests.web.conftest import csrf_of, sign_in
from tests.web.world import PASSWORD, World


def test_a_visitor_is_sent_to_sign_in_and_lands_where_they_were_going(web_client: TestClient, world: World) -> None:
    web_client.cookies.clear()
    first = web_client.get("/", follow_redirects=False)
    assert (first.status_code, first.headers["location"]) == (303, "/sign-in")
    report = f"/reports/{world.reports['xss']}"
    bounced = web_client.get(report, follow_redirects=False)
    assert bounced.status_code == 303 and bounced.headers["location"] == f"/sign-in?next={report}"
    page = web_client.get(bounced.headers["location"])
    form = {"csrf_token": csrf_of(page.text), "login": "ana", "password": PASSWORD, "next": report}
    signed_in = web_client.post("/sign-in", data=form, follow_redirects=False)
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, report)
    cookie = signed_in.headers["set-cookie"].lower()
    assert "ch_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie.split("ch_presession")[0]  # plain HTTP here; Secure behind TLS (next test)
    assert "Stored XSS in jinja2" in web_client.get(report).text


def test_cookies_are_secure_behind_tls(web_settings: object, world: World, web_client: TestClient) -> None:
    secure = TestClient(web_client.app, base_url="https://testserver")
    page = secure.get("/sign-in")
    assert "secure" in page.headers["set-cookie"].lower()
    form = {"csrf_token": csrf_of(page.text), "login": "ana", "password": PASSWORD, "next": ""}
    signed_in = secure.post("/sign-in", data=form, follow_redirects=False)
    assert "secure" in signed_in.headers["set-cookie"].split("ch_presession")[0].lower()


def test_a_wrong_password_is_one_message_and_sign_out_ends_the_session(web_client: TestClient, world: World) -> None:
    web_client.cookies.clear()
    token = csrf_of(web_client.get("/sign-in").text)
    wrong = web_client.post("/sign-in", data={"csrf_token": token, "login": "ana", "password": "nope nope nope"})
    unknown = web_client.post("/sign-in", data={"csrf_token": token, "login": "nobody", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert "wrong user name, password or code" in wrong.text and "wrong user name, password or code" in unknown.text

    sign_in(web_client, "ana")
    inbox = web_client.get("/inbox")
    assert inbox.status_code == 200
    out = web_client.post("/sign-out", data={"csrf_token": csrf_of(inbox.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert web_client.get("/inbox", follow_redirects=False).status_code == 303  # back to sign-in


def test_totp_sign_in_needs_the_code(web_client: TestClient, world: World, engine: sa.Engine) -> None:
    from datetime import UTC, datetime

    secret = WebAccounts(engine).enable_totp("eve")
    web_client.cookies.clear()
    token = csrf_of(web_client.get("/sign-in").text)
    without = web_client.post("/sign-in", data={"csrf_token": token, "login": "eve", "password": PASSWORD})
    assert without.status_code == 401
    code = passwords.totp_code(secret, datetime.now(UTC))
    form = {"csrf_token": token, "login": "eve", "password": PASSWORD, "code": code}
    signed_in = web_client.post("/sign-in", data=form, follow_redirects=False)
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/frontier")


def test_a_cross_site_form_post_is_refused(web_client: TestClient, world: World, engine: sa.Engine) -> None:
    sign_in(web_client, "ana")
    report_id = world.reports["xss"]
    page = web_client.get(f"/reports/{report_id}")
    token = csrf_of(page.text)
    move = {"csrf_token": token, "target": "validated", "reason": "reproduced"}
    # Another site's page posting the analyst's browser to us: refused by Origin even with a stolen token...
    forged = web_client.post(
        f"/reports/{report_id}/state", data=move, headers={"Origin": "https://evil.example"}, follow_redirects=False
    )
    assert forged.status_code == 403 and "csrf-refused" in forged.text
    # ...and without the session's token whatever the Origin says.
    tokenless = web_client.post(f"/reports/{report_id}/state", data={**move, "csrf_token": "guess"})
    assert tokenless.status_code == 403 and "csrf-refused" in tokenless.text
    moves = [e.actor for e in AuditLog(engine).entries("report", report_id) if e.action == "report.state"]
    assert "ana@Clearinghouse" not in moves  # only the pipeline's automatic triage moved it
    assert "<strong>triaged</strong>" in web_client.get(f"/reports/{report_id}").text


def test_an_analyst_moves_a_report_with_a_reason_that_is_audited(
    web_client: TestClient, world: World, engine: sa.Engine
) -> None:
    sign_in(web_client, "ana")
    report_id = world.reports["xss"]
    token = csrf_of(web_client.get(f"/reports/{report_id}").text)
    moved = web_client.post(
        f"/reports/{report_id}/state",
        data={"csrf_token": token, "target": "validated", "reason": "reproduced on 3.1.2"},
        headers={"Origin": "http://testserver"},
    )
    assert moved.status_code == 200 and "<strong>validated</strong>" in moved.text
    entry = [e for e in AuditLog(engine).entries("report", report_id) if e.action == "report.state"][-1]
    assert entry.actor == "ana@Clearinghouse" and entry.details["reason"] == "reproduced on 3.1.2"
    assert entry.token_id is not None and entry.token_id.startswith("s:")  # the session that acted
    illegal = web_client.post(
        f"/reports/{report_id}/state", data={"csrf_token": token, "target": "received", "reason": "undo"}
    )
    assert illegal.status_code == 409 and "validated" in illegal.text


def test_pages_of_another_organisation_are_404_by_url(web_client: TestClient, world: World) -> None:
    rita_report = f"/reports/{world.reports['sqli']}"
    sign_in(web_client, "otto")  # another reporter organisation
    assert web_client.get(rita_report).status_code == 404
    assert web_client.get("/reports/no-such-report").status_code == 404  # the same answer as for a real id
    assert web_client.get(rita_report).text.count("no report with id") == 1
    sign_in(web_client, "pat")  # a hospital: sees no model and no report
    assert web_client.get(f"/frontier/models/{world.model_id}").status_code == 404
    assert web_client.get(f"/frontier/models/{world.model_id}/report").status_code == 404
    # A partner reads no reports at all (the API says 403: the token lacks the scope); a page says "not found".
    assert web_client.get(rita_report).status_code == 404
    for who in ("pat", "ana", "dev"):
        sign_in(web_client, who)
        assert web_client.get("/admin").status_code == 404
        assert web_client.get("/admin/audit/verify").status_code == 404
    sign_in(web_client, "rita")  # clusters span organisations: staff only, even for a cluster led by her report
    assert web_client.get(f"/clusters/{world.reports['sqli']}").status_code == 404
    inbox = web_client.get("/inbox").text
    assert "SQL injection in tensorflow" in inbox and "Stored XSS" not in inbox  # only her organisation's


def test_the_inbox_searches_and_filters(web_client: TestClient, world: World) -> None:
    sign_in(web_client, "ana")
    everything = web_client.get("/inbox").text
    assert "3 reports" in everything
    assert "1 report<" in web_client.get("/inbox?q=jinja2+sandbox").text
    assert "0 reports" in web_client.get("/inbox?q=nothing-like-this").text
    by_person = web_client.get("/inbox?origin=human").text
    assert "Stored XSS" in by_person and "SQL injection" not in by_person
    partial = web_client.get("/inbox?q=xss", headers={"HX-Request": "true"})
    assert "<html" not in partial.text and "Stored XSS" in partial.text  # htmx swaps the rows alone
    assert web_client.get("/inbox?q=%25").status_code == 200  # LIKE wildcards are searched for, not expanded
    assert "0 reports" in web_client.get("/inbox?q=%25%25%25zz").text


def test_a_duplicate_cluster_side_by_side_and_confirmed(
    web_client: TestClient, world: World, engine: sa.Engine
) -> None:
    sign_in(web_client, "ana")
    cluster = world.reports["sqli"]
    page = web_client.get(f"/clusters/{cluster}")
    assert page.status_code == 200
    assert "pypi/tensorflow" in page.text.lower() and "Seen again on 2.7.1." in page.text
    assert 'class="added"' in page.text  # the line only the second report has
    form = {
        "csrf_token": csrf_of(page.text),
        "report_id": world.reports["sqli-again"],
        "action": "confirm",
        "reason": "same loader, same query",
    }
    assert web_client.post(f"/clusters/{cluster}/decide", data=form).status_code == 200
    entries = AuditLog(engine).entries("report", world.reports["sqli-again"])
    assert entries[-1].action == "cluster.confirm" and entries[-1].details["reason"] == "same loader, same query"


def test_the_frontier_pages_show_the_review_and_its_charts(web_client: TestClient, world: World) -> None:
    sign_in(web_client, "eve")
    calendar = web_client.get("/frontier").text
    assert "Meridian 4.0" in calendar and "final report due" in calendar and "partner release" in calendar
    model = web_client.get(f"/frontier/models/{world.model_id}").text
    assert "<svg" in model and "ctf_solve_rate: 0.62 [0.55, 0.69]" in model
    assert "Mercy Hospital" in model and "Writes working exploits" in model
    sign_in(web_client, "dev")  # the developer sees its own model
    assert web_client.get(f"/frontier/models/{world.model_id}").status_code == 200


def test_the_administration_page_lists_and_verifies(web_client: TestClient, world: World) -> None:
    sign_in(web_client, "root")
    page = web_client.get("/admin")
    assert page.status_code == 200
    assert "Northwind AI" in page.text and "rita" in page.text and "Verify the whole chain" in page.text
    assert PASSWORD not in page.text and "$argon2" not in page.text
    assert "Chain verified" in web_client.get("/admin/audit/verify").text
    fragment = web_client.get("/admin/audit/verify", headers={"HX-Request": "true"}).text
    assert fragment.startswith('<p class="ok">Chain verified') and "<html" not in fragment


def test_a_public_advisory_and_its_downloads(web_client: TestClient, world: World) -> None:
    web_client.cookies.clear()
    page = web_client.get("/advisories/CVE-2022-21736")
    assert page.status_code == 200 and "PYSEC-2022-60" in page.text
    osv = web_client.get("/advisories/PYSEC-2022-60/osv.json")
    assert osv.status_code == 200 and orjson.loads(osv.content)["id"] == "PYSEC-2022-60"
    assert 'filename="PYSEC-2022-60.json"' in osv.headers["content-disposition"]
    csaf = orjson.loads(web_client.get("/advisories/PYSEC-2022-60/csaf.json").content)
    assert csaf["document"]["csaf_version"] == "2.0"
    assert orjson.loads(web_client.get("/advisories/PYSEC-2022-60/cve5.json").content)["cveMetadata"]["cveId"] == (
        "CVE-2022-21736"
    )
    assert web_client.get("/advisories/PYSEC-2022-60/pdf.json").status_code == 404
    assert web_client.get("/advisories/NO-SUCH-1").status_code == 404


def test_the_report_form_asks_for_provenance(web_client: TestClient, world: World) -> None:
    sign_in(web_client, "rita")
    page = web_client.get("/submit")
    form = {
        "csrf_token": csrf_of(page.text),
        "title": "Path traversal in requests sessions",
        "description": "A redirect to a file URL makes the session read local files into the response body.",
        "ecosystem": "PyPI",
        "package": "requests",
        "versions": "2.31.0, 2.32.0",
        "origin": "ai",
        "model": "",
        "tool": "",
    }
    refused = web_client.post("/submit", data=form)
    assert refused.status_code == 422 and "must name the model or the tool" in refused.text
    sent = web_client.post("/submit", data={**form, "model": "example-model-2", "human_verified": "yes"})
    assert sent.status_code == 200 and "Path traversal in requests sessions" in sent.text
    assert "example-model-2" in sent.text and "checked by a person" in sent.text


def test_each_role_starts_on_its_own_page_and_unknown_pages_are_html(web_client: TestClient, world: World) -> None:
    for login, home in [("ana", "/inbox"), ("rita", "/inbox"), ("eve", "/frontier"), ("dev", "/frontier")]:
        sign_in(web_client, login)
        assert web_client.get("/", follow_redirects=False).headers["location"] == home
    sign_in(web_client, "pat")  # a hospital partner starts in its portal
    assert web_client.get("/", follow_redirects=False).headers["location"] == "/partner"
    missing = web_client.get("/no-such-page")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    api_missing = web_client.get("/api/v1/no-such-thing")
    assert api_missing.status_code == 404 and api_missing.headers["content-type"] == "application/problem+json"
    assert web_client.put("/inbox").status_code == 405


def test_one_address_guessing_across_accounts_is_stopped(
    web_settings: Settings, world: World, web_client: TestClient
) -> None:
    limited = replace(web_settings, rate_limits=True, auth_failures_per_minute=3)
    with TestClient(create_app(limited)) as client:
        token = csrf_of(client.get("/sign-in").text)
        # One wrong guess each, so no account reaches its lock-out; the fourth overdraws the budget of three.
        for login in ("ana", "rita", "otto", "pat"):
            guess = {"csrf_token": token, "login": login, "password": "Summer2026!!"}
            assert client.post("/sign-in", data=guess).status_code == 401
        right = {"csrf_token": token, "login": "eve", "password": PASSWORD}
        refused = client.post("/sign-in", data=right)
        assert refused.status_code == 429 and "too many requests" in refused.text


def test_pages_are_not_cached_framed_or_open_to_other_sites_scripts(web_client: TestClient, world: World) -> None:
    sign_in(web_client, "ana")
    for path in ("/inbox", f"/reports/{world.reports['xss']}", "/sign-in", "/no-such-page"):
        headers = web_client.get(path).headers
        assert headers["cache-control"] == "no-store" and headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "script-src" not in headers["content-security-policy"]  # default-src 'self' covers scripts


def _validated(engine: sa.Engine, report_id: str) -> None:
    ReportService(engine).change_state(Operator("test"), report_id, ReportState.VALIDATED, "reproduced")


def test_a_case_from_report_to_publication_through_the_pages(
    web_client: TestClient, world: World, engine: sa.Engine
) -> None:
    _validated(engine, world.reports["xss"])
    sign_in(web_client, "ana")
    report = web_client.get(f"/reports/{world.reports['xss']}")
    opened = web_client.post(
        f"/reports/{world.reports['xss']}/case", data={"csrf_token": csrf_of(report.text), "title": "Jinja2 XSS"}
    )
    assert opened.status_code == 200 and "Jinja2 XSS" in opened.text
    case_path = str(opened.url.path)
    case_id = case_path.rsplit("/", 1)[1]
    assert "Pallets for pkg:pypi/jinja2" in opened.text  # the proposal names the declared owner
    token = csrf_of(opened.text)
    post = web_client.post
    assert (
        post(
            f"{case_path}/participants",
            data={"csrf_token": token, "organisation": "Pallets", "role": "vendor", "reason": "purl pkg:pypi/jinja2"},
        ).status_code
        == 200
    )
    assert (
        post(
            f"{case_path}/state", data={"csrf_token": token, "target": "vendors_notified", "reason": "vendor confirmed"}
        ).status_code
        == 200
    )
    # An extension: after the default 90 days from notification, within the three years a public date may be set.
    year = datetime.now(UTC).year + 2
    embargo = {
        "csrf_token": token,
        "public_at": f"{year}-03-01T09:00",
        "zone": "Europe/Berlin",
        "reason": "the vendor needs a release cycle",
        "agreed_by": "Pallets",
    }
    page = post(f"{case_path}/embargo", data=embargo).text
    assert f"{year}-03-01 08:00 UTC" in page and "Europe/Berlin" in page  # UTC and the zone it was set in
    assert "data-countdown=" in page
    assert "vendors without a fix: Pallets" in page  # the gate says what blocks it
    refused = post(f"{case_path}/publish", data={"csrf_token": token, "override_reason": ""})
    assert refused.status_code == 409 and "publication refused" in refused.text

    # The vendor: the case is in its portal, it states a fix, and sees only its own thread and status.
    sign_in(web_client, "vic")
    assert case_id in web_client.get("/vendor").text and "pkg:pypi/jinja2" in web_client.get("/vendor").text
    vendor_page = web_client.get(case_path, params={"zone": "America/New_York"})
    assert "America/New_York" in vendor_page.text and f"{year}-03-01 03:00" in vendor_page.text
    status = {"csrf_token": csrf_of(vendor_page.text), "status": "fixed", "fixed_versions": "3.1.3", "note": "patched"}
    assert post(f"{case_path}/status", data=status).status_code == 200
    sign_in(web_client, "ace")  # another vendor, not on the case
    assert web_client.get(case_path).status_code == 404
    assert web_client.get(f"/advisories/{case_id}").status_code == 404

    sign_in(web_client, "ana")
    page = web_client.get(case_path).text
    assert "every affected vendor has a fix" in page
    published = post(f"{case_path}/publish", data={"csrf_token": csrf_of(page), "override_reason": ""})
    assert published.status_code == 200 and "<strong>published</strong>" in published.text
    web_client.cookies.clear()
    advisory_id = published.text.split('href="/advisories/', 1)[1].split('"', 1)[0]
    osv = web_client.get(f"/advisories/{advisory_id}/osv.json")
    assert osv.status_code == 200 and orjson.loads(osv.content)["id"] == advisory_id


SBOM = Path(__file__).resolve().parents[2] / "examples" / "sboms" / "patient-portal.cdx.json"


def test_a_partner_uploads_an_sbom_sees_what_was_refused_and_its_matches(web_client: TestClient, world: World) -> None:
    sign_in(web_client, "pat")
    portal = web_client.get("/partner")
    files = {"sbom": ("patient-portal.cdx.json", SBOM.read_bytes(), "application/json")}
    uploaded = web_client.post("/partner/assets", data={"csrf_token": csrf_of(portal.text)}, files=files)
    assert uploaded.status_code == 201
    assert "4 components kept, 3 matchable, 2 matches, 2 new alerts" in uploaded.text
    refused = uploaded.text.split("not kept", 1)[1]
    assert '<code class="wrap">broken</code></td><td>purl</td>' in refused  # by its reference and field
    assert "invalid percent-encoding" in refused
    asset_path = uploaded.text.split('href="/partner/assets/', 1)[1].split('"', 1)[0]
    asset = web_client.get(f"/partner/assets/{asset_path}")
    assert (asset.status_code == 200 and "Patient portal" in asset.text) or "patient" in asset.text.lower()
    vex = web_client.get(f"/partner/assets/{asset_path}/vex-cyclonedx.json")
    assert vex.status_code == 200 and orjson.loads(vex.content)["bomFormat"] == "CycloneDX"
    assert "attachment" in vex.headers["content-disposition"]
    assert orjson.loads(web_client.get(f"/partner/assets/{asset_path}/vex-csaf.json").content)["document"]

    forged = web_client.post(
        "/partner/assets",
        data={"csrf_token": csrf_of(portal.text)},
        files=files,
        headers={"Origin": "https://evil.example"},
    )
    assert forged.status_code == 403 and "csrf-refused" in forged.text

    sign_in(web_client, "bea")  # another partner organisation
    assert web_client.get(f"/partner/assets/{asset_path}").status_code == 404
    assert web_client.get(f"/partner/assets/{asset_path}/vex-csaf.json").status_code == 404
    assert asset_path not in web_client.get("/partner").text


def test_hostile_forms_are_refused_with_the_field_named(web_client: TestClient, world: World) -> None:
    web_client.cookies.clear()
    token = csrf_of(web_client.get("/sign-in").text)
    control = web_client.post("/sign-in", data={"csrf_token": token, "login": "ana\x00", "password": PASSWORD})
    assert control.status_code == 422 and "control characters" in control.text
    crowded = web_client.post("/sign-in", data={"csrf_token": token, **{f"f{i}": "x" for i in range(60)}})
    assert crowded.status_code == 422 and "unreadable form" in crowded.text
    huge = web_client.post("/sign-in", data={"csrf_token": token, "login": "a" * 30_000, "password": "x"})
    assert huge.status_code == 422 and "at most 20000 characters" in huge.text
    as_json = web_client.post("/sign-in", json={"csrf_token": token, "login": "ana", "password": PASSWORD})
    assert as_json.status_code == 415
    too_big = web_client.post("/sign-in", content=b"a=" + b"x" * 3_000_000, headers={"Content-Type": "text/plain"})
    assert too_big.status_code == 413


def test_sign_in_never_redirects_off_the_site(web_client: TestClient, world: World) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\\\evil.example", "javascript:alert(1)"):
        web_client.cookies.clear()
        token = csrf_of(web_client.get("/sign-in", params={"next": target}).text)
        form = {"csrf_token": token, "login": "ana", "password": PASSWORD, "next": target}
        landed = web_client.post("/sign-in", data=form, follow_redirects=False)
        assert landed.headers["location"] == "/inbox", target
