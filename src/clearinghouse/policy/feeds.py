"""Who reads what through the feeds (OSV API, CSAF provider, TAXII): exactly what the records API shows them.

A feed is another way out for the same records, so it asks the same question (`record_visibility`): anonymous
callers read TLP:CLEAR released records, a token with `records:read` also GREEN, staff every label and unreleased
record. A TLP directory or collection whose label the caller cannot read is, to that caller, one that does not
exist (404), never a 403 that confirms it.
"""

from __future__ import annotations

from clearinghouse.policy.principals import Actor
from clearinghouse.policy.rules import RecordVisibility, record_visibility
from clearinghouse.records.model import Tlp


def feed_visibility(actor: Actor) -> RecordVisibility:
    """The records a feed may hand `actor` (401/403 as for the records API: a token without `records:read`)."""
    return record_visibility(actor)


def label_readable(actor: Actor, labels: frozenset[Tlp]) -> bool:
    """Whether a feed partition holding records of `labels` (a CSAF TLP directory, a TAXII collection) exists for
    `actor`: it does when the actor may read at least one of those labels."""
    return bool(feed_visibility(actor).labels & labels)
