"""each de-duplicated report's duplicate fingerprint, shared between workers

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06

- report_fingerprints: one row per report a worker de-duplicated (written with its pipeline run): the fingerprint,
  content hash and ids other workers add to their duplicate indexes instead of fingerprinting the report again.
  Reports processed before this stay without a row and are fingerprinted from their submission, as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_fingerprints",
        sa.Column(
            "report_id",
            sa.String(36),
            sa.ForeignKey("reports.id", ondelete="CASCADE", name="fk_report_fingerprints_report_id_reports"),
            nullable=False,
        ),
        sa.Column("fingerprint", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("report_id", name="pk_report_fingerprints"),
    )


def downgrade() -> None:
    op.drop_table("report_fingerprints")
