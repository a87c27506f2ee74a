"""records: what the import dropped to keep a record (a malformed range), so the record can be flagged

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


# Plain ALTER TABLE, not batch mode: on SQLite, batch mode would copy `records` and drop the old table, and the
# ON DELETE CASCADE of the tables referring to it would empty them (SQLite >= 3.35 drops a column in place).
def upgrade() -> None:
    op.add_column("records", sa.Column("repairs", _JSON))


def downgrade() -> None:
    op.drop_column("records", "repairs")
