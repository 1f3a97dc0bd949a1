"""The ledger: releases and their seals, in SQLite (the default) or PostgreSQL.

The only module that talks SQL. Every public method is one transaction and returns plain
dataclasses, never ORM objects. Database failures become :class:`LedgerError` (exit 3)
with the password hidden; bad references become :class:`UsageError` (exit 2).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, create_engine, event, inspect, or_, select, text, update
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from smokeseal.errors import LedgerError, UsageError
from smokeseal.models import ReleaseRow, SealRow

__all__ = ["HEAD_REVISION", "Ledger", "Release", "database_url_for", "normalise_database_url"]

#: The newest migration; checked without importing Alembic when nothing is to be done.
HEAD_REVISION = "0001"
_MIGRATIONS = Path(__file__).parent / "migrations"
_ADVISORY_LOCK = 0x5E41  # serialises concurrent first uses on PostgreSQL
_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")
_VERSION = re.compile(r"^\S{1,200}$")


@dataclass(frozen=True)
class Release:
    id: int
    app: str
    version: str
    sha: str
    release_branch: str
    state: str
    notes: str | None
    created_at: datetime
    updated_at: datetime
    shipped_at: datetime | None
    abandoned_at: datetime | None
    smoke_seal: dict[str, Any] | None

    @property
    def ref(self) -> str:
        return f"{self.app}@{self.version}"

    @property
    def short_sha(self) -> str:
        return self.sha[:7]

    @property
    def seal_status(self) -> str | None:
        return self.smoke_seal.get("status") if self.smoke_seal else None

    def to_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None

        return {
            "id": self.id, "app": self.app, "version": self.version, "sha": self.sha,
            "release_branch": self.release_branch, "state": self.state, "notes": self.notes,
            "created_at": iso(self.created_at), "updated_at": iso(self.updated_at),
            "shipped_at": iso(self.shipped_at), "abandoned_at": iso(self.abandoned_at),
            "smoke_seal": self.smoke_seal,
        }

    @classmethod
    def _from_row(cls, row: ReleaseRow) -> Release:
        return cls(row.id, row.app, row.version, row.sha, row.release_branch, row.state,
                   row.notes, row.created_at, row.updated_at, row.shipped_at, row.abandoned_at,
                   row.smoke_seal)


def normalise_database_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` for the psycopg 3 driver smokeseal ships."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def database_url_for(explicit: str | None, environ_url: str | None, config_url: str | None,
                     config_dir: Path) -> str:
    """``--database-url``, ``$SMOKESEAL_DATABASE_URL``, the config's, then SQLite beside it.

    A relative SQLite path in the config file is relative to the config, like every other
    path in it; given on the command line or in the environment, it is relative to the cwd.
    """
    if explicit or environ_url:
        return normalise_database_url(explicit or environ_url or "")
    if config_url:
        url = normalise_database_url(config_url)
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////") \
                and url != "sqlite:///:memory:":
            url = f"sqlite:///{(config_dir / url.removeprefix('sqlite:///')).resolve()}"
        return url
    return f"sqlite:///{(config_dir / 'smokeseal.db').resolve()}"


class Ledger:
    """``with Ledger(url) as ledger: ...``; migrations are applied on first use."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        try:
            parsed = make_url(normalise_database_url(url))
        except ArgumentError:
            raise UsageError(f"--database-url: cannot parse {url!r}") from None
        self.url: URL = parsed
        self.display_url = parsed.render_as_string(hide_password=True)
        with self._errors("open"):
            self.engine = _engine(parsed)
        if migrate:
            self.upgrade()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise LedgerError(f"ledger {self.display_url}: could not {doing}: {reason}") from exc
        except OSError as exc:
            raise LedgerError(f"ledger {self.display_url}: could not {doing}: {exc}") from exc

    @contextlib.contextmanager
    def _session(self, doing: str) -> Iterator[Session]:
        with self._errors(doing), Session(self.engine, expire_on_commit=False) as session, \
                session.begin():
            yield session

    # --- schema -------------------------------------------------------------------------

    def revision(self) -> str | None:
        """The migration the database is at (``None``: empty database)."""
        with self._errors("read the schema version"), self.engine.connect() as conn:
            return _current_revision(conn)

    def upgrade(self) -> None:
        """Apply pending migrations, once, even when several processes start together."""
        with self._errors("apply migrations"), self.engine.connect() as conn, conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
            if _current_revision(conn) == HEAD_REVISION:
                return
            from alembic import command
            from alembic.config import Config as AlembicConfig

            alembic = AlembicConfig()
            alembic.set_main_option("script_location", str(_MIGRATIONS))
            alembic.attributes["connection"] = conn
            command.upgrade(alembic, "head")

    # --- releases -----------------------------------------------------------------------

    def create_release(self, app: str, version: str, sha: str, *, release_branch: str = "main",
                       notes: str | None = None) -> Release:
        if not _VERSION.match(version):
            raise UsageError(f"--version: {version!r} must be 1-200 characters, no spaces")
        if not _SHA.match(sha):
            raise UsageError(f"--sha: {sha!r} is not a git commit sha (7-64 hex digits)")
        now = datetime.now(UTC)
        row = ReleaseRow(app=app, version=version, sha=sha.lower(), release_branch=release_branch,
                         state="assembled", notes=notes, created_at=now, updated_at=now)
        try:
            with self._session("create the release") as session:
                session.add(row)
                session.flush()
                return Release._from_row(row)
        except LedgerError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise UsageError(f"{app}@{version} already exists (duplicate version)") from None
            raise

    def release(self, ref: str | int) -> Release:
        """A release by id or ``APP@VERSION``."""
        with self._session("read the release") as session:
            row = _find(session, ref)
            return Release._from_row(row)

    def find(self, app: str, version: str) -> Release | None:
        with self._session("read the release") as session:
            row = session.scalar(select(ReleaseRow).where(ReleaseRow.app == app,
                                                          ReleaseRow.version == version))
            return Release._from_row(row) if row else None

    def releases(self, app: str | None = None, *, limit: int = 50,
                 before_id: int | None = None) -> list[Release]:
        """Newest first; ``before_id`` pages through history without OFFSET."""
        query = select(ReleaseRow).order_by(ReleaseRow.id.desc()).limit(limit)
        if app is not None:
            query = query.where(ReleaseRow.app == app)
        if before_id is not None:
            query = query.where(ReleaseRow.id < before_id)
        with self._session("list releases") as session:
            return [Release._from_row(row) for row in session.scalars(query)]

    def mark_shipped(self, release_id: int) -> Release:
        with self._session("mark the release shipped") as session:
            row = _find(session, release_id, lock=True)
            if row.state != "assembled":
                raise UsageError(f"release {row.id} ({row.app}@{row.version}) is {row.state}; "
                                 "only an assembled release can ship")
            row.state = "shipped"
            row.shipped_at = row.updated_at = datetime.now(UTC)
            return Release._from_row(row)

    def abandon(self, ref: str | int) -> Release:
        """Bookkeeping only: mark the release abandoned. Runs no command anywhere."""
        with self._session("abandon the release") as session:
            row = _find(session, ref, lock=True)
            if row.state == "abandoned":
                raise UsageError(f"release {row.id} ({row.app}@{row.version}) is already "
                                 "abandoned")
            row.state = "abandoned"
            row.abandoned_at = row.updated_at = datetime.now(UTC)
            return Release._from_row(row)

    # --- seals --------------------------------------------------------------------------

    def record_seal(self, release_id: int, seal: dict[str, Any]) -> tuple[Release, int]:
        """Keep ``seal`` in the history and, unless a later one is there, on the release.

        One transaction. "Later" is by ``checked_at``, then by history id, so two pipelines
        sealing at once both land in the history and the release shows the newest.
        """
        checked_at = _parse_time(seal["checked_at"])
        now = datetime.now(UTC)
        with self._session("record the seal") as session:
            _find(session, release_id)
            history = SealRow(release_id=release_id, status=seal["status"],
                              summary=seal["summary"], checked_at=checked_at, recorded_at=now,
                              payload=seal)
            session.add(history)
            session.flush()
            # One conditional UPDATE: atomic on both backends, no read-then-write race.
            session.execute(
                update(ReleaseRow)
                .where(ReleaseRow.id == release_id)
                .where(or_(ReleaseRow.sealed_at.is_(None),
                           ReleaseRow.sealed_at < checked_at,
                           and_(ReleaseRow.sealed_at == checked_at,
                                ReleaseRow.seal_id < history.id)))
                .values(smoke_seal=seal, seal_status=seal["status"], sealed_at=checked_at,
                        seal_id=history.id, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            row = session.get(ReleaseRow, release_id, populate_existing=True)
            assert row is not None
            return Release._from_row(row), history.id

    def seals(self, release_id: int) -> list[dict[str, Any]]:
        """Every seal run of a release, oldest first, each with its history ``id``."""
        with self._session("read the seal history") as session:
            rows = session.scalars(select(SealRow).where(SealRow.release_id == release_id)
                                   .order_by(SealRow.id))
            return [{"id": row.id, **row.payload} for row in rows]

    def last_green(self, app: str, before_id: int) -> Release | None:
        """The newest earlier release of ``app`` whose latest seal is green."""
        with self._session("find the last green release") as session:
            row = session.scalar(
                select(ReleaseRow)
                .where(ReleaseRow.app == app, ReleaseRow.id < before_id,
                       ReleaseRow.seal_status == "green", ReleaseRow.state == "shipped")
                .order_by(ReleaseRow.id.desc()).limit(1))
            return Release._from_row(row) if row else None


def _find(session: Session, ref: str | int, *, lock: bool = False) -> ReleaseRow:
    query = select(ReleaseRow)
    if isinstance(ref, int) or ref.isdigit():
        query = query.where(ReleaseRow.id == int(ref))
    elif "@" in ref:
        app, version = ref.split("@", 1)
        query = query.where(ReleaseRow.app == app, ReleaseRow.version == version)
    else:
        raise UsageError(f"RELEASE: {ref!r} is neither an id nor APP@VERSION")
    if lock:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        raise UsageError(f"no release {ref} in the ledger")
    return row


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        database = url.database
        if database and database != ":memory:" and not Path(database).parent.is_dir():
            raise LedgerError(f"ledger {url}: folder {Path(database).parent} does not exist")
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, record: Any) -> None:
            # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout = 30000")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout
            # instead of deadlocking when both try to upgrade a read lock.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
