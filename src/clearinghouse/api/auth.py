"""Authentication (bearer tokens) and the per-endpoint access rule every route declares.

Routes only name the policy rule an operation needs (`clearinghouse.policy.rules`); the decision is the policy's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from clearinghouse.errors import Unauthenticated
from clearinghouse.identity.model import Principal
from clearinghouse.policy import ANONYMOUS, Actor
from clearinghouse.store.audit import ACTING_TOKEN
from clearinghouse.store.identity import IdentityStore

_bearer = HTTPBearer(auto_error=False, description="An API token from `clearinghouse admin create-token`")


def identity_store(request: Request) -> IdentityStore:
    store: IdentityStore = request.app.state.identity
    return store


async def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The request's actor: `Anonymous` without a token, the token's principal otherwise (401 for a bad token)."""
    # Async, so a token verified moments ago costs no thread hop and no query; otherwise look it up in a thread.
    if credentials is None:
        return ANONYMOUS
    store = identity_store(request)
    principal = store.cached(credentials.credentials)
    if principal is None:
        principal = await run_in_threadpool(store.authenticate, credentials.credentials)
    request.state.principal = principal
    ACTING_TOKEN.set(principal.token_id)  # every audit entry this request writes names the token
    return principal


def authorised(rule: Callable[[Actor], object]) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting callers the policy `rule` admits to the operation (it raises 401/403 otherwise)."""

    async def check(actor: Annotated[Actor, Depends(caller)]) -> Principal:
        rule(actor)
        if not isinstance(actor, Principal):  # the API has no operator: only tokens
            raise Unauthenticated("this operation needs a bearer token")
        return actor

    return check


def access_note(who: str | None) -> str:
    """The 'who may call it' line every endpoint's OpenAPI description carries (the README's policy table)."""
    if who is None:
        return "**Access:** anyone; a token widens what is visible (TLP)."
    return f"**Access:** {who}."
