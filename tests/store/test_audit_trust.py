"""An audit log an outsider can trust: keyed entries, signed checkpoints, identity actions and acting tokens.

The attacker here holds the database (owner rights, past the triggers) but not the home directory's keys.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient

from clearinghouse.api.app import create_app
from clearinghouse.config import Settings
from clearinghouse.identity.model import OrgKind, Role
from clearinghouse.store.audit import AuditLog
from clearinghouse.store.audit_chain import AuditEntry, checkpoint_is_signed, entry_hash, new_leaf, next_entry
from clearinghouse.store.audit_keys import HMAC_KEY_FILE, SIGNING_KEY_FILE, AuditKeys
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.tables import api_tokens, audit_links, audit_log
from tests.api.test_reports_api import structured
from tests.conftest import tamper_with_audit_log


@pytest.fixture
def audit(engine: sa.Engine) -> AuditLog:
    log = AuditLog(engine)
    for i in range(6):
        log.record(f"user{i}", "report.state", "report", f"R-{i}", {"to": "triaged", "i": i})
    return log


def rows(audit: AuditLog) -> list[AuditEntry]:
    return audit.entries()


def rewrite_all_hashes_without_the_key(audit: AuditLog, entries: list[AuditEntry]) -> None:
    """What an attacker with the database could do before: recompute every hash (plain SHA-256) after a change."""
    tamper_with_audit_log(audit.engine, sa.delete(audit_log))
    previous = None
    forged = []
    for entry in entries:
        previous = next_entry(
            previous,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            subject_type=entry.subject_type,
            subject_id=entry.subject_id,
            details=entry.details,
            key=b"not the key" * 3,
            token_id=entry.token_id,
        )
        forged.append(dataclasses.replace(previous, seq=entry.seq) if previous.seq != entry.seq else previous)
    with audit.engine.begin() as conn:
        conn.execute(audit_log.insert(), [dataclasses.asdict(e) for e in forged])


def test_an_edit_with_every_hash_recomputed_is_found_without_head(audit: AuditLog) -> None:
    entries = rows(audit)
    entries[2] = dataclasses.replace(entries[2], actor="mallory")
    rewrite_all_hashes_without_the_key(audit, entries)
    report = audit.verify()
    assert (report.ok, report.first_bad_seq) == (False, 1)
    assert "forged without the key" in (report.reason or "")


def test_an_appended_forged_entry_is_found(audit: AuditLog) -> None:
    last = rows(audit)[-1]
    at = datetime.now(UTC)
    forged_leaf = new_leaf(
        7,
        at=at,
        actor="mallory",
        action="token.issued",
        subject_type="token",
        subject_id="t",
        details={},
        key=b"guess" * 7,
    )
    with audit.engine.begin() as conn:
        conn.execute(audit_log.insert(), [dataclasses.asdict(forged_leaf)])
    report = audit.verify()
    assert (report.ok, report.first_bad_seq) == (False, 7) and "forged without the key" in (report.reason or "")
    # Posing as an entry of the legacy chain (keyed, or unkeyed plain SHA-256) does not help either.
    tamper_with_audit_log(audit.engine, sa.delete(audit_log).where(audit_log.c.seq == 7))
    digest = entry_hash(last.seq + 1, at, "mallory", "token.issued", "token", "t", {}, last.hash, b"guess" * 7)
    chained = AuditEntry(last.seq + 1, at, "mallory", "token.issued", "token", "t", {}, last.hash, digest, None, True)
    plain = entry_hash(7, at, "mallory", "token.issued", "token", "t", {}, last.hash)
    for forged in (chained, dataclasses.replace(chained, hash=plain, keyed=False)):
        with audit.engine.begin() as conn:
            conn.execute(audit_log.insert(), [dataclasses.asdict(forged)])
        report = audit.verify()
        assert (report.ok, report.first_bad_seq) == (False, 7) and "chained entry after leaves" in (report.reason or "")
        tamper_with_audit_log(audit.engine, sa.delete(audit_log).where(audit_log.c.seq == 7))


def test_a_truncated_tail_is_found_without_head(audit: AuditLog) -> None:
    assert audit.verify().ok
    tamper_with_audit_log(audit.engine, sa.delete(audit_links).where(audit_links.c.seq >= 5), "audit_links")
    tamper_with_audit_log(audit.engine, sa.delete(audit_log).where(audit_log.c.seq >= 5))
    report = audit.verify()
    assert not report.ok and "truncated" in (report.reason or "")
    assert "ends at link 4" in (report.reason or "") and "shows 6" in (report.reason or "")
    # Cutting only the links leaves their entries pending: still a truncation.
    tamper_with_audit_log(audit.engine, sa.delete(audit_links).where(audit_links.c.seq >= 3), "audit_links")
    assert "ends at link 2" in (audit.verify().reason or "")
    # Emptying the whole log is a truncation too.
    tamper_with_audit_log(audit.engine, sa.delete(audit_links), "audit_links")
    tamper_with_audit_log(audit.engine, sa.delete(audit_log))
    assert not audit.verify().ok


def test_reordered_entries_are_found(audit: AuditLog) -> None:
    entries = rows(audit)
    swapped = [
        *entries[:2],
        dataclasses.replace(entries[3], seq=3),
        dataclasses.replace(entries[2], seq=4),
        *entries[4:],
    ]
    tamper_with_audit_log(audit.engine, sa.delete(audit_log))
    with audit.engine.begin() as conn:
        conn.execute(audit_log.insert(), [dataclasses.asdict(e) for e in swapped])
    assert audit.verify().first_bad_seq == 3


def test_an_outsider_keeps_a_signed_checkpoint_that_survives_the_home_being_rolled_back(
    audit: AuditLog, tmp_path: Path
) -> None:
    kept = audit.checkpoint()  # fetched by an outside party, with the public key
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(audit.keys.public_key_base64()))
    assert kept.seq == 6 and checkpoint_is_signed(kept, public)
    assert not checkpoint_is_signed(dataclasses.replace(kept, seq=5), public)
    # An attacker who can also roll back the home's checkpoint file: the outsider's copy still shows the cut.
    tamper_with_audit_log(audit.engine, sa.delete(audit_links).where(audit_links.c.seq == 6), "audit_links")
    tamper_with_audit_log(audit.engine, sa.delete(audit_log).where(audit_log.c.seq == 6))
    (audit.keys.home / "audit-checkpoint.json").unlink()
    assert audit.verify().ok  # nothing left here to compare with...
    report = audit.verify(kept=kept)  # ...but the kept checkpoint proves entry 6 existed
    assert not report.ok and "truncated" in (report.reason or "")


def test_missing_append_only_triggers_are_reported_and_restored(audit: AuditLog) -> None:
    assert audit.missing_triggers() == []
    with audit.engine.begin() as conn:
        if audit.engine.dialect.name == "postgresql":
            conn.execute(sa.text("DROP TRIGGER audit_log_append_only ON audit_log"))
        else:
            conn.execute(sa.text("DROP TRIGGER audit_log_no_delete"))
    missing = audit.missing_triggers()
    assert len(missing) == 1
    assert audit.restore_triggers() == missing and audit.missing_triggers() == []
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), audit.engine.begin() as conn:
        conn.execute(sa.delete(audit_log))


def test_identity_actions_are_audited_with_their_actor(engine: sa.Engine) -> None:
    identity = IdentityStore(engine)
    organisation = identity.create_organisation("Finder Inc", OrgKind.REPORTER, actor="operator:ana")
    grant = identity.create_token("Finder Inc", "u", Role.REPORTER, actor="operator:ana")
    identity.revoke_token(grant.token_id, actor="operator:bo")
    entries = AuditLog(engine).entries()
    assert [(e.actor, e.action, e.subject_id) for e in entries] == [
        ("operator:ana", "organisation.created", organisation.id),
        ("operator:ana", "token.issued", grant.token_id),
        ("operator:bo", "token.revoked", grant.token_id),
    ]
    assert entries[1].details["role"] == "reporter" and all(e.keyed for e in entries)
    assert AuditLog(engine).verify().ok


def test_api_entries_record_the_acting_token_and_last_used_is_kept_cheaply(
    database_url: str, engine: sa.Engine, tmp_path: Path
) -> None:
    identity = IdentityStore(engine)
    identity.create_organisation("Finder Inc", OrgKind.REPORTER)
    identity.create_organisation("Clearinghouse", OrgKind.CLEARINGHOUSE)
    reporter = identity.create_token("Finder Inc", "u", Role.REPORTER)
    analyst = identity.create_token("Clearinghouse", "a", Role.ANALYST)
    settings = Settings(home=tmp_path, database_url=database_url, embedded_worker=False)
    with TestClient(create_app(settings)) as client:
        submitted = client.post(
            "/api/v1/reports", json=structured(), headers={"Authorization": f"Bearer {reporter.plaintext}"}
        )
        report_id = submitted.json()["report_ids"][0]
        moved = client.post(
            f"/api/v1/reports/{report_id}/state",
            json={"target": "withdrawn", "reason": "withdrawn at the reporter's request"},
            headers={"Authorization": f"Bearer {analyst.plaintext}"},
        )
        assert moved.status_code == 200, moved.text
        published = client.get("/api/v1/audit/checkpoint").json()
    by_action = {e.action: e for e in AuditLog(engine).entries("report", report_id)}
    assert by_action["report.received"].token_id == reporter.token_id
    assert [e.token_id for e in by_action.values() if e.action != "report.received"] == [analyst.token_id]
    assert published["checkpoint"]["leaves"] == len(AuditLog(engine).entries())
    with engine.connect() as conn:
        used = dict(conn.execute(sa.select(api_tokens.c.id, api_tokens.c.last_used_at)).all())
    assert used[reporter.token_id] is not None and used[analyst.token_id] is not None
    # A minute's resolution: authenticating again at once writes nothing.
    before = used[reporter.token_id]
    identity.authenticate(reporter.plaintext)
    with engine.connect() as conn:
        again = conn.execute(sa.select(api_tokens.c.last_used_at).where(api_tokens.c.id == reporter.token_id))
        assert again.scalar_one() == before
    with engine.begin() as conn:
        conn.execute(sa.update(api_tokens).values(last_used_at=datetime.now(UTC) - timedelta(minutes=2)))
    identity.authenticate(reporter.plaintext)
    with engine.connect() as conn:
        latest = conn.execute(sa.select(api_tokens.c.last_used_at).where(api_tokens.c.id == reporter.token_id))
        assert latest.scalar_one() > before - timedelta(seconds=1)


def test_keys_are_created_0600_outside_the_database_or_taken_from_the_environment(tmp_path: Path) -> None:
    home = tmp_path / "home"
    keys = AuditKeys.load(home, environ={})
    for name in (HMAC_KEY_FILE, SIGNING_KEY_FILE):
        assert stat.S_IMODE(os.stat(home / name).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    assert AuditKeys.load(home, environ={}).hmac_key == keys.hmac_key  # kept, not replaced
    from_env = AuditKeys.load(tmp_path / "elsewhere", environ={"CLEARINGHOUSE_AUDIT_KEY": "ab" * 32})
    assert from_env.hmac_key == bytes.fromhex("ab" * 32)
    assert not (tmp_path / "elsewhere" / HMAC_KEY_FILE).exists()
