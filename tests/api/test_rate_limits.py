"""Rate limits on every route, shared by every process through the store, and failed token guesses slowed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from clearinghouse.api.app import create_app
from clearinghouse.api.limits import SharedRateLimiter
from clearinghouse.config import Settings
from clearinghouse.errors import RateLimited
from clearinghouse.identity.model import OrgKind, Role
from clearinghouse.store.rate_limits import IDLE_BUCKET_SECONDS, RateLimitStore
from clearinghouse.store.tables import rate_limit_buckets
from tests.api.test_reports_api import Orgs, structured


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, database_url=database_url, embedded_worker=False)


def test_a_token_is_limited_across_processes_sharing_the_store(settings: Settings, engine: sa.Engine) -> None:
    reporter = Orgs(engine).token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    limited = replace(settings, rate_per_second=0.01, rate_burst=4)
    # Two API processes (two apps, each with its own memory) over one store share one bucket of 4.
    with TestClient(create_app(limited)) as first, TestClient(create_app(limited)) as second:
        codes = [
            (first if n % 2 else second)
            .post("/api/v1/reports", json=structured(title=f"Report number {n}"), headers=reporter)
            .status_code
            for n in range(6)
        ]
        assert codes.count(202) == 4 and codes[-2:] == [429, 429]
        refused = first.get("/api/v1/reports", headers=reporter)  # every route, not only submission
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert refused.json()["code"] == "rate-limited"


def test_anonymous_requests_are_limited_per_client_address(settings: Settings) -> None:
    with TestClient(create_app(replace(settings, address_rate_per_second=0.01, address_rate_burst=3))) as client:
        codes = [client.get("/healthz").status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]


def test_failed_token_guesses_are_slowed_per_address(settings: Settings, engine: sa.Engine) -> None:
    reporter = Orgs(engine).token("Finder Inc", OrgKind.REPORTER, Role.REPORTER)
    with TestClient(create_app(replace(settings, auth_failures_per_minute=3))) as client:
        guesses = [
            client.get("/api/v1/reports", headers={"Authorization": f"Bearer guess-{n}"}).status_code for n in range(5)
        ]
        assert guesses == [401, 401, 401, 401, 429]
        # Once the budget is spent, even a real token from that address waits: guessing is not worth it.
        waiting = client.get("/api/v1/reports", headers=reporter)
        assert waiting.status_code == 429 and int(waiting.headers["retry-after"]) >= 1
        assert client.get("/healthz").status_code == 200  # requests without a token are not guesses


def test_the_shared_bucket_refills_and_is_taken_in_chunks(engine: sa.Engine) -> None:
    now = [1000.0]
    store = RateLimitStore(engine)
    limiter = SharedRateLimiter(store, rate=2.0, burst=10, chunk=5, clock=lambda: now[0])
    for _ in range(10):
        limiter.check("k")
    with pytest.raises(RateLimited) as refused:
        limiter.check("k")
    assert refused.value.retry_after == 1
    now[0] += 2.0  # 4 tokens back
    for _ in range(4):
        limiter.check("k")
    with pytest.raises(RateLimited):
        limiter.check("k")
    assert store.take("k", 0, 2.0, 10, now[0]) == (0, 0.5)


def test_buckets_left_idle_for_a_day_are_pruned_and_start_full_again(engine: sa.Engine) -> None:
    """Every client address once seen left a bucket behind for ever; one idle a day is full, so dropping it changes
    no limit."""
    store = RateLimitStore(engine)
    start = 1000.0
    assert store.take("address:one-visit", 10, 2.0, 10, start) == (10, 0.0)
    assert store.take("address:regular", 10, 2.0, 10, start) == (10, 0.0)
    assert store.take("address:regular", 1, 2.0, 10, start + IDLE_BUCKET_SECONDS) == (1, 0.0)
    assert store.prune(start + IDLE_BUCKET_SECONDS + 1) == 1
    with engine.connect() as conn:
        assert set(conn.execute(sa.select(rate_limit_buckets.c.key)).scalars()) == {"address:regular"}
    assert store.take("address:one-visit", 10, 2.0, 10, start + IDLE_BUCKET_SECONDS + 2) == (10, 0.0)
