"""Back-pressure and visibility of the processing backlog over HTTP (issue 16): 503 with Retry-After for new
sources past the bound (nothing accepted, nothing acknowledged lost), staff still admitted, and /metrics."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient

from clearinghouse.identity.model import OrgKind, Role
from clearinghouse.intake.backpressure import RETRY_AFTER_SECONDS, IntakeGate
from clearinghouse.store.tables import reports
from tests.api.test_reports_api import Orgs, client, drain, orgs, settings, structured

__all__ = ["client", "orgs", "settings"]  # fixtures, used by name


def stored_ids(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(reports.c.id)).scalars())


def test_past_the_backlog_bound_new_sources_wait_and_nothing_acknowledged_is_lost(
    client: TestClient, orgs: Orgs, engine: sa.Engine
) -> None:
    service = client.app.state.reports  # type: ignore[attr-defined]
    now = [0.0]
    client.app.state.intake_gate = IntakeGate(  # type: ignore[attr-defined]
        2, service.backlog, service.credibility_record, clock=lambda: now[0]
    )
    reporter = orgs.token("Fresh Finder", OrgKind.REPORTER, Role.REPORTER)
    staff = orgs.token("Clearinghouse", OrgKind.CLEARINGHOUSE, Role.ANALYST)
    acknowledged = []
    for n in range(2):
        answer = client.post("/api/v1/reports", json=structured(title=f"Overflow {n} in the parser"), headers=reporter)
        assert answer.status_code == 202
        acknowledged += answer.json()["report_ids"]
        now[0] += 1.0  # the gate reads the backlog again

    refused = client.post("/api/v1/reports", json=structured(title="One report too many"), headers=reporter)
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "intake-overloaded"
    staff_answer = client.post("/api/v1/reports", json=structured(title="Staff report"), headers=staff)
    assert staff_answer.status_code == 202
    acknowledged += staff_answer.json()["report_ids"]
    assert stored_ids(engine) == set(acknowledged)  # every acknowledged report kept, the refused one not taken

    drain(client)  # the workers catch up: the source is admitted again once the gate reads the backlog anew
    now[0] += 1.0
    again = client.post("/api/v1/reports", json=structured(title="One report too many"), headers=reporter)
    assert again.status_code == 202


def test_metrics_show_the_backlog_and_each_steps_work(client: TestClient, orgs: Orgs) -> None:
    reporter = orgs.token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    staff = orgs.token("Clearinghouse", OrgKind.CLEARINGHOUSE, Role.ANALYST)
    for n in range(3):
        client.post("/api/v1/reports", json=structured(title=f"Race {n} in the scheduler"), headers=reporter)
    waiting = client.get("/metrics", headers=staff)
    assert waiting.status_code == 200 and waiting.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "clearinghouse_intake_queue_depth 3.0" in waiting.text
    assert "clearinghouse_intake_oldest_waiting_seconds" in waiting.text

    drain(client)
    done = client.get("/metrics", headers=staff).text
    assert "clearinghouse_intake_queue_depth 0.0" in done
    assert "clearinghouse_intake_oldest_waiting_seconds 0.0" in done
    for step in ("normalise", "check", "deduplicate", "triage"):
        assert f'clearinghouse_intake_step_seconds_count{{step="{step}"}} 3.0' in done
        assert f'clearinghouse_intake_step_failures_total{{step="{step}"}} 0.0' in done
    assert client.get("/metrics", headers=reporter).status_code == 403
    assert client.get("/metrics").status_code == 401
