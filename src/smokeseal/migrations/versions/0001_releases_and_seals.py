"""Releases and the history of their seals.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from smokeseal.models import UTCDateTime, json_type

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "releases",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("app", sa.String(100), nullable=False),
        sa.Column("version", sa.String(200), nullable=False),
        sa.Column("sha", sa.String(64), nullable=False),
        sa.Column("release_branch", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("shipped_at", UTCDateTime(), nullable=True),
        sa.Column("abandoned_at", UTCDateTime(), nullable=True),
        sa.Column("smoke_seal", json_type(), nullable=True),
        sa.Column("seal_status", sa.String(10), nullable=True),
        sa.Column("sealed_at", UTCDateTime(), nullable=True),
        sa.Column("seal_id", sa.Integer(), nullable=True),
        sa.UniqueConstraint("app", "version", name="uq_releases_app_version"),
        sa.CheckConstraint("state in ('assembled', 'shipped', 'abandoned')",
                           name="ck_releases_state"),
    )
    op.create_index("ix_releases_app_id", "releases", ["app", "id"])
    op.create_table(
        "seals",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("release_id", sa.Integer(),
                  sa.ForeignKey("releases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("payload", json_type(), nullable=False),
    )
    op.create_index("ix_seals_release_id", "seals", ["release_id", "id"])
