"""Organisations, users and API tokens in the store."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from clearinghouse.errors import IdentityError, NotFound, Unauthenticated
from clearinghouse.identity import tokens
from clearinghouse.identity.model import (
    ROLES_BY_KIND,
    SCOPES_BY_ROLE,
    SECTORS,
    Organisation,
    OrgKind,
    Principal,
    Role,
    Scope,
)
from clearinghouse.store.audit import AuditLog
from clearinghouse.store.tables import api_tokens, organisations, users

OPERATOR = "operator"  # the actor of identity changes made locally (the CLI), not through the API


@dataclass(frozen=True)
class TokenInfo:
    """What `admin list-tokens` shows of a token: never its plaintext or digest."""

    token_id: str
    organisation: str
    user: str
    role: Role
    scopes: tuple[Scope, ...]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now else "active"


@dataclass(frozen=True)
class TokenGrant:
    token_id: str
    plaintext: str
    expires_at: datetime
    scopes: frozenset[Scope]


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# Verified tokens, per process: (engine id, token digest) -> (verified at, expires at, principal). Only stores
# built with `cache_seconds` use it (the API server). Revoking a token or changing a role through any store in
# this process drops the entries at once; a change made by another process is seen within `cache_seconds`.
_VERIFIED: dict[tuple[int, str], tuple[float, datetime, Principal]] = {}
_VERIFIED_LOCK = threading.Lock()


def _forget(engine: sa.Engine, token_id: str | None = None) -> None:
    with _VERIFIED_LOCK:
        for key, (_, _, principal) in list(_VERIFIED.items()):
            if key[0] == id(engine) and (token_id is None or principal.token_id == token_id):
                del _VERIFIED[key]


class IdentityStore:
    def __init__(self, engine: sa.Engine, cache_seconds: float = 0.0) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        self.audit = AuditLog(engine)

    def create_organisation(
        self, name: str, kind: OrgKind, sector: str | None = None, actor: str = OPERATOR
    ) -> Organisation:
        if kind is OrgKind.CRITICAL_INFRASTRUCTURE and sector not in SECTORS:
            raise IdentityError(
                f"a critical-infrastructure partner needs a sector, one of: {', '.join(sorted(SECTORS))}"
            )
        if kind is not OrgKind.CRITICAL_INFRASTRUCTURE and sector is not None:
            raise IdentityError("only critical-infrastructure partners have a sector")
        organisation = Organisation(str(uuid.uuid4()), name, kind, sector, datetime.now(UTC))
        with self.audit.writing() as conn:
            if conn.execute(sa.select(organisations.c.id).where(organisations.c.name == name)).first():
                raise IdentityError(f"an organisation named {name!r} already exists")
            conn.execute(
                organisations.insert().values(
                    id=organisation.id, name=name, kind=kind.value, sector=sector, created_at=organisation.created_at
                )
            )
            details = {"name": name, "kind": kind.value, "sector": sector}
            self.audit.append(conn, actor, "organisation.created", "organisation", organisation.id, details)
        return organisation

    def organisation(self, name: str) -> Organisation:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(*_ORGANISATION).where(organisations.c.name == name)).first()
        if row is None:
            raise NotFound(f"no organisation named {name!r}")
        return _organisation(row)

    def organisations(self) -> list[Organisation]:
        """Every organisation, by name."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*_ORGANISATION).order_by(organisations.c.name)).all()
        return [_organisation(row) for row in rows]

    def create_token(
        self,
        organisation_name: str,
        user: str,
        role: Role,
        scopes: Iterable[Scope] | None = None,
        valid_for: timedelta = timedelta(days=90),
        actor: str = OPERATOR,
    ) -> TokenGrant:
        """Issue a token for `user` of the organisation (created on first use) with `role`."""
        organisation = self.organisation(organisation_name)
        if role not in ROLES_BY_KIND[organisation.kind]:
            allowed = ", ".join(sorted(r.value for r in ROLES_BY_KIND[organisation.kind]))
            raise IdentityError(f"a {organisation.kind.value} organisation can hold roles {allowed}, not {role.value}")
        granted = frozenset(scopes) if scopes is not None else SCOPES_BY_ROLE[role]
        beyond = granted - SCOPES_BY_ROLE[role]
        if beyond:
            raise IdentityError(f"role {role.value} cannot hold scopes {', '.join(sorted(beyond))}")
        if valid_for <= timedelta(0) or valid_for > timedelta(days=366):
            raise IdentityError("a token must expire within 366 days")
        now = datetime.now(UTC)
        issued = tokens.issue()
        with self.audit.writing() as conn:
            user_id = conn.execute(
                sa.select(users.c.id).where(users.c.organisation_id == organisation.id, users.c.name == user)
            ).scalar_one_or_none()
            if user_id is None:
                user_id = str(uuid.uuid4())
                conn.execute(
                    users.insert().values(
                        id=user_id, organisation_id=organisation.id, name=user, role=role.value, created_at=now
                    )
                )
            else:
                conn.execute(sa.update(users).where(users.c.id == user_id).values(role=role.value))
                _forget(self.engine)  # a role change narrows the user's other tokens at once
            conn.execute(
                api_tokens.insert().values(
                    id=issued.token_id,
                    user_id=user_id,
                    digest=issued.digest,
                    scopes=sorted(s.value for s in granted),
                    created_at=now,
                    expires_at=now + valid_for,
                )
            )
            details = {
                "organisation": organisation.name,
                "user": user,
                "role": role.value,
                "scopes": sorted(s.value for s in granted),
                "expires_at": (now + valid_for).isoformat(),
            }
            self.audit.append(conn, actor, "token.issued", "token", issued.token_id, details)
        return TokenGrant(issued.token_id, issued.plaintext, now + valid_for, granted)

    def list_tokens(self, organisation: str | None = None) -> list[TokenInfo]:
        """Every token (of one organisation, by name), newest first."""
        query = (
            sa.select(
                api_tokens,
                users.c.name.label("user"),
                users.c.role,
                organisations.c.name.label("organisation"),
            )
            .join(users, users.c.id == api_tokens.c.user_id)
            .join(organisations, organisations.c.id == users.c.organisation_id)
            .order_by(api_tokens.c.created_at.desc(), api_tokens.c.id)
        )
        if organisation is not None:
            query = query.where(organisations.c.name == organisation)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            TokenInfo(
                token_id=row.id,
                organisation=row.organisation,
                user=row.user,
                role=Role(row.role),
                scopes=tuple(Scope(s) for s in row.scopes),
                created_at=_aware(row.created_at),
                expires_at=_aware(row.expires_at),
                revoked_at=_utc(row.revoked_at),
                last_used_at=_utc(row.last_used_at),
            )
            for row in rows
        ]

    def revoke_token(self, token_id: str, actor: str = OPERATOR) -> None:
        with self.audit.writing() as conn:
            done = conn.execute(
                sa.update(api_tokens)
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
            if done.rowcount != 1:
                raise NotFound(f"no active token with id {token_id!r}")
            self.audit.append(conn, actor, "token.revoked", "token", token_id, {})
        _forget(self.engine, token_id)

    def authenticate(self, plaintext: str) -> Principal:
        """The principal a bearer token stands for; `Unauthenticated` with the reason otherwise."""
        token_id = tokens.token_id_of(plaintext)
        if token_id is None:
            raise Unauthenticated("malformed token")
        if self.cache_seconds <= 0:
            return self._verify(token_id, plaintext)[0]
        known = self.cached(plaintext)
        if known is not None:
            return known
        verified_at = time.monotonic()
        principal, expires_at = self._verify(token_id, plaintext)
        key = (id(self.engine), tokens.digest(plaintext))
        with _VERIFIED_LOCK:
            if len(_VERIFIED) > 10_000:  # many distinct tokens: start again rather than grow without bound
                _VERIFIED.clear()
            _VERIFIED[key] = (verified_at, expires_at, principal)
        return principal

    def cached(self, plaintext: str) -> Principal | None:
        """The principal of a token verified within `cache_seconds` (no database access), or None."""
        if self.cache_seconds <= 0:
            return None
        cached = _VERIFIED.get((id(self.engine), tokens.digest(plaintext)))
        if cached is None:
            return None
        verified_at, expires_at, principal = cached
        if time.monotonic() - verified_at >= self.cache_seconds or expires_at <= datetime.now(UTC):
            return None
        return principal

    def _verify(self, token_id: str, plaintext: str) -> tuple[Principal, datetime]:
        with self.engine.connect() as conn:
            row = conn.execute(_TOKEN_LOOKUP, {"token_id": token_id}).first()
        if row is None or not tokens.matches(plaintext, row.digest):
            raise Unauthenticated("unknown token")
        if row.revoked_at is not None:
            raise Unauthenticated("token revoked")
        expires_at: datetime = _utc(row.expires_at)  # type: ignore[assignment]
        if expires_at <= datetime.now(UTC):
            raise Unauthenticated("token expired")
        _note_use(self.engine, token_id, _utc(row.last_used_at))
        role = Role(row.role)
        # Scopes are cut to what the role allows today, so a role change narrows old tokens at once.
        scopes = frozenset(Scope(s) for s in row.scopes) & SCOPES_BY_ROLE[role]
        return Principal(row.id, row.user_name, _organisation(row), role, scopes), expires_at


LAST_USED_RESOLUTION = timedelta(minutes=1)


def _note_use(engine: sa.Engine, token_id: str, last_used_at: datetime | None) -> None:
    """Keep `last_used_at` to the minute: at most one write a minute per token, not one per request."""
    now = datetime.now(UTC)
    if last_used_at is not None and now - last_used_at < LAST_USED_RESOLUTION:
        return
    with engine.begin() as conn:
        conn.execute(
            sa.update(api_tokens)
            .where(
                api_tokens.c.id == token_id,
                sa.or_(api_tokens.c.last_used_at.is_(None), api_tokens.c.last_used_at < now - LAST_USED_RESOLUTION),
            )
            .values(last_used_at=now)
        )


_ORGANISATION = (
    organisations.c.id.label("org_id"),
    organisations.c.name.label("org_name"),
    organisations.c.kind.label("org_kind"),
    organisations.c.sector.label("org_sector"),
    organisations.c.created_at.label("org_created_at"),
)


# Built once (every API request authenticates): a bound parameter, so the compiled form is reused.
_TOKEN_LOOKUP = (
    sa.select(api_tokens, users.c.name.label("user_name"), users.c.role, *_ORGANISATION)
    .join(users, users.c.id == api_tokens.c.user_id)
    .join(organisations, organisations.c.id == users.c.organisation_id)
    .where(api_tokens.c.id == sa.bindparam("token_id"))
)


def organisation_of_row(row: Any) -> Organisation:
    """An `Organisation` from a row carrying the org_* columns (`_ORGANISATION`)."""
    return _organisation(row)


def _organisation(row: Any) -> Organisation:
    return Organisation(
        row.org_id,
        row.org_name,
        OrgKind(row.org_kind),
        row.org_sector,
        _utc(row.org_created_at),  # type: ignore[arg-type]
    )
