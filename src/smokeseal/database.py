"""Connecting to the ledger's database and keeping its schema current.

SQLite is the embedded default; PostgreSQL (psycopg 3) is for teams whose pipelines run on
many machines and share one ledger. Migrations are Alembic's, applied on first use.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import URL, Connection, Engine

from smokeseal.errors import LedgerError

__all__ = ["HEAD_REVISION", "current_revision", "database_url_for", "make_engine",
           "normalise_database_url", "upgrade"]

#: The newest migration; checked without importing Alembic when nothing is to be done.
HEAD_REVISION = "0004"
_MIGRATIONS = Path(__file__).parent / "migrations"
_ADVISORY_LOCK = 0x5E41  # serialises concurrent first uses on PostgreSQL


#: Execution option naming a connection that only reads (see :func:`reader`).
READ_ONLY = "smokeseal_read_only"


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


def upgrade(conn: Connection) -> None:
    """Apply pending migrations on ``conn`` (in a transaction), once across processes."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
    if current_revision(conn) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config as AlembicConfig

    alembic = AlembicConfig()
    alembic.set_main_option("script_location", str(_MIGRATIONS))
    alembic.attributes["connection"] = conn
    command.upgrade(alembic, "head")


def current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def reader(engine: Engine) -> Engine:
    """The same pool, for reads that need no transaction: no BEGIN or COMMIT round trips,
    and on SQLite no write lock taken (which BEGIN IMMEDIATE would)."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{READ_ONLY: True})
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def make_engine(url: URL, *, timeout: float | None = None) -> Engine:
    """The engine for ``url``. With ``timeout`` (seconds), no statement, lock wait, connection
    or pool checkout of it waits longer than about that: for the board, which must answer."""
    if url.get_backend_name() == "sqlite":
        database = url.database
        if database and database != ":memory:" and not Path(database).parent.is_dir():
            raise LedgerError(f"ledger {url}: folder {Path(database).parent} does not exist")
        # Writers queue on the lock for up to 30 s; a bounded reader gives up sooner.
        busy = timeout if timeout is not None else 30.0
        engine = create_engine(url, connect_args={"timeout": busy},
                               **_bounded_pool(timeout))

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, record: Any) -> None:
            # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {round(busy * 1000)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            if conn.get_execution_options().get(READ_ONLY):
                return  # no transaction: each read sees the latest commit, and takes no lock
            # IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout
            # instead of deadlocking when both try to upgrade a read lock.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if timeout is None:
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    # statement_timeout is set when the connection opens, so a bounded read costs no extra
    # round trip; it bounds lock waits too. libpq's connect_timeout is whole seconds, >= 2.
    options = url.query.get("options")
    options = " ".join([*([options] if isinstance(options, str) else options or ()),
                        f"-c statement_timeout={max(1, round(timeout * 1000))}"])
    return create_engine(url, pool_pre_ping=True, **_bounded_pool(timeout), connect_args={
        "connect_timeout": max(2, math.ceil(timeout)), "options": options})


def _bounded_pool(timeout: float | None) -> dict[str, Any]:
    """A checkout waits no longer than ``timeout`` for a free connection."""
    return {} if timeout is None else {"pool_timeout": timeout}
