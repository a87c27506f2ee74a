from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from clearinghouse.config import Settings
from clearinghouse.ingest.pipeline import ImportPipeline
from clearinghouse.store.records import RecordStore
from clearinghouse.web.app import create_app
from tests.conftest import SAMPLE
from tests.web.world import PASSWORD, World, build


@pytest.fixture
def web_settings(database_url: str, tmp_path: Path) -> Settings:
    # No rate limits: a test signs in many times from one address; the limits have their own tests.
    return Settings(home=tmp_path, database_url=database_url, embedded_worker=False, rate_limits=False)


@pytest.fixture
def web_client(web_settings: Settings, engine: sa.Engine) -> Iterator[TestClient]:
    ImportPipeline(RecordStore(engine)).run([SAMPLE])
    with TestClient(create_app(web_settings)) as client:
        yield client


@pytest.fixture
def world(web_client: TestClient, engine: sa.Engine) -> World:
    return build(web_client, engine)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, login: str, password: str = PASSWORD, code: str = "") -> None:
    """Sign in as a browser would: fetch the form (pre-session cookie and token), post it."""
    client.cookies.clear()
    token = csrf_of(client.get("/sign-in").text)
    form = {"csrf_token": token, "login": login, "password": password, "code": code, "next": ""}
    response = client.post("/sign-in", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
