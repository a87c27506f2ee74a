"""reproductions of reports' proofs of concept, and each report's latest verdict

Revision ID: 0015
Revises: 0011
Create Date: 2026-12-06

- reproductions: one row per run (the report's reproduction, or a case's fix verification) with its request,
  state, verdict, evidence and the environments' package hashes.
- reports.reproduction: the latest verdict, which the intake pipeline turns into a check and SSVC's Exploitation.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0015"
down_revision = "0011"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("reports", sa.Column("reproduction", Json))
    op.create_table(
        "reproductions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column(
            "report_id",
            sa.String(36),
            sa.ForeignKey("reports.id", ondelete="CASCADE", name="fk_reproductions_report_id_reports"),
            nullable=False,
        ),
        sa.Column("case_id", sa.String(40)),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("request", Json, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(24)),
        sa.Column("reason", sa.Text),
        sa.Column("step", sa.String(16)),
        sa.Column("observations", Json),
        sa.Column("packages", Json),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", Timestamp, nullable=False),
        sa.Column("started_at", Timestamp),
        sa.Column("finished_at", Timestamp),
        sa.PrimaryKeyConstraint("id", name="pk_reproductions"),
    )
    op.create_index("ix_reproductions_report_id", "reproductions", ["report_id"])
    op.create_index("ix_reproductions_case_id", "reproductions", ["case_id"])
    op.create_index("ix_reproductions_state", "reproductions", ["state"])


def downgrade() -> None:
    op.drop_table("reproductions")
    op.drop_column("reports", "reproduction")
