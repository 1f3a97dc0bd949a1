"""Alembic migrations for the ledger. Additive only: never drop or rename a column."""
