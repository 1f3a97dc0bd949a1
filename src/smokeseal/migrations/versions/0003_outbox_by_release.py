"""Index the outbox by release: the board's release page lists what each release told.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_release_id", "outbox", ["release_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_release_id", table_name="outbox")
