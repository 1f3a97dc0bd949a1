"""Alembic environment: always run by :func:`smokeseal.ledger.upgrade` on its connection."""

from __future__ import annotations

from alembic import context

from smokeseal.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `smokeseal db upgrade`, not the alembic command")

# transactional_ddl: SQLite can roll DDL back too, so a failed upgrade leaves nothing half-done.
context.configure(connection=connection, target_metadata=Base.metadata,
                  transactional_ddl=True, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
