"""job leases, shared rate-limit buckets, keyed audit entries that name the acting token

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

- jobs.lease_until: a running job whose lease ran out is due again (its worker died).
- rate_limit_buckets: token buckets shared by every API process through the store.
- audit_log.token_id and audit_log.keyed: the acting API token; whether the entry's hash is an HMAC under the
  key kept outside the database (entries written before this revision are plain SHA-256 and stay so).
  Columns are added in place (ALTER TABLE ADD COLUMN), so SQLite keeps the append-only triggers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("lease_until", sa.DateTime(timezone=True)))
    op.add_column("audit_log", sa.Column("token_id", sa.String(12)))
    op.add_column("audit_log", sa.Column("keyed", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_table(
        "rate_limit_buckets",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),  # seconds since the epoch
    )


def downgrade() -> None:
    op.drop_table("rate_limit_buckets")
    op.drop_column("audit_log", "keyed")
    op.drop_column("audit_log", "token_id")
    op.drop_column("jobs", "lease_until")
