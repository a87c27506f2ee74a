"""Store fixtures: every store test runs on SQLite and on PostgreSQL.

PostgreSQL tests use the server at CLEARINGHOUSE_TEST_POSTGRES_URL (default: the local one on 127.0.0.1:5432,
database `test`). Each test session gets its own schema, dropped at the end; tables are emptied after each
test. Where no server answers the PostgreSQL tests skip, saying how to enable them, except under CI, where a
missing server is a failure rather than a silent skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from clearinghouse.data import sample_path
from clearinghouse.feeds.signing import gnupg_home
from clearinghouse.store.audit_keys import use_home
from clearinghouse.store.db import create_engine, migrate
from clearinghouse.store.records import RecordStore
from clearinghouse.store.tables import metadata

# The CLI's Rich consoles are made when their modules are imported, and a console made while COLUMNS is set keeps
# that width (pytest-xdist's workers run with COLUMNS=80): the CLI tests' tables must not depend on who ran them.
os.environ["COLUMNS"] = "200"

POSTGRES_URL = os.environ.get("CLEARINGHOUSE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DEV_SET = Path(__file__).resolve().parents[2] / "shared" / "data" / "advisories-dev.jsonl.gz"
SAMPLE = sample_path("osv-sample.jsonl")
KEV_SAMPLE = sample_path("kev-sample.json")


def sample_documents() -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in SAMPLE.read_bytes().splitlines() if line.strip()]


def _postgres_reason() -> str | None:
    try:
        engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means "no server here"
        return (
            f"PostgreSQL not reachable at {POSTGRES_URL} ({exc.__class__.__name__}); start it or set "
            "CLEARINGHOUSE_TEST_POSTGRES_URL=postgresql+psycopg://USER@HOST:PORT/DB to run these tests"
        )
    return None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    reason = _postgres_reason()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(postgres_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty store's URL on each back end."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    engine: sa.Engine = request.getfixturevalue("postgres_engine")
    yield request.getfixturevalue("postgres_url")
    with engine.begin() as conn:
        tables = ", ".join(t.name for t in metadata.sorted_tables)
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="session", autouse=True)
def audit_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One audit HMAC and signing key for every engine and process of the run (a deployment has one per home;
    tests open several engines and homes over one database). Tests of the key files pass their own environment.
    Engines opened without settings keep their audit checkpoint in a scratch home, not in the working directory."""
    names = ("CLEARINGHOUSE_AUDIT_KEY", "CLEARINGHOUSE_AUDIT_SIGNING_KEY", "CLEARINGHOUSE_HOME")
    saved = {name: os.environ.get(name) for name in names}
    os.environ["CLEARINGHOUSE_AUDIT_KEY"] = "11" * 32
    os.environ["CLEARINGHOUSE_AUDIT_SIGNING_KEY"] = "22" * 32
    os.environ.setdefault("CLEARINGHOUSE_HOME", str(tmp_path_factory.mktemp("home")))
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_engine(database_url)
    migrate(engine)
    use_home(engine, tmp_path)  # the audit checkpoint is kept where the tests' settings put the home
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: sa.Engine) -> RecordStore:
    return RecordStore(engine)


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the CLI at the test store; returns the data directory."""
    monkeypatch.setenv("CLEARINGHOUSE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLEARINGHOUSE_DATABASE_URL", database_url)
    return tmp_path / "home"


def tamper_with_audit_log(engine: sa.Engine, statement: sa.Executable, table: str = "audit_log") -> None:
    """Run `statement` against `table` (audit_log or audit_links) as a database owner would: past the append-only
    triggers."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only"))
            conn.execute(statement)
            conn.execute(sa.text(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only"))
            return
        triggers = conn.execute(
            sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :table"),
            {"table": table},
        ).all()
        for name, _ in triggers:
            conn.execute(sa.text(f'DROP TRIGGER "{name}"'))
        conn.execute(statement)
        for _, sql in triggers:
            conn.execute(sa.text(sql))


def stop_gpg_agent(home: Path) -> None:
    """Stop the agent GnuPG started for the GnuPG home `home` (if one did), reached by the path the signer gives
    GnuPG, and remove the short link to a long home the signer made for it."""
    gpgconf = shutil.which("gpgconf")
    if gpgconf is None or not (home / "pubring.kbx").exists():
        return
    given = gnupg_home(home)
    subprocess.run([gpgconf, "--homedir", str(given), "--kill", "all"], check=False, timeout=30)
    if given != home.absolute():
        given.unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def stop_gpg_agents(request: pytest.FixtureRequest) -> Iterator[None]:
    """GnuPG starts an agent per home it uses (the CSAF provider's key, made by any request to the provider, and
    the feed tests' keyrings): stop them with the test rather than leave a daemon per test behind."""
    yield
    tmp_path = request.node.funcargs.get("tmp_path")  # only tests that have a temporary directory made one
    if tmp_path is None:
        return
    for home in (tmp_path, tmp_path / "keyring", tmp_path / "csaf-openpgp", tmp_path / "home" / "csaf-openpgp"):
        stop_gpg_agent(home)
