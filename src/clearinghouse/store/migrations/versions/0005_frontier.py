"""frontier-model pre-release review: criteria sets, models, determinations, classified reviews, submissions,
early-access grants, evaluation runs and findings

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "frontier_criteria_sets",
        sa.Column("criteria_id", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("supersedes", sa.String(length=120), nullable=True),
        sa.Column(
            "document", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("published_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("criteria_id", "version", name=op.f("pk_frontier_criteria_sets")),
    )
    op.create_table(
        "frontier_models",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("developer_org_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("modality", sa.String(length=100), nullable=False),
        sa.Column("training_compute_flop", sa.Float(), nullable=True),
        sa.Column("planned_partner_release", sa.Date(), nullable=True),
        sa.Column("planned_public_release", sa.Date(), nullable=True),
        sa.Column("registered_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["developer_org_id"], ["organisations.id"], name=op.f("fk_frontier_models_developer_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_frontier_models")),
        sa.UniqueConstraint(
            "developer_org_id", "name", "version", name=op.f("uq_frontier_models_developer_org_id_name_version")
        ),
    )
    op.create_table(
        "evaluation_runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.Column("suite", sa.String(length=100), nullable=False),
        sa.Column("run_id", sa.String(length=200), nullable=False),
        sa.Column("log_location", sa.Text(), nullable=True),
        sa.Column(
            "metrics", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["frontier_models.id"], name=op.f("fk_evaluation_runs_model_id_frontier_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_runs")),
    )
    op.create_index(op.f("ix_evaluation_runs_model_id_suite"), "evaluation_runs", ["model_id", "suite"], unique=False)
    op.create_table(
        "frontier_classified_reviews",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.Column("authority", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("designation", sa.String(length=200), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("concluded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"], ["frontier_models.id"], name=op.f("fk_frontier_classified_reviews_model_id_frontier_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_frontier_classified_reviews")),
    )
    op.create_index(
        op.f("ix_frontier_classified_reviews_model_id"), "frontier_classified_reviews", ["model_id"], unique=False
    )
    op.create_table(
        "frontier_determinations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.Column("criteria_id", sa.String(length=100), nullable=False),
        sa.Column("criteria_version", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(length=32), nullable=False),
        sa.Column("coverage", sa.String(length=32), nullable=False),
        sa.Column(
            "results", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["frontier_models.id"], name=op.f("fk_frontier_determinations_model_id_frontier_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_frontier_determinations")),
    )
    op.create_index(op.f("ix_frontier_determinations_model_id"), "frontier_determinations", ["model_id"], unique=False)
    op.create_table(
        "frontier_findings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("capability_area", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("evaluation_run_id", sa.String(length=36), nullable=True),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["frontier_models.id"], name=op.f("fk_frontier_findings_model_id_frontier_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_frontier_findings")),
    )
    op.create_index(op.f("ix_frontier_findings_model_id"), "frontier_findings", ["model_id"], unique=False)
    op.create_table(
        "frontier_submissions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("opens_on", sa.Date(), nullable=False),
        sa.Column("partner_release_on", sa.Date(), nullable=False),
        sa.Column(
            "access_method",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "contacts", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "milestones", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "plan_changes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("offered_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["frontier_models.id"], name=op.f("fk_frontier_submissions_model_id_frontier_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_frontier_submissions")),
    )
    op.create_index(op.f("ix_frontier_submissions_model_id"), "frontier_submissions", ["model_id"], unique=False)
    op.create_table(
        "frontier_grants",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("submission_id", sa.String(length=36), nullable=False),
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.Column("partner_org_id", sa.String(length=36), nullable=False),
        sa.Column("sector", sa.String(length=64), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("nominated_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["frontier_models.id"], name=op.f("fk_frontier_grants_model_id_frontier_models")
        ),
        sa.ForeignKeyConstraint(
            ["partner_org_id"], ["organisations.id"], name=op.f("fk_frontier_grants_partner_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["frontier_submissions.id"],
            name=op.f("fk_frontier_grants_submission_id_frontier_submissions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_frontier_grants")),
    )
    op.create_index(op.f("ix_frontier_grants_submission_id"), "frontier_grants", ["submission_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_frontier_grants_submission_id"), table_name="frontier_grants")
    op.drop_table("frontier_grants")
    op.drop_index(op.f("ix_frontier_submissions_model_id"), table_name="frontier_submissions")
    op.drop_table("frontier_submissions")
    op.drop_index(op.f("ix_frontier_findings_model_id"), table_name="frontier_findings")
    op.drop_table("frontier_findings")
    op.drop_index(op.f("ix_frontier_determinations_model_id"), table_name="frontier_determinations")
    op.drop_table("frontier_determinations")
    op.drop_index(op.f("ix_frontier_classified_reviews_model_id"), table_name="frontier_classified_reviews")
    op.drop_table("frontier_classified_reviews")
    op.drop_index(op.f("ix_evaluation_runs_model_id_suite"), table_name="evaluation_runs")
    op.drop_table("evaluation_runs")
    op.drop_table("frontier_models")
    op.drop_table("frontier_criteria_sets")
