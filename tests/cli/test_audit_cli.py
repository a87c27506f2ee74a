"""`clearinghouse audit verify / checkpoint` and `db upgrade` restoring the audit log's triggers."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from clearinghouse.store.db import create_engine
from clearinghouse.store.tables import audit_links
from tests.cli.test_cli import Cli
from tests.conftest import tamper_with_audit_log


@pytest.fixture
def cli(cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("COLUMNS", "200")
    return Cli(capsys, monkeypatch)


def test_verify_finds_truncation_and_dropped_triggers_and_upgrade_restores_them(
    cli: Cli, cli_env: Path, database_url: str, tmp_path: Path
) -> None:
    assert cli("admin", "create-org", "Finder Inc", "--kind", "reporter")[0] == 0
    assert cli("admin", "create-token", "--org", "Finder Inc", "--user", "u", "--role", "reporter")[0] == 0
    code, out, _ = cli("audit", "verify")
    assert code == 0 and "2 entries" in out and "2 links sealing 2 leaves, 0 pending" in out
    code, out, _ = cli("audit", "checkpoint")
    published = orjson.loads(out)
    assert published["checkpoint"]["seq"] == 2 and published["checkpoint"]["leaves"] == 2
    assert len(published["public_key"]) == 44
    kept = tmp_path / "kept-checkpoint.json"
    kept.write_bytes(orjson.dumps(published["checkpoint"]))

    engine = create_engine(database_url)
    tamper_with_audit_log(engine, sa.delete(audit_links).where(audit_links.c.seq == 2), "audit_links")
    code, _, err = cli("audit", "verify")
    assert code != 0 and "truncated" in err
    (cli_env / "audit-checkpoint.json").unlink()  # the attacker rolls the home back too
    code, _, err = cli("audit", "verify", "--checkpoint", kept)
    assert code != 0 and "truncated" in err

    postgres = engine.dialect.name == "postgresql"
    names = [f"{table}_append_only" if postgres else f"{table}_no_update" for table in ("audit_log", "audit_links")]
    with engine.begin() as conn:
        for table, name in zip(("audit_log", "audit_links"), names, strict=True):
            conn.execute(sa.text(f"DROP TRIGGER {name}" + (f" ON {table}" if postgres else "")))
    code, _, err = cli("audit", "verify")
    assert code != 0 and "append-only triggers missing" in err and all(name in err for name in names)
    code, out, _ = cli("db", "upgrade")
    assert code == 0 and f"restored the audit log's append-only triggers: {', '.join(names)}" in out
    engine.dispose()
