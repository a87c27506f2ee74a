"""PostgreSQL connections back from the pool: one idle for a while is checked first and replaced if the server
dropped it; one used moments ago is not (a round trip per checkout was a measurable share of a report batch's CPU)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from clearinghouse.api.app import create_app
from clearinghouse.config import Settings
from clearinghouse.store import db

pytestmark = pytest.mark.postgres


def _backend_pid(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(admin: sa.Engine, pid: int) -> None:
    with admin.connect() as conn:
        assert conn.execute(sa.select(sa.func.pg_terminate_backend(pid))).scalar_one()


def test_a_connection_idle_past_the_limit_that_the_server_dropped_is_replaced(
    postgres_url: str, postgres_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.create_engine(postgres_url)
    try:
        dropped = _backend_pid(engine)
        _terminate(postgres_engine, dropped)
        monkeypatch.setattr(db, "PING_AFTER", 0.0)  # as if it had sat in the pool for longer than the limit
        assert _backend_pid(engine) != dropped  # answered, on a new connection
    finally:
        engine.dispose()


def test_only_a_connection_idle_past_the_limit_is_pinged(
    postgres_url: str, postgres_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pinged: list[object] = []
    ping = db._ping
    monkeypatch.setattr(db, "_ping", lambda connection: pinged.append(connection) or ping(connection))
    engine = db.create_engine(postgres_url)
    try:
        pid = _backend_pid(engine)  # a new connection: nothing to check
        assert _backend_pid(engine) == pid and _backend_pid(engine) == pid  # used moments ago: kept, not pinged
        assert pinged == []
        monkeypatch.setattr(db, "PING_AFTER", 0.0)
        assert _backend_pid(engine) == pid  # alive: pinged, and kept
        assert len(pinged) == 1
    finally:
        engine.dispose()


def test_a_request_whose_connection_the_server_dropped_is_answered_503_and_the_next_one_works(
    postgres_url: str, postgres_engine: sa.Engine, tmp_path: Path
) -> None:
    # A connection used moments ago is not pinged: when the server has dropped it meanwhile (a restart, an
    # administrator), the request on it fails. The client is told to send again (503, Retry-After, problem+json),
    # not that the server broke (500); the pool lets go of the dead connections, so the next request works.
    name = f"lost-{uuid.uuid4().hex[:12]}"
    url = f"{postgres_url}&application_name={name}"
    with TestClient(create_app(Settings(home=tmp_path, database_url=url))) as client:
        assert client.get("/api/v1/records/CVE-1999-0001").status_code == 404  # a connection in the pool now
        with postgres_engine.connect() as conn:
            dropped = conn.execute(
                sa.select(sa.func.pg_terminate_backend(sa.column("pid")))
                .select_from(sa.table("pg_stat_activity"))
                .where(sa.column("application_name") == name)
            ).all()
        assert dropped and all(ok for (ok,) in dropped)
        lost = client.get("/api/v1/records/CVE-1999-0001")
        assert lost.status_code == 503
        assert lost.headers["content-type"] == "application/problem+json"
        assert lost.headers["retry-after"] == "1"
        assert lost.json()["code"] == "store-unavailable"
        assert client.get("/api/v1/records/CVE-1999-0001").status_code == 404
