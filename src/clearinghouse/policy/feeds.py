"""Who reads what through the feeds (OSV API, CSAF provider, TAXII): exactly what the records API shows them.

A feed is another way out for the same records, so it asks the same question (`record_visibility`): anonymous
callers read TLP:CLEAR released records, a token with `records:read` also GREEN, staff every label and unreleased
record. A TLP directory or collection whose label the caller cannot read is, to that caller, one that does not
exist (404), never a 403 that confirms it.
"""

from __future__ import annotations

from clearinghouse.identity.model import Principal, Scope
from clearinghouse.policy.principals import Actor
from clearinghouse.policy.rules import RecordVisibility, holds, is_staff, record_visibility
from clearinghouse.records.model import RecordStatus, Tlp


def feed_visibility(actor: Actor) -> RecordVisibility:
    """The records a feed may hand `actor` (401/403 as for the records API: a token without `records:read`)."""
    return record_visibility(actor)


def label_readable(actor: Actor, labels: frozenset[Tlp]) -> bool:
    """Whether a feed partition holding records of `labels` (a CSAF TLP directory, a TAXII collection) exists for
    `actor`: it does when the actor may read at least one of those labels."""
    return bool(feed_visibility(actor).labels & labels)


def partner_collection_readable(actor: Actor, organisation_id: str) -> bool:
    """A partner's early-warning collection (the advisories of the cases naming it for early warning, embargoed
    ones included) exists for clearinghouse staff and for that organisation's tokens holding `records:read` and
    `cases:read` (the case policy's reading of an embargoed advisory); for anyone else it does not exist."""
    feed_visibility(actor)  # a token without records:read is refused outright, as everywhere in the feeds
    if is_staff(actor):
        return True
    return isinstance(actor, Principal) and actor.organisation.id == organisation_id and holds(actor, Scope.CASES_READ)


def partner_visibility() -> RecordVisibility:
    """Inside a partner's collection every record is shown: the collection holds only its cases' advisories."""
    return RecordVisibility(frozenset(Tlp), frozenset(RecordStatus))
