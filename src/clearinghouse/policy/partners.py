"""Who may see and do what with partners' assets, matches, alerts and VEX (pure decisions, no I/O).

- An asset belongs to the critical-infrastructure organisation that uploaded it. Its users read it with
  `assets:read` and upload, and acknowledge its alerts, with `assets:write`; clearinghouse staff read every
  organisation's with `assets:read` (they upload nothing: an asset is a partner's). Anyone else's asset, alert or
  VEX is reported missing (404).
- A match, and an alert, shows a record only where the partner organisation may read it: released records up to
  TLP:GREEN (what a partner's token reads, `rules.record_visibility`), and an embargoed case's advisory only when
  the case names the organisation for early warning. The same rule decides which matches raise alerts, so an
  embargoed record reaches no other partner by alert, webhook, e-mail, listing or VEX.
"""

from __future__ import annotations

from clearinghouse.errors import Forbidden
from clearinghouse.identity.model import OrgKind, Principal, Scope
from clearinghouse.policy.principals import Actor, Operator
from clearinghouse.policy.rules import (
    EVERYONE,
    NOBODY,
    RELEASED_STATUSES,
    OrgScope,
    RecordVisibility,
    is_staff,
    labels_up_to,
    require_scope,
)
from clearinghouse.records.model import RecordStatus, Tlp

# What a partner organisation reads of the record store, whoever of its users asks.
PARTNER_RECORDS = RecordVisibility(labels_up_to(Tlp.GREEN), RELEASED_STATUSES)


def require_asset_reader(actor: Actor) -> Principal | Operator:
    """Assets, matches, alerts and VEX: a critical-infrastructure organisation's token or staff, `assets:read`."""
    reader = require_scope(actor, Scope.ASSETS_READ)
    if isinstance(reader, Principal) and not is_staff(reader):
        _require_partner_organisation(reader)
    return reader


def require_asset_owner(actor: Actor) -> Principal | Operator:
    """Uploading an SBOM and acknowledging alerts: the partner organisation's own user (`assets:write`), or the
    operator acting for a named partner organisation (the CLI)."""
    owner = require_scope(actor, Scope.ASSETS_WRITE)
    if isinstance(owner, Principal):
        _require_partner_organisation(owner)
    return owner


def _require_partner_organisation(principal: Principal) -> None:
    if principal.organisation.kind is not OrgKind.CRITICAL_INFRASTRUCTURE:
        raise Forbidden("only critical-infrastructure partner organisations hold assets")


def asset_scope(actor: Actor) -> OrgScope:
    """Whose assets (and their matches, alerts, VEX) an actor sees: staff every organisation's, a partner its own."""
    if is_staff(actor):
        return EVERYONE
    if isinstance(actor, Principal):
        return OrgScope(organisation_id=actor.organisation.id)
    return NOBODY


def partner_sees_record(label: Tlp, status: RecordStatus, early_warning: bool) -> bool:
    """Whether a partner organisation may learn of a record matching its asset. `early_warning`: an embargoed
    case whose advisory this record is names the organisation for early warning."""
    return PARTNER_RECORDS.admits(label, status) or (early_warning and status is RecordStatus.EMBARGOED)


def sees_every_match(actor: Actor) -> bool:
    """Staff see every match of an asset, whatever the record's TLP or state."""
    return is_staff(actor)
