"""Who manages notification subscriptions and reads deliveries: an organisation its own (with
`notifications:manage`), clearinghouse staff holding that scope (an admin) every organisation's. Another
organisation's subscriptions, deliveries and name are, to everyone else, missing (404)."""

from __future__ import annotations

from clearinghouse.identity.model import Principal, Scope
from clearinghouse.policy.principals import Actor
from clearinghouse.policy.rules import EVERYONE, OrgScope, is_staff, require_scope


def notification_scope(actor: Actor) -> OrgScope:
    """Whose subscriptions and deliveries the actor manages and reads (401/403 without the scope)."""
    manager = require_scope(actor, Scope.NOTIFICATIONS_MANAGE)
    if isinstance(manager, Principal) and not is_staff(manager):
        return OrgScope(organisation_id=manager.organisation.id)
    return EVERYONE  # staff: an admin's token, or the operator
