"""records, identifiers, affected packages, KEV, import runs

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "inputs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("read", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_runs")),
    )
    op.create_table(
        "kev_entries",
        sa.Column("cve_id", sa.String(length=32), nullable=False),
        sa.Column("vendor_project", sa.Text(), nullable=False),
        sa.Column("product", sa.Text(), nullable=False),
        sa.Column("vulnerability_name", sa.Text(), nullable=False),
        sa.Column("date_added", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("known_ransomware_campaign_use", sa.String(length=16), nullable=False),
        sa.Column("catalog_version", sa.String(length=32), nullable=False),
        sa.Column(
            "entry",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("cve_id", name=op.f("pk_kev_entries")),
    )
    op.create_table(
        "records",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("modified", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column(
            "doc",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "scores",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("max_score", sa.Float(), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("source_id", sa.String(length=200), nullable=False),
        sa.Column("licence", sa.String(length=200), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("origin", sa.Text(), nullable=True),
        sa.Column("tlp", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("known_exploited", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("group_id", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records")),
    )
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_records_group_id"), ["group_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_records_source"), ["source"], unique=False)

    op.create_table(
        "affected_packages",
        sa.Column("record_id", sa.String(length=128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("ecosystem", sa.String(length=100), nullable=False),
        sa.Column("ecosystem_base", sa.String(length=100), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_key", sa.Text(), nullable=False),
        sa.Column("purl", sa.Text(), nullable=True),
        sa.Column(
            "entry",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["records.id"],
            name=op.f("fk_affected_packages_record_id_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_id", "position", name=op.f("pk_affected_packages")),
    )
    with op.batch_alter_table("affected_packages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_affected_packages_ecosystem_base_name_key"),
            ["ecosystem_base", "name_key"],
            unique=False,
        )

    op.create_table(
        "record_identifiers",
        sa.Column("record_id", sa.String(length=128), nullable=False),
        sa.Column("identifier", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["records.id"],
            name=op.f("fk_record_identifiers_record_id_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_id", "identifier", "kind", name=op.f("pk_record_identifiers")),
    )
    with op.batch_alter_table("record_identifiers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_record_identifiers_identifier"), ["identifier"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("record_identifiers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_record_identifiers_identifier"))

    op.drop_table("record_identifiers")
    with op.batch_alter_table("affected_packages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_affected_packages_ecosystem_base_name_key"))

    op.drop_table("affected_packages")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_records_source"))
        batch_op.drop_index(batch_op.f("ix_records_group_id"))

    op.drop_table("records")
    op.drop_table("kev_entries")
    op.drop_table("import_runs")
