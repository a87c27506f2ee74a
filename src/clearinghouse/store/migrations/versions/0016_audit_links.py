"""audit log sealed per batch: leaves with their own HMAC, links holding a Merkle root of each batch's leaves

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-06

- audit_links: one row per sealed batch (chained, Merkle root, the leaves' numbers, HMAC); append-only triggers as
  audit_log's (0004).
- audit_pending: PostgreSQL's list of committed, not yet sealed leaves (writers add to it without any lock).
- PostgreSQL: the sequence `audit_leaf_ids` numbers new leaves after the existing entries (owned by
  audit_log.seq, so TRUNCATE ... RESTART IDENTITY restarts it), since writers no longer read the head.
Existing rows stay as they are: the legacy chain ends where the first link begins (its prev_hash is that head).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0016"
down_revision = "0014"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
_MESSAGE = "audit_links is append-only"


def upgrade() -> None:
    op.create_table(
        "audit_links",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("leaf_ranges", Json, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table("audit_pending", sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE audit_leaf_ids OWNED BY audit_log.seq")
        op.execute("SELECT setval('audit_leaf_ids', COALESCE((SELECT max(seq) FROM audit_log), 0) + 1, false)")
        op.execute(
            "CREATE FUNCTION audit_links_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{_MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_links_append_only BEFORE UPDATE OR DELETE ON audit_links "
            "FOR EACH ROW EXECUTE FUNCTION audit_links_append_only()"
        )
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_links_no_{event.lower()} BEFORE {event} ON audit_links "
            f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_links_append_only ON audit_links")
        op.execute("DROP FUNCTION audit_links_append_only()")
        op.execute("DROP SEQUENCE audit_leaf_ids")
    op.drop_table("audit_pending")
    op.drop_table("audit_links")
