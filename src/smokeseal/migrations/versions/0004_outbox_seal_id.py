"""Name the seal each outbox message came from: only the latest seal's edits may show.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: messages queued before this (and those a ship queues) have no seal.
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("seal_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("seal_id")
