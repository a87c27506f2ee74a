"""Organisations and tokens: hashed, scoped, revocable, expiring."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from clearinghouse.errors import IdentityError, NotFound, Unauthenticated
from clearinghouse.identity.model import OrgKind, Role, Scope
from clearinghouse.store import identity as identity_module
from clearinghouse.store.db import create_engine
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.tables import api_tokens


@pytest.fixture
def identity(engine: sa.Engine) -> IdentityStore:
    store = IdentityStore(engine)
    store.create_organisation("CH", OrgKind.CLEARINGHOUSE)
    store.create_organisation("Water Co", OrgKind.CRITICAL_INFRASTRUCTURE, sector="water-and-wastewater")
    return store


def test_a_token_is_shown_once_and_stored_only_as_a_hash(identity: IdentityStore) -> None:
    grant = identity.create_token("CH", "ana", Role.ANALYST)
    with identity.engine.connect() as conn:
        stored = conn.execute(sa.select(api_tokens)).one()
    assert grant.plaintext not in str(tuple(stored)) and grant.plaintext.split("_", 2)[2] not in str(tuple(stored))
    principal = identity.authenticate(grant.plaintext)
    assert (principal.user, principal.role, principal.organisation.name) == ("ana", Role.ANALYST, "CH")
    assert Scope.REPORTS_TRIAGE in principal.scopes


def test_revoked_expired_forged_tokens_are_refused(identity: IdentityStore) -> None:
    grant = identity.create_token("CH", "ana", Role.ANALYST)
    forged = grant.plaintext[:-4] + "AAAA"
    with pytest.raises(Unauthenticated, match="unknown token"):
        identity.authenticate(forged)
    with pytest.raises(Unauthenticated, match="malformed"):
        identity.authenticate("hello")
    identity.revoke_token(grant.token_id)
    with pytest.raises(Unauthenticated, match="revoked"):
        identity.authenticate(grant.plaintext)
    with pytest.raises(NotFound):
        identity.revoke_token(grant.token_id)
    short = identity.create_token("CH", "bob", Role.ANALYST, valid_for=timedelta(days=1))
    with identity.engine.begin() as conn:
        conn.execute(
            sa.update(api_tokens)
            .where(api_tokens.c.id == short.token_id)
            .values(expires_at=sa.func.current_timestamp())
        )
    with pytest.raises(Unauthenticated, match="expired"):
        identity.authenticate(short.plaintext)


def test_roles_and_scopes_follow_the_organisation_kind(identity: IdentityStore) -> None:
    with pytest.raises(IdentityError, match="can hold roles partner, reporter, not analyst"):
        identity.create_token("Water Co", "eve", Role.ANALYST)
    with pytest.raises(IdentityError, match="cannot hold scopes"):
        identity.create_token("Water Co", "pat", Role.PARTNER, scopes=[Scope.REPORTS_TRIAGE])
    narrow = identity.create_token("CH", "ana", Role.ANALYST, scopes=[Scope.RECORDS_READ])
    assert identity.authenticate(narrow.plaintext).scopes == frozenset({Scope.RECORDS_READ})


def test_organisation_rules(identity: IdentityStore) -> None:
    with pytest.raises(IdentityError, match="needs a sector"):
        identity.create_organisation("Grid", OrgKind.CRITICAL_INFRASTRUCTURE)
    with pytest.raises(IdentityError, match="already exists"):
        identity.create_organisation("CH", OrgKind.CLEARINGHOUSE)


def test_a_cached_token_is_refused_at_once_here_and_within_the_window_elsewhere(
    identity: IdentityStore, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = IdentityStore(identity.engine, cache_seconds=2.0)
    first = identity.create_token("CH", "ana", Role.ANALYST)
    second = identity.create_token("CH", "bob", Role.ANALYST)
    assert api.authenticate(first.plaintext).user == "ana" and api.authenticate(second.plaintext).user == "bob"
    identity.revoke_token(first.token_id)  # through this process: the cache forgets it at once
    with pytest.raises(Unauthenticated, match="revoked"):
        api.authenticate(first.plaintext)
    other_process = IdentityStore(create_engine(database_url))  # another engine stands for another process
    other_process.revoke_token(second.token_id)
    assert api.authenticate(second.plaintext).user == "bob"  # still inside the 2 s window
    now = identity_module.time.monotonic()
    monkeypatch.setattr(identity_module.time, "monotonic", lambda: now + 2.5)
    with pytest.raises(Unauthenticated, match="revoked"):
        api.authenticate(second.plaintext)
