"""The ledger's tables. Only :mod:`smokeseal.ledger` queries them; migrations create them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = ["STATES", "Base", "OutboxRow", "ReleaseRow", "SealRow", "UTCDateTime", "json_type"]

STATES = ("assembled", "shipped", "abandoned")


def json_type() -> Any:
    """JSON everywhere, JSONB on PostgreSQL (indexable, compact)."""
    return JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, whatever the backend stores."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ledger")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class ReleaseRow(Base):
    __tablename__ = "releases"
    __table_args__ = (
        UniqueConstraint("app", "version", name="uq_releases_app_version"),
        CheckConstraint("state in ('assembled', 'shipped', 'abandoned')",
                        name="ck_releases_state"),
        Index("ix_releases_app_id", "app", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    app: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(200))
    sha: Mapped[str] = mapped_column(String(64))
    release_branch: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), default="assembled")
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    abandoned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The latest seal, denormalised so that the board reads one row per release.
    smoke_seal: Mapped[dict[str, Any] | None] = mapped_column(json_type())
    seal_status: Mapped[str | None] = mapped_column(String(10))
    sealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    seal_id: Mapped[int | None] = mapped_column(Integer)


class SealRow(Base):
    __tablename__ = "seals"
    __table_args__ = (Index("ix_seals_release_id", "release_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10))
    summary: Mapped[str] = mapped_column(Text)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(json_type())


class OutboxRow(Base):
    """One outgoing message. Written with what caused it; secrets are never stored here."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_outbox_idempotency_key"),
        Index("ix_outbox_status_id", "status", "id"),
        Index("ix_outbox_release_id", "release_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id", ondelete="CASCADE"))
    app: Mapped[str] = mapped_column(String(100))
    sink: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(40))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(json_type())
    after_key: Mapped[str | None] = mapped_column(String(200))
    #: The seal whose messages these are (``None`` for a ship's): only the release's latest
    #: seal may edit what shows its current verdict.
    seal_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    #: A claim's lease; with no ``claimed_by``, a hold: the message waits for something
    #: outside (a GitHub release not made yet) and no claim takes it before then.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(json_type())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
