"""PostgreSQL connections back from the pool: one idle for a while is checked first and replaced if the server
dropped it; one used moments ago is not (a round trip per checkout was a measurable share of a report batch's CPU)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

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
