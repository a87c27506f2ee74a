"""The feeds' tests: the bundled sample in the test store of each back end, the API over it, in process or served by
a real uvicorn server (for the real clients: pip-audit, taxii2-client, the csaf tools)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from clearinghouse.api.app import create_app
from clearinghouse.config import Settings
from clearinghouse.identity.model import OrgKind, Role
from clearinghouse.ingest.pipeline import ImportPipeline
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.records import RecordStore
from clearinghouse.store.tables import records
from tests.conftest import SAMPLE


def feed_settings(database_url: str, home: Path) -> Settings:
    # The clients under test send many requests from one address: the limits have tests of their own.
    return Settings(home=home, database_url=database_url, embedded_worker=False, rate_limits=False)


@pytest.fixture
def sample_store(engine: sa.Engine) -> RecordStore:
    store = RecordStore(engine)
    ImportPipeline(store).run([SAMPLE])
    return store


@pytest.fixture
def app(sample_store: RecordStore, database_url: str, tmp_path: Path) -> FastAPI:
    return create_app(feed_settings(database_url, tmp_path / "home"))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def label(engine: sa.Engine, record_id: str, tlp: str, status: str = "published") -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(records).where(records.c.id == record_id).values(tlp=tlp, status=status))


def bearer(engine: sa.Engine, organisation: str, kind: OrgKind, role: Role, sector: str | None = None) -> str:
    identity = IdentityStore(engine)
    identity.create_organisation(organisation, kind, sector)
    return identity.create_token(organisation, f"{role.value}@{organisation}", role).plaintext


class LiveServer:
    """The app behind a real uvicorn server on an ephemeral port, in a thread of this process."""

    def __init__(self, app: FastAPI) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    @property
    def url(self) -> str:
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def live(app: FastAPI) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server
