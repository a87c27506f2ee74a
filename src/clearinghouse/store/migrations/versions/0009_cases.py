"""coordination cases: cases, participants, reports, records, vendor statuses, messages, events, declarations

Revision ID: 0009
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0010"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("tlp", sa.String(16), nullable=False),
        sa.Column("advisory_id", sa.String(128), nullable=False),
        sa.Column("public_at", Timestamp),
        sa.Column("public_tz", sa.String(64)),
        sa.Column("first_notified_at", Timestamp),
        sa.Column("published_at", Timestamp),
        sa.Column("opened_by", sa.String(200), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
    )
    op.create_index("ix_cases_advisory_id", "cases", ["advisory_id"])
    op.create_table(
        "case_participants",
        sa.Column("case_id", sa.String(32), sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("organisation_id", sa.String(36), sa.ForeignKey("organisations.id"), primary_key=True),
        sa.Column("role", sa.String(16), primary_key=True),
        sa.Column("rule", sa.Text),
        sa.Column("added_by", sa.String(200), nullable=False),
        sa.Column("added_at", Timestamp, nullable=False),
    )
    op.create_index("ix_case_participants_organisation_id", "case_participants", ["organisation_id"])
    op.create_table(
        "case_reports",
        sa.Column("case_id", sa.String(32), sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("report_id", sa.String(36), sa.ForeignKey("reports.id"), primary_key=True),
    )
    op.create_index("ix_case_reports_report_id", "case_reports", ["report_id"])
    op.create_table(
        "case_records",
        sa.Column("case_id", sa.String(32), sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("record_id", sa.String(128), primary_key=True),
    )
    op.create_index("ix_case_records_record_id", "case_records", ["record_id"])
    op.create_table(
        "case_vendor_status",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(32), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("organisation_id", sa.String(36), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("justification", sa.String(64)),
        sa.Column("fixed_versions", Json, nullable=False),
        sa.Column("fix_commits", Json, nullable=False),
        sa.Column("advisory_url", sa.Text),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("packages", Json, nullable=False),
        sa.Column("flags", Json, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("at", Timestamp, nullable=False),
    )
    op.create_index(
        "ix_case_vendor_status_case_id_organisation_id", "case_vendor_status", ["case_id", "organisation_id"]
    )
    op.create_table(
        "case_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(32), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("thread", sa.String(36)),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("author_organisation_id", sa.String(36)),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("attachments", Json, nullable=False),
        sa.Column("at", Timestamp, nullable=False),
    )
    op.create_index("ix_case_messages_case_id_thread_id", "case_messages", ["case_id", "thread", "id"])
    op.create_table(
        "case_attachments",
        sa.Column("message_id", sa.Integer, sa.ForeignKey("case_messages.id"), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(32), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("audience", sa.String(36), nullable=False),
        sa.Column("details", Json, nullable=False),
    )
    op.create_index("ix_case_events_case_id_id", "case_events", ["case_id", "id"])
    op.create_table(
        "vendor_declarations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("organisation_id", sa.String(36), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("pattern", sa.String(500), nullable=False),
        sa.Column("match_key", sa.String(700), nullable=False),
        sa.Column("declared_by", sa.String(200), nullable=False),
        sa.Column("declared_at", Timestamp, nullable=False),
        sa.UniqueConstraint("organisation_id", "kind", "pattern"),
    )
    op.create_index("ix_vendor_declarations_match_key", "vendor_declarations", ["match_key"])


def downgrade() -> None:
    for table in (
        "vendor_declarations",
        "case_events",
        "case_attachments",
        "case_messages",
        "case_vendor_status",
        "case_records",
        "case_reports",
        "case_participants",
        "cases",
    ):
        op.drop_table(table)
