"""Web sign-in in the store: users' passwords and second factors, lock-out, and browser sessions.

API tokens stay for machines (`store.identity`); a person signs in with a password (Argon2id), optionally a TOTP
code, and gets a session: a random cookie whose SHA-256 is the row's key (a stolen database holds no usable
session), with a CSRF token for its forms, an absolute lifetime and an idle timeout. A session acts as a
`Principal` of the user's organisation and role with the role's scopes, so every page goes through the same policy
as the API. Every change (user created, password set, TOTP enabled, sign-in, failure, lock-out, sign-out) is
audited.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from clearinghouse.errors import AccountLocked, IdentityError, NotFound, SignInFailed
from clearinghouse.identity import passwords
from clearinghouse.identity.model import ROLES_BY_KIND, SCOPES_BY_ROLE, Principal, Role
from clearinghouse.store.audit import AuditLog
from clearinghouse.store.identity import OPERATOR, IdentityStore, organisation_of_row
from clearinghouse.store.tables import organisations, user_credentials, users, web_sessions

SESSION_LIFETIME = timedelta(hours=8)  # however active, a session ends after a working day
SESSION_IDLE = timedelta(minutes=30)  # and after half an hour without a request
LOCKOUT_AFTER = 5  # failed sign-ins in a row
LOCKOUT_FOR = timedelta(minutes=15)
_SEEN_RESOLUTION = timedelta(minutes=1)  # last_seen_at is written at most once a minute per session
# A digest to verify against when the login is unknown, so an unknown user costs as much time as a wrong password.
_DUMMY_HASH = passwords.hash_password(secrets.token_urlsafe(16))


def _digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class WebSession:
    """A signed-in browser: who it acts as and the CSRF token its forms must carry."""

    principal: Principal
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class SignedIn:
    cookie: str  # the session cookie's value: shown to the browser once, stored only as its SHA-256
    session: WebSession


@dataclass(frozen=True)
class UserAccount:
    """A user as the administration page lists it (never a hash or secret)."""

    login: str
    organisation: str
    role: Role
    totp: bool
    locked_until: datetime | None
    password_set_at: datetime


class WebAccounts:
    def __init__(self, engine: sa.Engine, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.audit = AuditLog(engine)
        self.identity = IdentityStore(engine)
        self.clock = clock or (lambda: datetime.now(UTC))

    # Accounts (the operator, through `clearinghouse admin`) --------------------------------------------------------

    def create_user(self, organisation_name: str, login: str, role: Role, password: str, actor: str = OPERATOR) -> None:
        """A user of the organisation who signs in with `password` (the user is created, or given a password)."""
        organisation = self.identity.organisation(organisation_name)
        if role not in ROLES_BY_KIND[organisation.kind]:
            allowed = ", ".join(sorted(r.value for r in ROLES_BY_KIND[organisation.kind]))
            raise IdentityError(f"a {organisation.kind.value} organisation can hold roles {allowed}, not {role.value}")
        if not login or len(login) > 200 or not login.isprintable() or login != login.strip():
            raise IdentityError("a login is 1 to 200 printable characters without surrounding spaces")
        passwords.check_strength(password, login)
        now = self.clock()
        with self.audit.writing() as conn:
            if conn.execute(sa.select(user_credentials.c.user_id).where(user_credentials.c.login == login)).first():
                raise IdentityError(f"a user with login {login!r} already exists")
            user_id = conn.execute(
                sa.select(users.c.id).where(users.c.organisation_id == organisation.id, users.c.name == login)
            ).scalar_one_or_none()
            if user_id is None:
                user_id = str(uuid.uuid4())
                conn.execute(
                    users.insert().values(
                        id=user_id, organisation_id=organisation.id, name=login, role=role.value, created_at=now
                    )
                )
            else:
                conn.execute(sa.update(users).where(users.c.id == user_id).values(role=role.value))
            conn.execute(
                user_credentials.insert().values(
                    user_id=user_id, login=login, password_hash=passwords.hash_password(password), password_set_at=now
                )
            )
            details = {"organisation": organisation.name, "login": login, "role": role.value}
            self.audit.append(conn, actor, "user.created", "user", user_id, details)

    def set_password(self, login: str, password: str, actor: str = OPERATOR) -> None:
        """A new password; it also lifts a lock-out and ends the user's open sessions."""
        passwords.check_strength(password, login)
        now = self.clock()
        with self.audit.writing() as conn:
            user_id = self._user_id(conn, login)
            conn.execute(
                sa.update(user_credentials)
                .where(user_credentials.c.user_id == user_id)
                .values(
                    password_hash=passwords.hash_password(password),
                    password_set_at=now,
                    failed_attempts=0,
                    locked_until=None,
                )
            )
            self._end_sessions(conn, user_id, now)
            self.audit.append(conn, actor, "user.password_set", "user", user_id, {"login": login})

    def enable_totp(self, login: str, actor: str = OPERATOR) -> str:
        """Give the user a (new) TOTP secret, required at every sign-in from now on; returns it (shown once)."""
        secret = passwords.new_totp_secret()
        now = self.clock()
        with self.audit.writing() as conn:
            user_id = self._user_id(conn, login)
            conn.execute(
                sa.update(user_credentials).where(user_credentials.c.user_id == user_id).values(totp_secret=secret)
            )
            self._end_sessions(conn, user_id, now)
            self.audit.append(conn, actor, "user.totp_enabled", "user", user_id, {"login": login})
        return secret

    def accounts(self) -> list[UserAccount]:
        query = (
            sa.select(user_credentials, users.c.role, organisations.c.name.label("organisation"))
            .join(users, users.c.id == user_credentials.c.user_id)
            .join(organisations, organisations.c.id == users.c.organisation_id)
            .order_by(organisations.c.name, user_credentials.c.login)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            UserAccount(
                login=row.login,
                organisation=row.organisation,
                role=Role(row.role),
                totp=row.totp_secret is not None,
                locked_until=_utc(row.locked_until),
                password_set_at=_utc(row.password_set_at),  # type: ignore[arg-type]
            )
            for row in rows
        ]

    # Signing in and out ------------------------------------------------------------------------------------------

    def sign_in(self, login: str, password: str, code: str | None) -> SignedIn:
        """A new session for the right password (and TOTP code, when the user has one).

        Every failure is the same `SignInFailed`, whether the login is unknown, the password wrong or the code
        missing or wrong. After `LOCKOUT_AFTER` failures in a row the account answers `AccountLocked` to every
        attempt, right password or not, for `LOCKOUT_FOR`; the failure count is committed before it is reported.
        """
        now = self.clock()
        with self.audit.writing() as conn:
            row = conn.execute(_CREDENTIALS.where(user_credentials.c.login == login).with_for_update()).first()
            if row is None:
                passwords.verify_password(_DUMMY_HASH, password)  # the same time as a known user's wrong password
                raise SignInFailed("wrong user name, password or code")
            locked_until = _utc(row.locked_until)
            if locked_until is not None and locked_until > now:
                raise AccountLocked((locked_until - now).total_seconds())
            good = passwords.verify_password(row.password_hash, password)
            if good and row.totp_secret is not None:
                good = code is not None and passwords.verify_totp(row.totp_secret, code, now)
            signed_in = self._open_session(conn, row, password, now) if good else None
            if signed_in is None:
                self._failed(conn, row, now)
        if signed_in is None:  # raised once the transaction is committed: the counter and audit entry stay
            raise SignInFailed("wrong user name, password or code")
        return signed_in

    def _failed(self, conn: sa.Connection, row: Any, now: datetime) -> None:
        attempts = row.failed_attempts + 1
        values: dict[str, Any] = {"failed_attempts": attempts}
        if attempts >= LOCKOUT_AFTER:
            values = {"failed_attempts": 0, "locked_until": now + LOCKOUT_FOR}
        conn.execute(sa.update(user_credentials).where(user_credentials.c.user_id == row.user_id).values(**values))
        action = "user.locked_out" if "locked_until" in values else "user.sign_in_failed"
        self.audit.append(conn, OPERATOR, action, "user", row.user_id, {"login": row.login, "attempts": attempts})

    def _open_session(self, conn: sa.Connection, row: Any, password: str, now: datetime) -> SignedIn:
        cookie = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        credentials: dict[str, Any] = {"failed_attempts": 0, "locked_until": None}
        if passwords.needs_rehash(row.password_hash):
            credentials["password_hash"] = passwords.hash_password(password)
        conn.execute(sa.update(user_credentials).where(user_credentials.c.user_id == row.user_id).values(credentials))
        session_id = _digest(cookie)
        expires_at = now + SESSION_LIFETIME
        conn.execute(
            web_sessions.insert().values(
                id=session_id,
                user_id=row.user_id,
                csrf_token=csrf,
                created_at=now,
                expires_at=expires_at,
                last_seen_at=now,
            )
        )
        principal = _principal(row, session_id)
        self.audit.append(conn, f"{row.login}@{row.org_name}", "user.signed_in", "user", row.user_id, {})
        return SignedIn(cookie, WebSession(principal, csrf, expires_at))

    def session(self, cookie: str) -> WebSession | None:
        """The live session a cookie stands for (None: unknown, signed out, expired or idle too long)."""
        if not cookie or len(cookie) > 100:
            return None
        now = self.clock()
        session_id = _digest(cookie)
        with self.engine.connect() as conn:
            row = conn.execute(_SESSION.where(web_sessions.c.id == session_id)).first()
        if row is None or row.ended_at is not None:
            return None
        last_seen = _utc(row.last_seen_at)
        expires_at = _utc(row.expires_at)
        assert last_seen is not None and expires_at is not None  # NOT NULL columns
        if expires_at <= now or now - last_seen >= SESSION_IDLE:
            return None
        if now - last_seen >= _SEEN_RESOLUTION:
            with self.engine.begin() as conn:
                conn.execute(sa.update(web_sessions).where(web_sessions.c.id == session_id).values(last_seen_at=now))
        return WebSession(_principal(row, session_id), row.csrf_token, expires_at)

    def sign_out(self, cookie: str) -> None:
        now = self.clock()
        session_id = _digest(cookie)
        with self.audit.writing() as conn:
            row = conn.execute(_SESSION.where(web_sessions.c.id == session_id)).first()
            if row is None or row.ended_at is not None:
                return
            conn.execute(sa.update(web_sessions).where(web_sessions.c.id == session_id).values(ended_at=now))
            self.audit.append(conn, f"{row.login}@{row.org_name}", "user.signed_out", "user", row.user_id, {})

    # Helpers ------------------------------------------------------------------------------------------------------

    @staticmethod
    def _user_id(conn: sa.Connection, login: str) -> str:
        user_id = conn.execute(
            sa.select(user_credentials.c.user_id).where(user_credentials.c.login == login)
        ).scalar_one_or_none()
        if user_id is None:
            raise NotFound(f"no user with login {login!r}")
        return str(user_id)

    @staticmethod
    def _end_sessions(conn: sa.Connection, user_id: str, now: datetime) -> None:
        conn.execute(
            sa.update(web_sessions)
            .where(web_sessions.c.user_id == user_id, web_sessions.c.ended_at.is_(None))
            .values(ended_at=now)
        )


def _principal(row: Any, session_id: str) -> Principal:
    role = Role(row.role)
    # "s:" and the session's first ten hex digits: the audit log's 12-character token column names the session.
    return Principal(f"s:{session_id[:10]}", row.login, organisation_of_row(row), role, SCOPES_BY_ROLE[role])


_ORG_COLUMNS = (
    organisations.c.id.label("org_id"),
    organisations.c.name.label("org_name"),
    organisations.c.kind.label("org_kind"),
    organisations.c.sector.label("org_sector"),
    organisations.c.created_at.label("org_created_at"),
)
_CREDENTIALS = (
    sa.select(user_credentials, users.c.role, *_ORG_COLUMNS)
    .join(users, users.c.id == user_credentials.c.user_id)
    .join(organisations, organisations.c.id == users.c.organisation_id)
)
_SESSION = (
    sa.select(web_sessions, user_credentials.c.login, users.c.role, *_ORG_COLUMNS)
    .join(users, users.c.id == web_sessions.c.user_id)
    .join(user_credentials, user_credentials.c.user_id == web_sessions.c.user_id)
    .join(organisations, organisations.c.id == users.c.organisation_id)
)
