"""Web sign-in in the store (SQLite and PostgreSQL): passwords, TOTP, lock-out and session expiry, on an injected
clock (no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from clearinghouse.errors import AccountLocked, IdentityError, SignInFailed, WeakPassword
from clearinghouse.identity import passwords
from clearinghouse.identity.model import SCOPES_BY_ROLE, OrgKind, Role
from clearinghouse.store.audit import AuditLog
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.tables import user_credentials, web_sessions
from clearinghouse.store.web_accounts import LOCKOUT_AFTER, LOCKOUT_FOR, SESSION_IDLE, SESSION_LIFETIME, WebAccounts

PASSWORD = "a long enough passphrase"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(engine: sa.Engine, clock: Clock) -> WebAccounts:
    IdentityStore(engine).create_organisation("Clearinghouse", OrgKind.CLEARINGHOUSE)
    IdentityStore(engine).create_organisation("Acme Software", OrgKind.VENDOR)
    web = WebAccounts(engine, clock=clock)
    web.create_user("Clearinghouse", "ana", Role.ANALYST, PASSWORD)
    return web


def test_the_right_password_opens_a_session_acting_as_the_users_role(accounts: WebAccounts) -> None:
    signed_in = accounts.sign_in("ana", PASSWORD, None)
    session = accounts.session(signed_in.cookie)
    assert session is not None
    assert session.principal.user == "ana"
    assert session.principal.organisation.name == "Clearinghouse"
    assert session.principal.scopes == SCOPES_BY_ROLE[Role.ANALYST]
    assert session.csrf_token == signed_in.session.csrf_token and len(session.csrf_token) >= 40


def test_the_store_keeps_neither_the_password_nor_the_cookie(accounts: WebAccounts, engine: sa.Engine) -> None:
    signed_in = accounts.sign_in("ana", PASSWORD, None)
    with engine.connect() as conn:
        stored_hash = conn.execute(sa.select(user_credentials.c.password_hash)).scalar_one()
        session_ids = conn.execute(sa.select(web_sessions.c.id)).scalars().all()
    assert stored_hash.startswith("$argon2id$") and PASSWORD not in stored_hash
    assert signed_in.cookie not in session_ids and len(session_ids) == 1


def test_unknown_user_wrong_password_and_missing_code_fail_alike(accounts: WebAccounts) -> None:
    accounts.enable_totp("ana")
    messages = set()
    for login, password in [("nobody", PASSWORD), ("ana", "wrong password here"), ("ana", PASSWORD)]:
        with pytest.raises(SignInFailed) as refused:
            accounts.sign_in(login, password, None)
        messages.add(refused.value.message)
    assert len(messages) == 1


def test_totp_is_required_once_enabled(accounts: WebAccounts, clock: Clock) -> None:
    secret = accounts.enable_totp("ana")
    right = passwords.totp_code(secret, clock.now)
    with pytest.raises(SignInFailed):
        accounts.sign_in("ana", PASSWORD, f"{(int(right) + 1) % 1_000_000:06d}")
    assert accounts.sign_in("ana", PASSWORD, right).cookie
    # A code from two steps (a minute) ago is refused: only clock drift of one step either side is allowed.
    stale = passwords.totp_code(secret, clock.now - timedelta(seconds=65))
    if stale != passwords.totp_code(secret, clock.now):
        with pytest.raises(SignInFailed):
            accounts.sign_in("ana", PASSWORD, stale)


def test_repeated_failures_lock_the_account_even_against_the_right_password(
    accounts: WebAccounts, clock: Clock, engine: sa.Engine
) -> None:
    for _ in range(LOCKOUT_AFTER):
        with pytest.raises(SignInFailed):
            accounts.sign_in("ana", "not the password", None)
    with pytest.raises(AccountLocked) as locked:
        accounts.sign_in("ana", PASSWORD, None)
    assert locked.value.status == 429 and locked.value.retry_after == LOCKOUT_FOR.total_seconds()
    clock.now += LOCKOUT_FOR
    assert accounts.sign_in("ana", PASSWORD, None).cookie
    actions = [e.action for e in AuditLog(engine).entries("user")]
    assert actions.count("user.sign_in_failed") == LOCKOUT_AFTER - 1
    assert "user.locked_out" in actions and actions[-1] == "user.signed_in"


def test_a_success_resets_the_failure_count(accounts: WebAccounts) -> None:
    for _ in range(LOCKOUT_AFTER - 1):
        with pytest.raises(SignInFailed):
            accounts.sign_in("ana", "not the password", None)
    accounts.sign_in("ana", PASSWORD, None)
    for _ in range(LOCKOUT_AFTER - 1):
        with pytest.raises(SignInFailed):
            accounts.sign_in("ana", "not the password", None)
    assert accounts.sign_in("ana", PASSWORD, None).cookie  # not locked: the count started again


def test_sessions_end_when_idle_when_old_and_when_signed_out(accounts: WebAccounts, clock: Clock) -> None:
    idle = accounts.sign_in("ana", PASSWORD, None).cookie
    clock.now += SESSION_IDLE
    assert accounts.session(idle) is None

    busy = accounts.sign_in("ana", PASSWORD, None).cookie
    started = clock.now
    while clock.now - started < SESSION_LIFETIME - SESSION_IDLE:
        clock.now += SESSION_IDLE / 2
        assert accounts.session(busy) is not None  # each request keeps it from going idle
    clock.now = started + SESSION_LIFETIME
    assert accounts.session(busy) is None  # however busy, a session ends after its lifetime

    leaving = accounts.sign_in("ana", PASSWORD, None).cookie
    accounts.sign_out(leaving)
    assert accounts.session(leaving) is None
    assert accounts.session("made-up-cookie") is None


def test_a_new_password_ends_sessions_and_lifts_a_lockout(accounts: WebAccounts) -> None:
    cookie = accounts.sign_in("ana", PASSWORD, None).cookie
    for _ in range(LOCKOUT_AFTER):
        with pytest.raises(SignInFailed):
            accounts.sign_in("ana", "not the password", None)
    accounts.set_password("ana", "another long passphrase")
    assert accounts.session(cookie) is None
    assert accounts.sign_in("ana", "another long passphrase", None).cookie


def test_account_rules(accounts: WebAccounts) -> None:
    with pytest.raises(WeakPassword):
        accounts.create_user("Clearinghouse", "bo", Role.ANALYST, "short")
    with pytest.raises(WeakPassword):
        accounts.create_user("Clearinghouse", "bob-the-analyst", Role.ANALYST, "BOB-THE-ANALYST")
    with pytest.raises(IdentityError):
        accounts.create_user("Clearinghouse", "ana", Role.ANALYST, PASSWORD)  # the login is taken
    with pytest.raises(IdentityError):
        accounts.create_user("Acme Software", "mallory", Role.ANALYST, PASSWORD)  # a vendor has no analysts
    accounts.create_user("Acme Software", "vera", Role.VENDOR, PASSWORD)
    assert [(a.login, a.organisation, a.role) for a in accounts.accounts()] == [
        ("vera", "Acme Software", Role.VENDOR),
        ("ana", "Clearinghouse", Role.ANALYST),
    ]
