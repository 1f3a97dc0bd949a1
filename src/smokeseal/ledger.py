"""The ledger: releases and their seals, in SQLite (the default) or PostgreSQL.

The only module that talks SQL. Every public method is one transaction and returns plain
dataclasses, never ORM objects. Database failures become :class:`LedgerError` (exit 3)
with the password hidden; bad references become :class:`UsageError` (exit 2).
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select, text, update
from sqlalchemy.engine import URL, CursorResult, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from smokeseal.database import (
    HEAD_REVISION,
    current_revision,
    database_url_for,
    make_engine,
    normalise_database_url,
    reader,
    upgrade,
)
from smokeseal.errors import LedgerError, LedgerTimeout, UsageError
from smokeseal.models import OutboxRow, ReleaseRow, SealRow

__all__ = ["HEAD_REVISION", "Ledger", "Message", "NewMessage", "OutboxTally", "Release",
           "database_url_for", "normalise_database_url"]

_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")
#: Ids are 32-bit integers in both backends; a larger one names nothing (and PostgreSQL
#: would refuse to compare it).
MAX_ID = 2**31 - 1
_VERSION = re.compile(r"^\S{1,200}$")
#: How many of one lane's messages one claim takes: enough for a release's worth of them
#: and a backlog, few enough that a claim stays short and other lanes get their turn.
PER_LANE = 20


@dataclass(frozen=True)
class NewMessage:
    """An outgoing message to queue with the change that caused it.

    ``key`` is its idempotency key; ``{seal_id}`` in it becomes the seal's history id.
    ``after_key`` names a message that must be delivered first (its result is handed on).
    """

    sink: str
    kind: str
    key: str
    payload: dict[str, Any]
    after_key: str | None = None


@dataclass(frozen=True)
class Message:
    """A queued message, as the outbox sees it."""

    id: int
    release_id: int
    app: str
    sink: str
    kind: str
    key: str
    payload: dict[str, Any]
    after_key: str | None
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    result: dict[str, Any] | None
    created_at: datetime
    delivered_at: datetime | None
    #: The seal it came from (``None``: a ship's message, or queued before seals were named).
    seal_id: int | None = None

    @classmethod
    def _from_row(cls, row: OutboxRow) -> Message:
        return cls(row.id, row.release_id, row.app, row.sink, row.kind, row.idempotency_key,
                   row.payload, row.after_key, row.status, row.attempts, row.next_attempt_at,
                   row.last_error, row.result, row.created_at, row.delivered_at, row.seal_id)


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
    #: The history id of the seal shown on the release (``None`` until sealed).
    seal_id: int | None = None

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
    def _from_line(cls, row: Any) -> Release:
        """From a listing row (see :meth:`Ledger.releases`): no notes, a seal in brief."""
        seal = ({"status": row.seal_status, "summary": row.seal_summary}
                if row.seal_status else None)
        return cls(row.id, row.app, row.version, row.sha, row.release_branch, row.state,
                   None, row.created_at, row.updated_at, row.shipped_at, row.abandoned_at,
                   seal, row.seal_id)

    @classmethod
    def _from_row(cls, row: Any) -> Release:
        """From an ORM row or a plain result row with the same column names."""
        return cls(row.id, row.app, row.version, row.sha, row.release_branch, row.state,
                   row.notes, row.created_at, row.updated_at, row.shipped_at, row.abandoned_at,
                   row.smoke_seal, row.seal_id)


@dataclass(frozen=True)
class OutboxTally:
    """How many messages of one sink are in one status, and when the oldest was queued."""

    sink: str
    status: str
    count: int
    oldest: datetime | None


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
            self.engine = make_engine(parsed)
        self._reader = reader(self.engine)
        #: Readers that give up after so many seconds (see :meth:`reading`), by timeout.
        self._bounded: dict[float, Engine] = {}
        self._bounded_lock = threading.Lock()
        #: The session of the innermost :meth:`reading` block, if any.
        self._pinned: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
            "smokeseal_ledger_reading", default=None)
        if migrate:
            self.upgrade()

    def close(self) -> None:
        with self._bounded_lock:
            for engine in self._bounded.values():
                engine.dispose()
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
            error = LedgerTimeout if _timed_out(exc) else LedgerError
            raise error(f"ledger {self.display_url}: could not {doing}: {reason}") from exc
        except OSError as exc:
            raise LedgerError(f"ledger {self.display_url}: could not {doing}: {exc}") from exc

    @contextlib.contextmanager
    def _session(self, doing: str) -> Iterator[Session]:
        with self._errors(doing), Session(self.engine, expire_on_commit=False) as session, \
                session.begin():
            yield session

    @contextlib.contextmanager
    def _read(self, doing: str) -> Iterator[Session]:
        """A session for reads only: the one :meth:`reading` holds, or a new one."""
        if (pinned := self._pinned.get()) is not None:
            with self._errors(doing):
                yield pinned
            return
        with self._errors(doing), Session(self._reader, expire_on_commit=False) as session:
            yield session

    @contextlib.contextmanager
    def reading(self, timeout: float | None = None) -> Iterator[None]:
        """Several reads on one connection, each seeing the latest commit (a board page).

        With ``timeout``, each read, and the wait for a connection, gives up after about so
        many seconds with :class:`LedgerTimeout` rather than wait for a lock or a slow
        database; its connection comes from a pool of its own, opened with that limit.
        """
        if self._pinned.get() is not None:
            yield
            return
        engine = self._reader if timeout is None else self._bounded_reader(timeout)
        with self._errors("read"), Session(engine, expire_on_commit=False) as session:
            token = self._pinned.set(session)
            try:
                yield
            finally:
                self._pinned.reset(token)

    def _bounded_reader(self, timeout: float) -> Engine:
        with self._bounded_lock:
            if (engine := self._bounded.get(timeout)) is None:
                with self._errors("open"):
                    engine = reader(make_engine(self.url, timeout=timeout))
                self._bounded[timeout] = engine
            return engine

    # --- schema -------------------------------------------------------------------------

    def revision(self, timeout: float | None = None) -> str | None:
        """The migration the database is at (``None``: empty database); ``timeout`` as for
        :meth:`reading`."""
        engine = self.engine if timeout is None else self._bounded_reader(timeout)
        with self._errors("read the schema version"), engine.connect() as conn:
            return current_revision(conn)

    def upgrade(self) -> None:
        """Apply pending migrations, once, even when several processes start together."""
        with self._errors("apply migrations"), self.engine.connect() as conn, conn.begin():
            upgrade(conn)

    # --- releases -----------------------------------------------------------------------

    def create_release(self, app: str, version: str, sha: str, *, release_branch: str = "main",
                       notes: str | None = None) -> Release:
        if not _VERSION.match(version):
            raise UsageError(f"--version: {version!r} must be 1-200 characters, no spaces")
        if not _SHA.match(sha):
            raise UsageError(f"--sha: {sha!r} is not a git commit sha (7-64 hex digits)")
        if notes is not None and "\x00" in notes:
            # PostgreSQL cannot store it, SQLite would: refuse it on both, the same way.
            raise UsageError("notes: contain a NUL character; release notes are text")
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
        with self._read("read the release") as session:
            row = _find(session, ref)
            return Release._from_row(row)

    def find(self, app: str, version: str) -> Release | None:
        with self._read("read the release") as session:
            row = session.scalar(select(ReleaseRow).where(ReleaseRow.app == app,
                                                          ReleaseRow.version == version))
            return Release._from_row(row) if row else None

    def releases(self, app: str | None = None, *, limit: int = 50,
                 before_id: int | None = None, after_id: int | None = None,
                 lines: bool = False) -> list[Release]:
        """Newest first. ``before_id``/``after_id`` page through history without OFFSET, so
        the hundredth page costs what the first does.

        With ``lines``, each release comes as a listing shows it: no notes, and of its seal
        only the status and summary; the rest stays in the database.
        """
        before_id, after_id = _clamp(before_id, after_id)
        if after_id is not None and after_id >= MAX_ID:
            return []
        # Plain rows, not ORM objects: a board page reads fifty at a time, and the identity
        # map and change tracking would cost more than the query.
        columns = [*_LINE_COLUMNS, ReleaseRow.smoke_seal["summary"].as_string()
                   .label("seal_summary")] if lines else [*ReleaseRow.__table__.columns]
        make = Release._from_line if lines else Release._from_row
        query = select(*columns).limit(limit)
        if app is not None:
            query = query.where(ReleaseRow.app == app)
        if before_id is not None:
            query = query.where(ReleaseRow.id < before_id)
        if after_id is not None:
            # The page just above ``after_id``: read upwards, then show it newest first.
            query = query.where(ReleaseRow.id > after_id).order_by(ReleaseRow.id.asc())
        else:
            query = query.order_by(ReleaseRow.id.desc())
        with self._read("list releases") as session:
            rows = [make(row) for row in session.execute(query)]
        return rows[::-1] if after_id is not None else rows

    def has_releases(self, app: str | None = None, *, before_id: int | None = None,
                     after_id: int | None = None) -> bool:
        """Whether any release (of ``app``) lies below ``before_id`` / above ``after_id``."""
        before_id, after_id = _clamp(before_id, after_id)
        if after_id is not None and after_id >= MAX_ID:
            return False
        query = select(ReleaseRow.id).limit(1)
        if app is not None:
            query = query.where(ReleaseRow.app == app)
        if before_id is not None:
            query = query.where(ReleaseRow.id < before_id)
        if after_id is not None:
            query = query.where(ReleaseRow.id > after_id)
        with self._read("list releases") as session:
            return session.scalar(query) is not None

    def apps(self) -> list[str]:
        """Every app with a release, sorted."""
        with self._read("list apps") as session:
            return [str(app) for app in session.scalars(_APPS)]

    def current_releases(self, *, notes: bool = True) -> dict[str, Release | None]:
        """Every app with a release, sorted, each with its newest shipped release (or None).

        Two statements whatever the number of apps or releases: the board asks on every page.
        ``notes=False`` leaves the releases' notes in the database (``None``).
        """
        columns = [column for column in ReleaseRow.__table__.columns
                   if notes or column.name != "notes"]
        with self._read("list apps") as session:
            pairs = session.execute(_NEWEST_SHIPPED).all()
            ids = [row_id for _, row_id in pairs if row_id is not None]
            rows = {row.id: _release_of(row) for row in session.execute(
                select(*columns).where(ReleaseRow.id.in_(ids)))} if ids else {}
            return {str(app): rows.get(row_id) if row_id else None for app, row_id in pairs}

    def latest_shipped(self, app: str, *, lines: bool = False) -> Release | None:
        """The newest shipped (not abandoned) release of ``app``: what production runs.
        With ``lines``, as a listing shows it (no notes, its seal in brief)."""
        with self._read("read the latest release") as session:
            if lines:
                line = session.execute(
                    select(*_BRIEF_COLUMNS)
                    .where(ReleaseRow.app == app, ReleaseRow.state == "shipped")
                    .order_by(ReleaseRow.id.desc()).limit(1)).first()
                return Release._from_line(line) if line else None
            row = session.scalar(select(ReleaseRow)
                                 .where(ReleaseRow.app == app, ReleaseRow.state == "shipped")
                                 .order_by(ReleaseRow.id.desc()).limit(1))
            return Release._from_row(row) if row else None

    def shipped_after(self, release: Release) -> datetime | None:
        """When a later release of ``release``'s app last shipped (abandoned since or not),
        or None: from then on production ran something else."""
        with self._read("read the latest release") as session:
            return session.scalar(
                select(ReleaseRow.shipped_at)
                .where(ReleaseRow.app == release.app, ReleaseRow.id > release.id,
                       ReleaseRow.shipped_at.is_not(None))
                .order_by(ReleaseRow.shipped_at.desc()).limit(1))

    def rolled_back(self, app: str) -> Release | None:
        """The release of ``app`` abandoned after it shipped, when nothing has shipped
        since and the release now live has not been sealed since: production runs whatever
        the rollback put there, which nothing has checked, so no earlier seal may be shown
        as live. None otherwise.

        Two small reads of the listing's columns (never notes nor a seal's record; the live
        release's seal time is its ``sealed_at`` column): the public badge and every
        ``/metrics`` scrape ask. The release comes as a listing shows it (see
        :meth:`releases` with ``lines``)."""
        with self._read("read the latest release") as session:
            newest = session.execute(
                select(*_BRIEF_COLUMNS)
                .where(ReleaseRow.app == app, ReleaseRow.shipped_at.is_not(None))
                .order_by(ReleaseRow.id.desc()).limit(1)).first()
            if newest is None or newest.state != "abandoned" or newest.abandoned_at is None:
                return None
            sealed = session.scalar(select(ReleaseRow.sealed_at)
                                    .where(ReleaseRow.app == app, ReleaseRow.state == "shipped")
                                    .order_by(ReleaseRow.id.desc()).limit(1))
            return _rolled_back(newest, sealed)

    def rollbacks(self) -> dict[str, Release]:
        """:meth:`rolled_back` for every app at once, by app (only the rolled-back ones):
        two statements whatever the number of apps, for ``/metrics`` and the app strip."""
        with self._read("read the latest releases") as session:
            pairs = session.execute(_NEWEST_AND_LIVE).all()
            ids = {row_id for _, newest, live in pairs for row_id in (newest, live) if row_id}
            rows = {row.id: row for row in session.execute(
                select(*_BRIEF_COLUMNS).where(ReleaseRow.id.in_(ids)))} if ids else {}
        found: dict[str, Release] = {}
        for app, newest_id, live_id in pairs:
            newest = rows.get(newest_id)
            if newest is None or newest.state != "abandoned" or newest.abandoned_at is None:
                continue
            live = rows.get(live_id)
            if (release := _rolled_back(newest, live.sealed_at if live else None)) is not None:
                found[str(app)] = release
        return found

    def mark_shipped(self, release_id: int,
                     messages: Callable[[Release], Sequence[NewMessage]] | None = None
                     ) -> Release:
        """Mark shipped and queue ``messages(release)`` in the same transaction."""
        with self._session("mark the release shipped") as session:
            row = _find(session, release_id, lock=True)
            if row.state != "assembled":
                raise UsageError(f"release {row.id} ({row.app}@{row.version}) is {row.state}; "
                                 "only an assembled release can ship")
            row.state = "shipped"
            row.shipped_at = row.updated_at = datetime.now(UTC)
            release = Release._from_row(row)
            _enqueue(session, release, messages(release) if messages else (), {})
            return release

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

    def record_seal(self, release_id: int, seal: dict[str, Any], *,
                    messages: Sequence[NewMessage]
                    | Callable[[Release], Sequence[NewMessage]] = (),
                    notes: Callable[[str | None], str | None] | None = None
                    ) -> tuple[Release, int]:
        """Keep ``seal`` in the history and, unless a later one is there, on the release.

        One transaction with the messages it causes and the notes' seal section, so nothing
        is sent that was not recorded. "Later" is by ``checked_at``, then by history id: two
        pipelines sealing at once both land in the history and the release shows the newest.
        ``messages`` may be a function of the release as it was before this seal (locked, so
        a concurrent seal cannot slip between): what a re-seal tells depends on the last.
        """
        checked_at = _parse_time(seal["checked_at"])
        now = datetime.now(UTC)
        with self._session("record the seal") as session:
            current = _find(session, release_id, lock=True)
            if callable(messages):
                messages = messages(Release._from_row(current))
            new_notes = notes(current.notes) if notes else current.notes
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
                        seal_id=history.id, updated_at=now, notes=new_notes)
                .execution_options(synchronize_session=False)
            )
            row = session.get(ReleaseRow, release_id, populate_existing=True)
            assert row is not None
            release = Release._from_row(row)
            _enqueue(session, release, messages, {"seal_id": history.id})
            return release, history.id

    # --- the outbox ---------------------------------------------------------------------

    def message(self, key: str) -> Message | None:
        with self._read("read the outbox") as session:
            row = session.scalar(select(OutboxRow).where(OutboxRow.idempotency_key == key))
            return Message._from_row(row) if row else None

    def messages(self, statuses: Sequence[str] = ("pending", "failed"),
                 limit: int = 200) -> list[Message]:
        with self._read("read the outbox") as session:
            rows = session.scalars(select(OutboxRow).where(OutboxRow.status.in_(statuses))
                                   .order_by(OutboxRow.id).limit(limit))
            return [Message._from_row(row) for row in rows]

    def claim(self, worker: str, lease_seconds: float, *, due_only: bool = True,
              per_lane: int = PER_LANE,
              ordered: Sequence[tuple[str, str | None]] = ()) -> list[Message]:
        """Take pending messages for ``worker``; another worker cannot take them meanwhile.

        ``due_only=False`` ignores the backoff of failed messages, not a hold (see
        :meth:`finish`).

        Fair: at most ``per_lane`` of each lane's (app and sink) oldest claimable messages,
        handed out in turn, so a dead webhook's backlog never starves another sink. ``ordered``
        names lines, ``(sink, kind)`` or ``(sink, None)`` for all of a sink's kinds, in which
        a release's message waits until its older ones have left ``pending``: the seal never
        lands above the release notes in a thread, nor an older seal's edit after a newer's.
        On PostgreSQL, rows another claim holds are skipped (``SKIP LOCKED``), not waited on.
        """
        now = datetime.now(UTC)
        claimable = _claimable(now, due_only, ordered)
        # Alerts first: a lane holding a claimable alert is handed out before the others,
        # and its alerts before its other messages (a dead sink's backlog never comes
        # before an alert).
        first = case((OutboxRow.kind == "alert", 0), else_=1)
        with self._session("claim outbox messages") as session:
            lanes = session.execute(
                select(OutboxRow.app, OutboxRow.sink).where(*claimable)
                .group_by(OutboxRow.app, OutboxRow.sink)
                .order_by(func.min(first), func.min(OutboxRow.id))).all()
            shares = [session.scalars(
                select(OutboxRow.id).where(*claimable, OutboxRow.app == app,
                                           OutboxRow.sink == sink)
                .order_by(first, OutboxRow.id).limit(per_lane)
                .with_for_update(skip_locked=True)).all() for app, sink in lanes]
            ids = [message_id for share in shares for message_id in share]
            if not ids:
                return []
            # The rows are ours: locked above on PostgreSQL, and on SQLite the transaction
            # (BEGIN IMMEDIATE) holds the only write lock.
            session.execute(update(OutboxRow).where(OutboxRow.id.in_(ids))
                            .values(claimed_by=worker,
                                    claimed_until=now + timedelta(seconds=lease_seconds))
                            .execution_options(synchronize_session=False))
            rows = {row.id: Message._from_row(row) for row in session.scalars(
                select(OutboxRow).where(OutboxRow.id.in_(ids))
                .execution_options(populate_existing=True))}
            return [rows[message_id] for message_id in _in_turn(shares)]

    def finish(self, message_id: int, worker: str, *, attempted: bool, delivered: bool = False,
               result: dict[str, Any] | None = None, error: str | None = None,
               permanent: bool = False, retry_at: datetime | None = None,
               superseded_by: int | None = None, hold: bool = False) -> bool:
        """Record how a claimed message went and let go of it. False: it was not ours.

        ``superseded_by``: not sent, for good, because that later seal of the release shows
        the verdict now (status ``superseded``). ``hold``: the message waits for something
        outside (a GitHub release not made yet) until ``retry_at``; no claim takes it before
        then, not even a forced one (``due_only=False``, ``outbox flush``), which otherwise
        retries a failed message at once. The hold is an owner-less lease, so flushers of
        any version respect it.
        """
        now = datetime.now(UTC)
        values: dict[str, Any] = {"claimed_by": None,
                                  "claimed_until": retry_at if hold and retry_at else None}
        if attempted:
            values["attempts"] = OutboxRow.attempts + 1
        if superseded_by is not None:
            values.update(status="superseded", result={"superseded_by": superseded_by},
                          last_error=None)
        elif delivered:
            values.update(status="delivered", result=result, delivered_at=now, last_error=None)
        elif permanent:
            values.update(status="failed", last_error=error)
        elif error is not None:
            values.update(last_error=error, next_attempt_at=retry_at or now)
        with self._session("update the outbox") as session:
            return bool(_rowcount(session.execute(
                update(OutboxRow).where(OutboxRow.id == message_id,
                                        OutboxRow.claimed_by == worker)
                .values(**values).execution_options(synchronize_session=False))))

    def latest_seal_id(self, release_id: int) -> int | None:
        """The history id of the seal the release shows: its latest (see :meth:`record_seal`)."""
        with self._read("read the release") as session:
            return session.scalar(select(ReleaseRow.seal_id).where(ReleaseRow.id == release_id))

    def seals(self, release_id: int) -> list[dict[str, Any]]:
        """Every seal run of a release, oldest first, each with its history ``id``."""
        with self._read("read the seal history") as session:
            rows = session.scalars(select(SealRow).where(SealRow.release_id == release_id)
                                   .order_by(SealRow.id))
            return [{"id": row.id, **row.payload} for row in rows]

    def recent_seals(self, release_id: int, limit: int = 50
                     ) -> tuple[list[dict[str, Any]], int]:
        """The release's latest ``limit`` seal runs, oldest first, in brief (``id``,
        ``status``, ``summary``, ``checked_at``; never their checks), and how many older
        ones there are. Read from the history's own columns, never its records: a release
        re-sealed every minute has thousands."""
        with self._read("read the seal history") as session:
            rows = session.execute(
                select(SealRow.id, SealRow.status, SealRow.summary, SealRow.checked_at)
                .where(SealRow.release_id == release_id)
                .order_by(SealRow.id.desc()).limit(limit)).all()
            older = 0
            if len(rows) == limit:
                older = int(session.scalar(
                    select(func.count()).select_from(SealRow)
                    .where(SealRow.release_id == release_id, SealRow.id < rows[-1].id)) or 0)
        return [{"id": row.id, "status": row.status, "summary": row.summary,
                 "checked_at": _iso(row.checked_at)} for row in reversed(rows)], older

    def recent_messages(self, release_id: int, limit: int = 50) -> tuple[list[Message], int]:
        """The release's latest ``limit`` messages, oldest first, and how many older ones
        there are."""
        with self._read("read the outbox") as session:
            rows = list(session.scalars(
                select(OutboxRow).where(OutboxRow.release_id == release_id)
                .order_by(OutboxRow.id.desc()).limit(limit)))
            older = 0
            if len(rows) == limit:
                older = int(session.scalar(
                    select(func.count()).select_from(OutboxRow)
                    .where(OutboxRow.release_id == release_id, OutboxRow.id < rows[-1].id))
                    or 0)
            return [Message._from_row(row) for row in reversed(rows)], older

    def seal(self, seal_id: int) -> tuple[int, dict[str, Any]] | None:
        """One seal run from the history: its release id and its record."""
        if not 0 < seal_id <= MAX_ID:
            return None
        with self._read("read the seal history") as session:
            row = session.get(SealRow, seal_id)
            return (row.release_id, {"id": row.id, **row.payload}) if row else None

    def release_messages(self, release_id: int) -> list[Message]:
        """Every message a release caused, oldest first, whatever its status."""
        with self._read("read the outbox") as session:
            rows = session.scalars(select(OutboxRow).where(OutboxRow.release_id == release_id)
                                   .order_by(OutboxRow.id))
            return [Message._from_row(row) for row in rows]

    def last_green(self, app: str, before_id: int) -> Release | None:
        """The newest earlier release of ``app`` whose latest seal is green."""
        with self._read("find the last green release") as session:
            row = session.scalar(
                select(ReleaseRow)
                .where(ReleaseRow.app == app, ReleaseRow.id < before_id,
                       ReleaseRow.seal_status == "green", ReleaseRow.state == "shipped")
                .order_by(ReleaseRow.id.desc()).limit(1))
            return Release._from_row(row) if row else None

    def green_seals(self, app: str, base_url: str, limit: int
                    ) -> list[tuple[Release, dict[str, Any]]]:
        """The newest ``limit`` green seals of ``app`` against ``base_url`` (any of its
        releases, re-seals included), newest first, each with its release (in brief: no
        notes, no seal) and its record: what a new seal is compared with."""
        query = (select(*_BRIEF_COLUMNS, SealRow.payload)
                 .join(ReleaseRow, ReleaseRow.id == SealRow.release_id)
                 .where(ReleaseRow.app == app, SealRow.status == "green",
                        SealRow.payload["base_url"].as_string() == base_url)
                 .order_by(SealRow.id.desc()).limit(limit))
        with self._read("read the last green seals") as session:
            return [(Release._from_line(row), dict(row.payload))
                    for row in session.execute(query)]

    def outbox_tallies(self, statuses: Sequence[str] = ("pending", "failed")
                       ) -> list[OutboxTally]:
        """Messages in ``statuses``, counted by sink and status (sorted): one statement,
        over the ``(status, id)`` index, however long the delivered history grows."""
        query = (select(OutboxRow.sink, OutboxRow.status, func.count(),
                        func.min(OutboxRow.created_at))
                 .where(OutboxRow.status.in_(statuses))
                 .group_by(OutboxRow.sink, OutboxRow.status)
                 .order_by(OutboxRow.sink, OutboxRow.status))
        with self._read("read the outbox") as session:
            return [OutboxTally(str(sink), str(status), int(count), oldest)
                    for sink, status, count, oldest in session.execute(query)]


#: What a listing reads of a release: all but its notes and full seal.
_LINE_COLUMNS = [column for column in ReleaseRow.__table__.columns
                 if column.name not in ("notes", "smoke_seal")]

#: ... and with its seal's summary: a release as a listing shows it (Release._from_line).
_BRIEF_COLUMNS = [*_LINE_COLUMNS,
                  ReleaseRow.smoke_seal["summary"].as_string().label("seal_summary")]

# Every app, by a loose index scan (one probe of ix_releases_app_id per app) rather than
# SELECT DISTINCT, which reads every release.
_APPS_CTE = (
    "WITH RECURSIVE apps(app) AS ("
    " SELECT MIN(app) FROM releases"
    " UNION ALL"
    " SELECT (SELECT MIN(r.app) FROM releases r WHERE r.app > apps.app)"
    " FROM apps WHERE apps.app IS NOT NULL)")
_APPS = text(_APPS_CTE + " SELECT app FROM apps WHERE app IS NOT NULL")
# ... and each app's newest shipped release: one more probe per app, on the same index.
_NEWEST_SHIPPED = text(
    _APPS_CTE + " SELECT apps.app, (SELECT r.id FROM releases r WHERE r.app = apps.app"
    " AND r.state = 'shipped' ORDER BY r.id DESC LIMIT 1) FROM apps"
    " WHERE apps.app IS NOT NULL ORDER BY apps.app")

# ... and each app's newest release that ever shipped, and its newest shipped (live) one:
# what :meth:`Ledger.rollbacks` compares.
_NEWEST_AND_LIVE = text(
    _APPS_CTE + " SELECT apps.app,"
    " (SELECT r.id FROM releases r WHERE r.app = apps.app AND r.shipped_at IS NOT NULL"
    " ORDER BY r.id DESC LIMIT 1),"
    " (SELECT r.id FROM releases r WHERE r.app = apps.app AND r.state = 'shipped'"
    " ORDER BY r.id DESC LIMIT 1) FROM apps WHERE apps.app IS NOT NULL ORDER BY apps.app")


def _rolled_back(newest: Any, sealed: datetime | None) -> Release | None:
    """``newest`` (a brief row, abandoned after it shipped) as rolled back, unless the live
    release was sealed after the abandon (``sealed``: its seal's ``checked_at``)."""
    # Strictly later, to the second: a seal begun in the second of the abandon may predate
    # it (seal times are recorded to the second).
    def second(moment: datetime) -> datetime:
        return moment.astimezone(UTC).replace(microsecond=0)

    if sealed is not None and second(sealed) > second(newest.abandoned_at):
        return None  # re-sealed since the rollback: that seal speaks for production
    return Release._from_line(newest)


def _release_of(row: Any) -> Release:
    """A release from a plain row with every column, or every column but ``notes``."""
    return Release(row.id, row.app, row.version, row.sha, row.release_branch, row.state,
                   getattr(row, "notes", None), row.created_at, row.updated_at,
                   row.shipped_at, row.abandoned_at, row.smoke_seal, row.seal_id)


def _clamp(before_id: int | None, after_id: int | None) -> tuple[int | None, int | None]:
    """Paging bounds within the id range: "before 10^20" is "before everything"."""
    if before_id is not None and before_id > MAX_ID:
        before_id = None
    if after_id is not None and after_id > MAX_ID:
        after_id = MAX_ID
    return before_id, after_id


def _timed_out(exc: SQLAlchemyError) -> bool:
    """A wait that gave up: PostgreSQL's statement or lock timeout, SQLite's busy timeout,
    or no free connection in the pool in time."""
    if isinstance(exc, PoolTimeout):
        return True
    cause = getattr(exc, "orig", None)
    if getattr(cause, "sqlstate", None) in ("57014", "55P03"):  # query_canceled, lock n/a
        return True
    return str(getattr(cause, "sqlite_errorname", "")).startswith(("SQLITE_BUSY",
                                                                    "SQLITE_LOCKED"))


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


def _claimable(now: datetime, due_only: bool,
               ordered: Sequence[tuple[str, str | None]]) -> list[ColumnElement[bool]]:
    """Pending, unclaimed (or its lease run out), due; in an ordered line, next in it."""
    conditions: list[ColumnElement[bool]] = [
        OutboxRow.status == "pending",
        or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now)]
    if due_only:
        conditions.append(OutboxRow.next_attempt_at <= now)
    conditions += [_next_in_line(sink, kind) for sink, kind in ordered]
    return conditions


def _next_in_line(sink: str, kind: str | None) -> ColumnElement[bool]:
    """Outside the line, or no older message of the release still pending in it. Whoever
    holds the older message (claimed, or locked mid-claim) holds the line too."""
    older = OutboxRow.__table__.alias("older")
    in_line = [OutboxRow.sink == sink, *([OutboxRow.kind == kind] if kind else [])]
    ahead = exists().where(older.c.release_id == OutboxRow.release_id,
                           older.c.sink == OutboxRow.sink, older.c.status == "pending",
                           older.c.id < OutboxRow.id,
                           *([older.c.kind == OutboxRow.kind] if kind else []))
    return or_(~and_(*in_line), ~ahead)


def _in_turn(shares: Sequence[Sequence[int]]) -> Iterator[int]:
    """The first of every share, then the second of every share, …: round robin."""
    for turn in range(max(map(len, shares), default=0)):
        for share in shares:
            if turn < len(share):
                yield share[turn]


def _enqueue(session: Session, release: Release, messages: Sequence[NewMessage],
             names: dict[str, int]) -> None:
    now = datetime.now(UTC)
    for message in messages:
        session.add(OutboxRow(
            release_id=release.id, app=release.app, sink=message.sink, kind=message.kind,
            idempotency_key=message.key.format(**names), payload=message.payload,
            after_key=message.after_key.format(**names) if message.after_key else None,
            seal_id=names.get("seal_id"), status="pending", attempts=0, next_attempt_at=now,
            created_at=now))


def _find(session: Session, ref: str | int, *, lock: bool = False) -> ReleaseRow:
    query = select(ReleaseRow)
    if isinstance(ref, int) or ref.isdigit():
        if int(ref) > MAX_ID:
            raise UsageError(f"no release {ref} in the ledger")
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


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


