"""File modes: public exports follow the umask; the store and its directory are owner-only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from clearinghouse.ingest.pipeline import ImportPipeline
from clearinghouse.policy import Operator, rules
from clearinghouse.records.model import Tlp
from clearinghouse.sharing.export import ExportFormat, export_records
from clearinghouse.store.db import create_engine, migrate
from clearinghouse.store.records import RecordStore
from tests.conftest import SAMPLE


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("umask_022")
def test_the_store_its_wal_files_and_its_directory_are_owner_only(tmp_path: Path) -> None:
    home = tmp_path / "home" / ".clearinghouse"
    engine = create_engine(f"sqlite:///{home / 'clearinghouse.db'}")
    migrate(engine)
    with engine.connect() as conn:  # an open connection keeps the WAL and shared-memory files
        conn.execute(sa.text("SELECT 1"))
        created = sorted(p.name for p in home.iterdir())
        assert {"clearinghouse.db", "clearinghouse.db-wal", "clearinghouse.db-shm"} <= set(created)
        assert {p.name: mode(p) for p in home.iterdir()} == dict.fromkeys(created, 0o600)
    assert mode(home) == 0o700


@pytest.mark.usefixtures("umask_022")
def test_a_store_created_world_readable_before_is_narrowed(tmp_path: Path) -> None:
    database = tmp_path / "old.db"
    database.touch(mode=0o644)
    create_engine(f"sqlite:///{database}")
    assert mode(database) == 0o600


def test_exports_are_written_with_the_process_umask(tmp_path: Path) -> None:
    store = RecordStore(create_engine(f"sqlite:///{tmp_path / 'store' / 'clearinghouse.db'}"))
    migrate(store.engine)

    ImportPipeline(store, workers=0).run([SAMPLE])
    records = list(store.iter_records())[:3]
    for umask, expected in ((0o022, 0o644), (0o077, 0o600)):
        previous = os.umask(umask)
        try:
            visibility = rules.export_visibility(Operator("test"), Tlp.CLEAR)
            report = export_records(records, ExportFormat.OSV, tmp_path / f"out-{umask:o}", visibility)
        finally:
            os.umask(previous)
        assert report.written and {mode(p) for p in report.written} == {expected}
