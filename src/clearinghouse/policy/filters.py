"""The policy's visibility values as SQL filters for list queries (building expressions only, no I/O).

A list query filtered here and a single read checked with `admits` answer from the same value, so they agree
(`tests/unit/test_policy.py` holds them to it on both databases).
"""

from __future__ import annotations

import sqlalchemy as sa

from clearinghouse.policy.rules import OrgScope, RecordVisibility


def org_filter(scope: OrgScope, owner: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    """Rows whose owning organisation (`owner`) the scope admits."""
    if scope.every_organisation:
        return sa.true()
    if scope.organisation_id is None:
        return sa.false()
    return owner == scope.organisation_id


def record_filter(
    visibility: RecordVisibility, tlp: sa.ColumnElement[str], status: sa.ColumnElement[str]
) -> sa.ColumnElement[bool]:
    """Rows whose TLP label and record status the visibility admits."""
    return sa.and_(
        tlp.in_(sorted(label.value for label in visibility.labels)),
        status.in_(sorted(s.value for s in visibility.statuses)),
    )
