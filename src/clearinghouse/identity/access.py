"""The per-operation access rule the API's routes and the CLI's token-identified commands share: a token must
hold the operation's scope and, where the operation names roles, its user one of them."""

from __future__ import annotations

from clearinghouse.errors import Forbidden
from clearinghouse.identity.model import Principal, Role, Scope


def require(principal: Principal, scope: Scope, *roles: Role) -> Principal:
    if not principal.may(scope) or (roles and principal.role not in roles):
        who = f"role {principal.role.value}" if roles and principal.role not in roles else "this token"
        raise Forbidden(f"{who} may not do this (needs scope {scope.value})")
    return principal
