"""pipeline step totals: how many reports each intake step ran on and the time it took, for /metrics and stats

Revision ID: 0014
Revises: 0015
Create Date: 2026-12-06

- pipeline_step_totals: one row per pipeline step, counters every worker adds its batches to (in the transaction
  that writes the batch), so /metrics in any API process shows the work of every worker on every machine.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_step_totals",
        sa.Column("step", sa.String(32), primary_key=True),
        sa.Column("runs", sa.BigInteger, nullable=False),
        sa.Column("failures", sa.BigInteger, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pipeline_step_totals")
