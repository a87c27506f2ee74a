"""Authentication (bearer tokens) and the per-endpoint access rule every route declares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from clearinghouse.errors import Unauthenticated
from clearinghouse.identity.access import require
from clearinghouse.identity.model import Principal, Role, Scope
from clearinghouse.store.identity import IdentityStore

_bearer = HTTPBearer(auto_error=False, description="An API token from `clearinghouse admin create-token`")


def identity_store(request: Request) -> IdentityStore:
    store: IdentityStore = request.app.state.identity
    return store


async def optional_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    # Async, so a token verified moments ago costs no thread hop and no query; otherwise look it up in a thread.
    if credentials is None:
        return None
    store = identity_store(request)
    principal = store.cached(credentials.credentials)
    if principal is None:
        principal = await run_in_threadpool(store.authenticate, credentials.credentials)
    request.state.principal = principal
    return principal


def requires(scope: Scope, *roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting callers whose token holds `scope` (and, if given, one of `roles`)."""

    async def check(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
        if principal is None:
            raise Unauthenticated("this endpoint needs a bearer token")
        return require(principal, scope, *roles)

    return check


def access_note(scope: Scope | None, *roles: Role) -> str:
    """The 'who may call it' line every endpoint's OpenAPI description carries."""
    if scope is None:
        return "**Access:** anyone; a token widens what is visible (TLP)."
    who = ", ".join(r.value for r in roles) if roles else "any role"
    return f"**Access:** bearer token with scope `{scope.value}` ({who})."
