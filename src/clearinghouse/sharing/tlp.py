"""Who may see what, by TLP 2.0 label. One policy for every path (API, exports, feeds, UI)."""

from __future__ import annotations

from clearinghouse.identity.model import Principal, Role
from clearinghouse.records.model import Tlp

_ORDER = list(Tlp)
_STAFF = frozenset({Role.ADMIN, Role.ANALYST})


def at_most(label: Tlp, ceiling: Tlp) -> bool:
    return _ORDER.index(label) <= _ORDER.index(ceiling)


def ceiling_for(principal: Principal | None) -> Tlp:
    """The most restricted label a caller may read.

    CLEAR is public. GREEN is for the community: any authenticated organisation. AMBER, AMBER+STRICT and RED
    are need-to-know: clearinghouse staff here; per-case recipients come with coordination cases.
    """
    if principal is None:
        return Tlp.CLEAR
    if principal.role in _STAFF:
        return Tlp.RED
    return Tlp.GREEN


def may_see(principal: Principal | None, label: Tlp) -> bool:
    return at_most(label, ceiling_for(principal))
