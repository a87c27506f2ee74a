"""partners' assets (SBOM components), their matches against records, and alerts

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-06

- assets: an SBOM a critical-infrastructure organisation uploaded, with its per-component problems.
- asset_components: every component kept, with its OSV ecosystem and normalised name (indexed) for matching.
- asset_matches: which record (and which of its affected entries) affects which component.
- alerts: one per (asset, record) the partner may see; acknowledged by the partner.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "assets",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("organisation_id", sa.String(36), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("format", sa.String(40), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("uploaded_by", sa.String(200), nullable=False),
        sa.Column("uploaded_at", Timestamp, nullable=False),
        sa.Column("component_count", sa.Integer, nullable=False),
        sa.Column("problem_count", sa.Integer, nullable=False),
        sa.Column("problems", Json, nullable=False),
    )
    op.create_index("ix_assets_organisation_id", "assets", ["organisation_id"])
    op.create_table(
        "asset_components",
        sa.Column("asset_id", sa.String(36), sa.ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("ref", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("version", sa.Text),
        sa.Column("purl", sa.Text),
        sa.Column("cpe", sa.Text),
        sa.Column("parent", sa.Text),
        sa.Column("depends_on", Json, nullable=False),
        sa.Column("ecosystem", sa.String(100)),
        sa.Column("name_key", sa.Text),
    )
    op.create_index("ix_asset_components_ecosystem_name_key", "asset_components", ["ecosystem", "name_key"])
    op.create_table(
        "asset_matches",
        sa.Column("asset_id", sa.String(36), sa.ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("record_id", sa.String(128), primary_key=True),
        sa.Column("entries", Json, nullable=False),
        sa.Column("matched_at", Timestamp, nullable=False),
    )
    op.create_index("ix_asset_matches_record_id", "asset_matches", ["record_id"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("organisation_id", sa.String(36), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("asset_id", sa.String(36), sa.ForeignKey("assets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("record_id", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("tlp", sa.String(16), nullable=False),
        sa.Column("components", Json, nullable=False),
        sa.Column("embargo", Json),
        sa.Column("raised_at", Timestamp, nullable=False),
        sa.Column("acknowledged_at", Timestamp),
        sa.Column("acknowledged_by", sa.String(200)),
        sa.UniqueConstraint("asset_id", "record_id", name="uq_alerts_asset_id_record_id"),
    )
    op.create_index("ix_alerts_organisation_id_state", "alerts", ["organisation_id", "state"])


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("asset_matches")
    op.drop_table("asset_components")
    op.drop_table("assets")
