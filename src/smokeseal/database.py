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
           "normalise_database_url", "schema_age", "upgrade"]

#: The newest migration; checked without importing Alembic when nothing is to be done.
HEAD_REVISION = "0004"
_MIGRATIONS = Path(__file__).parent / "migrations"
_ADVISORY_LOCK = 0x5E41  # serialises concurrent first uses on PostgreSQL


#: Execution option naming a connection that only reads (see :func:`reader`).
READ_ONLY = "smokeseal_read_only"
#: Execution option of a bounded PostgreSQL reader, which sets its own isolation level.
_CHOOSES_ISOLATION = "smokeseal_chooses_isolation"
#: Query parameter of a PostgreSQL URL (smokeseal's, not libpq's): ``set`` makes bounded
#: reads set ``statement_timeout`` in each transaction rather than when connecting.
TIMEOUT_VIA = "smokeseal_timeout_via"
_REFUSED_OPTIONS = "unsupported startup parameter: options"
_LIBPQ_DRIVERS = ("psycopg", "psycopg2")


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
    if schema_age(current_revision(conn)) in ("current", "newer"):
        return  # a newer smokeseal's ledger (a rolling upgrade) is used as it is
    from alembic import command
    from alembic.config import Config as AlembicConfig

    alembic = AlembicConfig()
    alembic.set_main_option("script_location", str(_MIGRATIONS))
    alembic.attributes["connection"] = conn
    command.upgrade(alembic, "head")


def schema_age(revision: str | None) -> str:
    """The ledger's schema against this version's: ``current``, ``newer`` (a newer
    smokeseal migrated it: migrations are additive, so this one still reads and writes
    it), ``older`` (needs ``smokeseal db upgrade``) or ``unknown`` (none, or not ours).
    Revisions are numbered in order: ``0001``, ``0002``, …"""
    if revision is None or not revision.isdigit():
        return "unknown"
    if int(revision) == int(HEAD_REVISION):
        return "current"
    return "newer" if int(revision) > int(HEAD_REVISION) else "older"


def current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def reader(engine: Engine) -> Engine:
    """The same pool, for reads that need no transaction: no BEGIN or COMMIT round trips,
    and on SQLite no write lock taken (which BEGIN IMMEDIATE would)."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{READ_ONLY: True})
    if engine.get_execution_options().get(_CHOOSES_ISOLATION):
        return engine  # a bounded PostgreSQL reader: see _bounded_postgresql
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def make_engine(url: URL, *, timeout: float | None = None) -> Engine:
    """The engine for ``url``. With ``timeout`` (seconds), no statement, lock wait, connection
    or pool checkout of it waits longer than about that: for the board, which must answer."""
    via = url.query.get(TIMEOUT_VIA, "options")
    if via not in ("options", "set"):
        raise LedgerError(f"ledger URL: {TIMEOUT_VIA} must be 'options' or 'set', not {via!r}")
    url = url.difference_update_query([TIMEOUT_VIA])
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
    return _bounded_postgresql(url, timeout, via)


def _bounded_postgresql(url: URL, timeout: float, via: str) -> Engine:
    """A reader whose statements (and lock waits) give up after ``timeout`` s.

    ``statement_timeout`` is set when the connection opens (the ``options`` startup
    parameter), so a read costs no extra round trip. PgBouncer in transaction mode refuses
    that parameter ("unsupported startup parameter: options"): then, or when the URL says
    ``smokeseal_timeout_via=set``, each read runs in a transaction that starts with
    ``SET LOCAL statement_timeout`` (a BEGIN, the SET and a ROLLBACK more per page; a
    session-wide SET would leak to other clients of a transaction pooler).

    On libpq, keepalives and ``tcp_user_timeout`` make a host that vanishes without a reset
    (packets dropped) end the read after about twice ``timeout``, rather than when TCP gives
    up; what the URL sets itself is kept.
    """
    ms = max(1, round(timeout * 1000))
    seconds = max(1, math.ceil(timeout))
    connect_args: dict[str, Any] = {"connect_timeout": max(2, seconds)}
    if url.get_driver_name() in _LIBPQ_DRIVERS:
        # Idle (waiting for an answer) for ``timeout``, then 2 probes ``timeout/2`` apart;
        # data unacknowledged for 2 x ``timeout``: the connection is dead.
        connect_args.update({key: value for key, value in {
            "keepalives": 1, "keepalives_idle": seconds,
            "keepalives_interval": max(1, math.ceil(timeout / 2)), "keepalives_count": 2,
            "tcp_user_timeout": 2 * ms}.items() if key not in url.query})
    given = url.query.get("options")
    own = [*([given] if isinstance(given, str) else given or ())]
    timed = " ".join([*own, f"-c statement_timeout={ms}"])
    untimed = " ".join(own) or None
    state = {"via": via}
    engine = create_engine(url, pool_pre_ping=True, **_bounded_pool(timeout),
                           connect_args=connect_args)

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        cparams.pop("options", None)
        if state["via"] == "options":
            try:
                return dialect.connect(*cargs, **cparams, options=timed)
            except dialect.loaded_dbapi.Error as exc:
                if _REFUSED_OPTIONS not in str(exc):
                    raise
                state["via"] = "set"  # a transaction pooler: from now on, SET LOCAL
        return dialect.connect(*cargs, **cparams, **({"options": untimed} if untimed else {}))

    @event.listens_for(engine, "engine_connect")
    def _isolation(conn: Connection) -> None:
        # With the timeout set at connect, reads need no transaction (no BEGIN, COMMIT).
        if state["via"] == "options":
            conn.execution_options(isolation_level="AUTOCOMMIT")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        if state["via"] == "set":
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {ms}")

    return engine.execution_options(**{_CHOOSES_ISOLATION: True})


def _bounded_pool(timeout: float | None) -> dict[str, Any]:
    """A checkout waits no longer than ``timeout`` for a free connection."""
    return {} if timeout is None else {"pool_timeout": timeout}
