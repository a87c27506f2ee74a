"""End to end in headless Chromium against a real uvicorn server, on SQLite and PostgreSQL: sign in with TOTP,
triage a report from the keyboard, confirm a duplicate, walk a model review to its final report; every page checked
with axe-core (no serious or critical violation) and saved as a screenshot (CLEARINGHOUSE_SCREENSHOTS=docs/screenshots
refreshes the README's). Without chromium these tests skip, except under CI=true, where they fail."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from clearinghouse.identity import passwords
from clearinghouse.intake.lifecycle import ReportState
from clearinghouse.intake.service import ReportService
from clearinghouse.policy import Operator
from clearinghouse.store.web_accounts import WebAccounts
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, chromium_missing, in_ci, keep_screenshot, serving
from tests.web.world import PASSWORD, World

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = chromium_missing()
    if reason is not None:
        if in_ci():
            pytest.fail(f"CI needs the browser tests: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def site(web_client: TestClient, world: World) -> Iterator[str]:
    with serving(web_client.app) as base_url:
        yield base_url


@pytest.fixture
def page(browser: Any, site: str) -> Iterator[Any]:
    context = browser.new_context(base_url=site, viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


class Shots:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def take(self, page: Any, name: str) -> None:
        """Check the page with axe-core, then keep a full-page screenshot of it."""
        from axe_playwright_python.sync_playwright import Axe

        violations = Axe().run(page).response["violations"]
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in violations
            if v["impact"] in {"serious", "critical"}
        ]
        assert serious == [], f"{name}: {serious}"
        path = self.directory / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 1000
        keep_screenshot(path)


@pytest.fixture
def shots(tmp_path: Path) -> Shots:
    return Shots(tmp_path)


def sign_in(page: Any, login: str, code: str = "") -> None:
    page.goto("/sign-in")
    page.get_by_label("User name").fill(login)
    page.get_by_label("Password").fill(PASSWORD)
    if code:
        page.get_by_label("Authenticator code").fill(code)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_with_totp_and_triage_a_report_from_the_keyboard(
    page: Any, shots: Shots, world: World, engine: sa.Engine
) -> None:
    secret = WebAccounts(engine).enable_totp("ana")
    page.goto("/")
    assert page.url.endswith("/sign-in")
    shots.take(page, "sign-in")
    sign_in(page, "ana")  # no code: refused, with the one message for every failure
    assert page.get_by_role("alert").inner_text() == "wrong user name, password or code"
    sign_in(page, "ana", passwords.totp_code(secret, datetime.now(UTC)))
    page.wait_for_url("**/inbox")
    assert page.get_by_text("3 reports").is_visible()
    shots.take(page, "inbox")

    page.keyboard.press("/")  # the search box, then back to the queue
    page.keyboard.type("jinja2")
    page.get_by_text("1 report", exact=True).wait_for()  # htmx replaced the rows
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/reports/{world.reports['xss']}")
    shots.take(page, "report")

    page.get_by_label("New state").select_option("validated")
    page.get_by_label("Reason (kept in the audit log)").fill("reproduced with the stored template name")
    page.get_by_role("button", name="Change state").click()
    page.wait_for_load_state()
    assert page.locator(".facts strong").first.inner_text() == "validated"


def test_confirm_a_duplicate_side_by_side(page: Any, shots: Shots, world: World) -> None:
    sign_in(page, "ana")
    page.goto(f"/reports/{world.reports['sqli-again']}")
    page.get_by_role("link", name=world.reports["sqli"]).click()
    page.wait_for_url(f"**/clusters/{world.reports['sqli']}")
    assert page.locator("pre.diff .added").first.inner_text().startswith("+ Seen again on 2.7.1.")
    shots.take(page, "duplicates")
    page.get_by_label("Reason").fill("same loader, same query")
    page.get_by_role("button", name="Record decision").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/clusters/{world.reports['sqli']}")


def test_walk_a_model_review_to_its_report(page: Any, shots: Shots, world: World) -> None:
    sign_in(page, "eve")
    page.wait_for_url("**/frontier")
    assert page.get_by_text("final report due").first.is_visible()
    shots.take(page, "frontier-calendar")
    page.get_by_role("link", name="Meridian 4.0").first.click()
    assert (page.locator("svg.chart title").first.text_content() or "").startswith("clearinghouse-cyber")
    shots.take(page, "frontier-model")
    for milestone in ("access_confirmed", "evaluation_plan_agreed", "interim_findings", "final_report"):
        page.get_by_label("Milestone reached").select_option(milestone)
        page.get_by_label("Note").fill(f"{milestone} done in the browser test")
        page.get_by_role("button", name="Mark done").click()
        page.wait_for_load_state()
    assert page.locator("#win-h + h3").inner_text().endswith("(reported)")
    page.get_by_role("link", name="Final report").click()
    assert "Meridian" in page.content() and "Writes working exploits for known CVEs" in page.content()
    page.screenshot(path=str(shots.directory / "frontier-report.png"), full_page=True)
    keep_screenshot(shots.directory / "frontier-report.png")


def test_administration_public_pages_and_a_phone(browser: Any, page: Any, site: str, shots: Shots) -> None:
    sign_in(page, "root")
    page.goto("/admin")
    page.get_by_role("link", name="Verify the whole chain").click()
    page.get_by_text("Chain verified").wait_for()  # htmx put the answer in place
    shots.take(page, "admin")
    page.goto("/submit")
    shots.take(page, "submit")
    anonymous = browser.new_context(base_url=site, viewport=PHONE)
    phone = anonymous.new_page()
    phone.goto("/advisories/CVE-2022-21736")
    assert phone.get_by_role("link", name="CSAF 2.0").first.is_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the advisory page scrolls sideways on a phone"
    shots.take(phone, "advisory-phone")
    anonymous.close()


def test_no_javascript_still_reads(browser: Any, site: str, shots: Shots) -> None:
    context = browser.new_context(base_url=site, java_script_enabled=False)
    plain = context.new_page()
    plain.goto("/sign-in")
    plain.get_by_label("User name").fill("ana")
    plain.get_by_label("Password").fill(PASSWORD)
    plain.get_by_role("button", name="Sign in").click()
    plain.wait_for_url("**/inbox")
    plain.goto("/inbox?q=tensorflow")
    assert plain.get_by_text("2 reports").is_visible()
    context.close()


def test_open_a_case_notify_the_vendor_and_publish_once_the_gate_opens(
    browser: Any, page: Any, site: str, shots: Shots, world: World, engine: sa.Engine
) -> None:
    ReportService(engine).change_state(Operator("test"), world.reports["xss"], ReportState.VALIDATED, "reproduced")
    sign_in(page, "ana")
    page.goto(f"/reports/{world.reports['xss']}")
    page.get_by_role("button", name="Open a case").click()
    page.wait_for_url("**/cases/CASE-*")
    case_path = page.url.split(site, 1)[1]
    assert page.get_by_text("Pallets for pkg:pypi/jinja2").is_visible()
    page.get_by_role("button", name="Add to the case").click()  # the proposed vendor, with its rule as reason
    page.wait_for_load_state()
    page.get_by_label("New state").select_option("vendors_notified")
    page.get_by_label("Reason for the move").fill("Pallets confirmed as the owner")
    page.get_by_role("button", name="Move").click()
    page.wait_for_load_state()
    assert "vendors without a fix: Pallets" in page.locator("#gate-h + p").inner_text()
    page.get_by_role("button", name="Publish").click()
    assert "publication refused" in page.get_by_role("alert").inner_text()

    vendor = browser.new_context(base_url=site, viewport={"width": 1280, "height": 900}).new_page()
    sign_in(vendor, "vic")
    vendor.goto("/vendor")
    shots.take(vendor, "vendor-portal")
    vendor.goto(case_path)
    vendor.get_by_label("Status", exact=True).select_option("fixed")
    vendor.get_by_label("Fixed versions (comma-separated)").fill("3.1.3")
    vendor.get_by_role("button", name="State the status").click()
    vendor.wait_for_load_state()
    assert "3.1.3" in vendor.locator("#vendors-h + .table-wrap").inner_text()
    vendor.context.close()

    page.goto(case_path)
    assert page.locator("#gate-h + p").inner_text().startswith("Open: every affected vendor has a fix")
    shots.take(page, "case")
    page.get_by_role("button", name="Publish").click()
    page.wait_for_load_state()
    assert page.locator(".facts strong").first.inner_text() == "published"
    with page.expect_download() as download:
        page.get_by_role("link", name="CSAF 2.0").click()
    assert download.value.suggested_filename.endswith(".json")


SBOM = Path(__file__).resolve().parents[2] / "examples" / "sboms" / "patient-portal.cdx.json"


def test_upload_an_sbom_and_see_its_alert(page: Any, shots: Shots) -> None:
    sign_in(page, "pat")
    page.wait_for_url("**/partner")
    page.get_by_label("SBOM file").set_input_files(str(SBOM))
    page.get_by_role("button", name="Upload").click()
    result = page.locator("#upload-result")
    result.get_by_text("2 new alerts").wait_for()  # htmx put the answer under the form
    assert "broken" in result.inner_text() and "invalid percent-encoding" in result.inner_text()
    assert page.locator("#upload-progress").get_attribute("value") == "100"
    shots.take(page, "partner-portal")
    result.get_by_role("link").first.click()
    page.wait_for_url("**/partner/assets/*")
    assert page.get_by_role("heading", name="Matches (2)").is_visible()
    shots.take(page, "partner-asset")
    page.get_by_role("button", name="Acknowledge").first.click()
    page.wait_for_load_state()
    assert page.get_by_text("Acknowledged").first.is_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="CycloneDX 1.6").click()
    assert download.value.suggested_filename.endswith("-cyclonedx.json")
