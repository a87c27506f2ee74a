"""Web interface benchmark: every page's server time and first paint, on a store holding the dev set.

Usage: python bench/pages.py [FILE]  (FILE: the OSV dev set, e.g. ../shared/data/advisories-dev.jsonl.gz).

The store holds the records of FILE, the web tests' scenario (tests/web/world.py: organisations, users, reports
with a duplicate pair, a frontier model under review) and REPORTS more reports from two organisations, processed
by the pipeline. For each page, signed in as a staff administrator (who sees everything):
- server time: the median of RUNS requests through the ASGI app in-process (no network), beside `/healthz`, the
  cheapest route, measured in the same run as the baseline; target < 200 ms;
- first paint: the median first-contentful-paint of RUNS_BROWSER loads in headless Debian chromium from a real
  uvicorn server, beside `/static/htmx-LICENSE.txt` (a static text file) as the baseline; target < 1 s.

The case page is measured on a case with VENDORS vendors (each with a status) and MESSAGES messages; the page shows
the newest 200 messages of the thread and says how many there are.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from _common import dataset
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the web tests' scenario and server helpers

from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, chromium_missing, serving
from tests.web.world import PASSWORD, build, drain, structured

from clearinghouse.cases.rules import CaseState, VendorStatement, VendorStatus
from clearinghouse.cases.service import CaseService
from clearinghouse.config import Settings
from clearinghouse.identity.model import OrgKind
from clearinghouse.ingest.pipeline import ImportPipeline
from clearinghouse.intake.lifecycle import ReportState
from clearinghouse.intake.service import ReportService
from clearinghouse.policy import Operator
from clearinghouse.policy.cases import CaseRole
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.records import RecordStore
from clearinghouse.web.app import create_app

TARGET_SERVER_MS = 200.0
TARGET_PAINT_MS = 1000.0
REPORTS = 300
VENDORS = 150
MESSAGES = 2000
RUNS = 15
RUNS_BROWSER = 3
PACKAGES = ["tensorflow", "jinja2", "requests", "django", "flask", "numpy", "pillow", "urllib3", "lxml", "pyyaml"]


def fill(client: TestClient, tokens: dict[str, dict[str, str]]) -> None:
    for number in range(REPORTS):
        package = PACKAGES[number % len(PACKAGES)]
        body = structured(
            f"Issue {number} in {package}: unchecked length in the parser",
            f"Input number {number} makes {package}'s parser read past its buffer when a length field is larger "
            "than the data that follows it.",
            package=package,
        )
        who = tokens["rita"] if number % 2 else tokens["otto"]
        response = client.post("/api/v1/reports", json=body, headers=who)
        assert response.status_code == 202, response.text
    drain(client)


def big_case(engine: sa.Engine, report_id: str) -> str:
    """A case with VENDORS vendors, each with a status, and MESSAGES messages (to everyone and to vendors)."""
    operator = Operator("bench")
    ReportService(engine).change_state(operator, report_id, ReportState.VALIDATED, "reproduced")
    cases = CaseService(engine)
    case_id = cases.open_case(operator, [report_id], title="A big case").id
    identity = IdentityStore(engine)
    vendors = [f"Vendor {number:03}" for number in range(VENDORS)]
    for name in vendors:
        identity.create_organisation(name, OrgKind.VENDOR)
        cases.add_participant(operator, case_id, name, CaseRole.VENDOR, "bench")
    cases.move(operator, case_id, CaseState.VENDORS_NOTIFIED, "bench")
    for number, name in enumerate(vendors):
        statement = (
            VendorStatement(VendorStatus.FIXED, fixed_versions=("3.1.3",))
            if number % 3 == 0
            else VendorStatement(VendorStatus.AFFECTED)
        )
        cases.state_status(operator, case_id, statement, vendor=name)
    for number in range(MESSAGES):
        to = vendors[number % VENDORS] if number % 4 else None
        cases.post_message(operator, case_id, f"Message {number}: the fix is tested on branch {number % 7}.", to)
    return case_id


def sign_in(client: TestClient) -> None:
    page = client.get("/sign-in").text
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    form = {"csrf_token": token, "login": "root", "password": PASSWORD, "next": ""}
    assert client.post("/sign-in", data=form, follow_redirects=False).status_code == 303


def server_ms(client: TestClient, path: str, runs: int) -> float:
    client.get(path)  # warm: templates compiled, caches filled
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(times)


# The first-contentful-paint entry, waiting for it (it is recorded after the frame that painted); -1 if none came.
_FIRST_PAINT = """() => new Promise(resolve => {
  const seen = performance.getEntriesByName('first-contentful-paint')[0];
  if (seen) { resolve(seen.startTime); return; }
  new PerformanceObserver(list => {
    const entry = list.getEntriesByName('first-contentful-paint')[0];
    if (entry) { resolve(entry.startTime); }
  }).observe({type: 'paint', buffered: true});
  setTimeout(() => resolve(-1), 3000);
})"""


def first_paint_ms(base_url: str, cookies: dict[str, str], paths: list[str]) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    painted: dict[str, list[float]] = {path: [] for path in paths}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=base_url)
        context.add_cookies([{"name": k, "value": v, "url": base_url} for k, v in cookies.items()])
        page = context.new_page()
        for _ in range(RUNS_BROWSER):
            for path in paths:
                page.goto(path, wait_until="load")
                paint = page.evaluate(_FIRST_PAINT)
                painted[path].append(float(paint))
        browser.close()
    return {path: statistics.median(values) for path, values in painted.items()}


def main() -> None:
    source = dataset()
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(
            home=Path(home), database_url=f"sqlite:///{home}/bench.db", embedded_worker=False, rate_limits=False
        )
        app = create_app(settings)
        started = time.perf_counter()
        ImportPipeline(RecordStore(app.state.engine)).run([source])
        print(f"imported {source} in {time.perf_counter() - started:.0f} s")
        with TestClient(app) as client:
            world = build(client, app.state.engine)
            fill(client, world.tokens)
            started = time.perf_counter()
            case_id = big_case(app.state.engine, world.reports["xss"])
            print(
                f"made a case with {VENDORS} vendors and {MESSAGES:,} messages in {time.perf_counter() - started:.0f} s"
            )
            sign_in(client)
            model = f"/frontier/models/{world.model_id}"
            pages = {
                "inbox": "/inbox",
                "inbox, searched": "/inbox?q=tensorflow+parser",
                "report": f"/reports/{world.reports['sqli']}",
                "duplicate cluster": f"/clusters/{world.reports['sqli']}",
                f"case ({VENDORS} vendors, {MESSAGES:,} messages)": f"/cases/{case_id}",
                "cases": "/cases",
                "frontier calendar": "/frontier",
                "frontier model": model,
                "final report": f"{model}/report",
                "administration": "/admin",
                "audit chain verification": "/admin/audit/verify",
                "advisory": "/advisories/CVE-2022-21736",
                "report form": "/submit",
            }
            baseline = server_ms(client, "/healthz", RUNS)
            print(f"\nserver time, median of {RUNS} (target < {TARGET_SERVER_MS:.0f} ms)")
            print(f"{'page':32} {'median ms':>10} {'baseline /healthz ms':>21}")
            with TestClient(app) as anonymous:
                timed = {"sign-in (anonymous)": server_ms(anonymous, "/sign-in", RUNS)}
            timed |= {name: server_ms(client, path, RUNS) for name, path in pages.items()}
            for name, median in timed.items():
                flag = "" if median < TARGET_SERVER_MS else "  OVER TARGET"
                print(f"{name:32} {median:10.1f} {baseline:21.1f}{flag}")
            missing = chromium_missing()
            if missing is not None:
                print(f"\nfirst paint not measured: {missing}")
                return
            cookies = {name: value for name, value in client.cookies.items()}
            with serving(app) as base_url:
                paints = first_paint_ms(base_url, cookies, ["/static/htmx-LICENSE.txt", *pages.values()])
            static = paints.pop("/static/htmx-LICENSE.txt")
            print(f"\nfirst contentful paint in headless chromium, median of {RUNS_BROWSER} (target < 1 s)")
            print(f"{'page':32} {'median ms':>10} {'baseline static text ms':>24}")
            for name, path in pages.items():
                paint = paints[path]
                flag = "" if 0 <= paint < TARGET_PAINT_MS else "  OVER TARGET"
                print(f"{name:32} {paint:10.0f} {static:24.0f}{flag}")


if __name__ == "__main__":
    main()
