"""web sign-in: user passwords (Argon2), optional TOTP, lock-out counters and browser sessions

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-06

- user_credentials: one row per user who may sign in to the web interface (API tokens stay for machines). The
  login is unique across organisations; failed_attempts and locked_until implement the lock-out.
- web_sessions: a browser session, stored by the SHA-256 of its cookie (the cookie itself is never stored), with
  the CSRF token its forms carry, an absolute expiry, the last request seen (idle expiry) and when it ended.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_credentials",
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("login", sa.String(200), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("totp_secret", sa.String(64)),
        sa.Column("failed_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
        sa.Column("password_set_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Index("ix_web_sessions_user_id", "user_id"),
    )


def downgrade() -> None:
    op.drop_table("web_sessions")
    op.drop_table("user_credentials")
