"""affected packages: the entry is read from the record's document, not stored a second time

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Every affected[] entry was stored twice, in the record's document and in its affected_packages row: 12.6 MB of
the dev set's 69 MB store. Queries now find candidate rows by package and read the entries from the documents.
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("affected_packages") as batch:
        batch.drop_column("entry")


def downgrade() -> None:
    with op.batch_alter_table("affected_packages") as batch:
        batch.add_column(sa.Column("entry", _JSON, nullable=True))
    conn = op.get_bind()
    affected = sa.table("affected_packages", sa.column("record_id"), sa.column("position"), sa.column("entry", _JSON))
    records = sa.table("records", sa.column("id"), sa.column("doc", _JSON))
    rows = conn.execute(
        sa.select(affected.c.record_id, affected.c.position, records.c.doc).join(
            records, records.c.id == affected.c.record_id
        )
    ).all()
    for record_id, position, doc in rows:
        document = orjson.loads(doc) if isinstance(doc, str) else doc
        conn.execute(
            sa.update(affected)
            .where(affected.c.record_id == record_id, affected.c.position == position)
            .values(entry=document["affected"][position])
        )
    with op.batch_alter_table("affected_packages") as batch:
        batch.alter_column("entry", existing_type=_JSON, nullable=False)
