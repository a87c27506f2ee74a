"""`clearinghouse audit verify / checkpoint` and `db upgrade` restoring the audit log's triggers."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from clearinghouse.store.db import create_engine
from clearinghouse.store.tables import audit_log
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
    assert code == 0 and "2 entries" in out
    code, out, _ = cli("audit", "checkpoint")
    published = orjson.loads(out)
    assert published["checkpoint"]["seq"] == 2 and len(published["public_key"]) == 44
    kept = tmp_path / "kept-checkpoint.json"
    kept.write_bytes(orjson.dumps(published["checkpoint"]))

    engine = create_engine(database_url)
    tamper_with_audit_log(engine, sa.delete(audit_log).where(audit_log.c.seq == 2))
    code, _, err = cli("audit", "verify")
    assert code != 0 and "truncated" in err
    (cli_env / "audit-checkpoint.json").unlink()  # the attacker rolls the home back too
    code, _, err = cli("audit", "verify", "--checkpoint", kept)
    assert code != 0 and "truncated" in err

    with engine.begin() as conn:
        name = "audit_log_append_only" if engine.dialect.name == "postgresql" else "audit_log_no_update"
        conn.execute(sa.text(f"DROP TRIGGER {name}" + (" ON audit_log" if "append" in name else "")))
    code, _, err = cli("audit", "verify")
    assert code != 0 and "append-only triggers missing" in err and name in err
    code, out, _ = cli("db", "upgrade")
    assert code == 0 and f"restored the audit log's append-only triggers: {name}" in out
    engine.dispose()
