from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from smokeseal.errors import LedgerError, UsageError
from smokeseal.ledger import HEAD_REVISION, Ledger, database_url_for, normalise_database_url

pytestmark = pytest.mark.integration


def seal(status: str = "green", at: datetime | None = None, summary: str = "6/6 passed") -> dict:
    when = at or datetime.now(UTC)
    return {"status": status, "summary": summary, "checks": [], "base_url": "https://a.test",
            "checked_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "duration_ms": 5, "rollback": []}


def test_releases_round_trip(ledger_url: str) -> None:
    with Ledger(ledger_url) as ledger:
        made = ledger.create_release("studio", "v1.2.3", "3F2A9C1DEADBEEF",
                                     release_branch="release", notes="# Notes\n<b>x</b> 🚀")
        assert (made.state, made.sha, made.short_sha) == ("assembled", "3f2a9c1deadbeef",
                                                         "3f2a9c1")
        for ref in (made.id, str(made.id), "studio@v1.2.3"):
            assert ledger.release(ref) == made
        assert ledger.release(made.id).notes == "# Notes\n<b>x</b> 🚀"
        assert made.created_at.tzinfo is not None


def test_a_duplicate_version_is_refused_and_changes_nothing(ledger_url: str) -> None:
    with Ledger(ledger_url) as ledger:
        ledger.create_release("studio", "v1", "aaaaaaa")
        with pytest.raises(UsageError, match=r"studio@v1 already exists \(duplicate version\)"):
            ledger.create_release("studio", "v1", "bbbbbbb")
        assert [r.sha for r in ledger.releases()] == ["aaaaaaa"]
        ledger.create_release("other", "v1", "bbbbbbb")  # versions are per app


@pytest.mark.parametrize(("version", "sha", "complaint"), [
    ("v 1", "aaaaaaa", "--version"), ("", "aaaaaaa", "--version"),
    ("v1", "xyz1234", "--sha"), ("v1", "abc", "--sha"),
])
def test_bad_versions_and_shas_are_named(tmp_path: Path, version: str, sha: str,
                                         complaint: str) -> None:
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        with pytest.raises(UsageError, match=f"^{complaint}: "):
            ledger.create_release("a", version, sha)
        assert ledger.releases() == []


def test_unknown_and_malformed_references(ledger_url: str) -> None:
    with Ledger(ledger_url) as ledger:
        with pytest.raises(UsageError, match="no release 42 in the ledger"):
            ledger.release(42)
        with pytest.raises(UsageError, match="no release a@v9 in the ledger"):
            ledger.release("a@v9")
        with pytest.raises(UsageError, match="neither an id nor APP@VERSION"):
            ledger.release("latest")


def test_states_move_one_way(ledger_url: str) -> None:
    with Ledger(ledger_url) as ledger:
        release = ledger.create_release("a", "v1", "aaaaaaa")
        shipped = ledger.mark_shipped(release.id)
        assert shipped.state == "shipped" and shipped.shipped_at is not None
        with pytest.raises(UsageError, match="is shipped; only an assembled release can ship"):
            ledger.mark_shipped(release.id)
        abandoned = ledger.abandon("a@v1")
        assert abandoned.state == "abandoned" and abandoned.abandoned_at is not None
        with pytest.raises(UsageError, match="already abandoned"):
            ledger.abandon(release.id)


def test_every_seal_is_kept_and_the_latest_stays_on_the_release(ledger_url: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with Ledger(ledger_url) as ledger:
        release = ledger.mark_shipped(ledger.create_release("a", "v1", "aaaaaaa").id)
        after_red, red_id = ledger.record_seal(release.id, seal("red", now, "5/6 passed"))
        assert after_red.smoke_seal is not None and after_red.seal_status == "red"
        # A slower pipeline that started earlier finishes last: it must not win.
        after_old, _ = ledger.record_seal(release.id, seal("green", now - timedelta(minutes=1)))
        assert after_old.seal_status == "red"
        # Same second: the one recorded last wins.
        after_tie, tie_id = ledger.record_seal(release.id, seal("green", now, "6/6 passed"))
        assert after_tie.seal_status == "green" and tie_id > red_id
        history = ledger.seals(release.id)
        assert [(h["status"], h["summary"]) for h in history] == [
            ("red", "5/6 passed"), ("green", "6/6 passed"), ("green", "6/6 passed")]
        assert ledger.release(release.id).smoke_seal == seal("green", now, "6/6 passed")


def test_last_green_skips_red_abandoned_and_later_releases(ledger_url: str) -> None:
    with Ledger(ledger_url) as ledger:
        def shipped(version: str, status: str | None) -> int:
            release = ledger.mark_shipped(ledger.create_release("a", version, "aaaaaaa").id)
            if status:
                ledger.record_seal(release.id, seal(status))
            return release.id

        first = shipped("v1", "green")
        gone = shipped("v2", "green")
        ledger.abandon(gone)
        shipped("v3", "red")
        current = shipped("v4", None)
        shipped("v5", "green")
        last = ledger.last_green("a", current)
        assert last is not None and last.id == first
        assert ledger.last_green("b", current) is None


def test_migrations_run_on_first_use_and_match_the_alembic_head(ledger_url: str) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import smokeseal.ledger

    config = Config()
    config.set_main_option("script_location",
                           str(Path(smokeseal.ledger.__file__).parent / "migrations"))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION
    with Ledger(ledger_url, migrate=False) as ledger:
        assert ledger.revision() is None
        ledger.upgrade()
        assert ledger.revision() == HEAD_REVISION
        ledger.upgrade()  # idempotent
        assert ledger.revision() == HEAD_REVISION


def test_postgres_keeps_the_seal_as_jsonb(postgres_url: str) -> None:
    with Ledger(postgres_url) as ledger, ledger.engine.connect() as conn:
        kinds = dict(conn.execute(text(
            "select column_name, data_type from information_schema.columns "
            "where table_name in ('releases', 'seals') and column_name in "
            "('smoke_seal', 'payload')")).all())
    assert kinds == {"smoke_seal": "jsonb", "payload": "jsonb"}


def test_several_processes_may_open_a_fresh_ledger_at_once(ledger_url: str) -> None:
    code = ("import sys\nfrom smokeseal.ledger import Ledger\n"
            "with Ledger(sys.argv[1]) as ledger:\n    print(ledger.revision())\n")
    processes = [subprocess.Popen([sys.executable, "-c", code, ledger_url],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
    outputs = [p.communicate(timeout=60) for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, outputs
    assert {out.strip() for out, _ in outputs} == {HEAD_REVISION}


def test_an_unreachable_postgres_is_a_ledger_error_without_the_password(
        closed_port: int) -> None:
    with pytest.raises(LedgerError) as caught:
        Ledger(f"postgresql://ops:hunter2@127.0.0.1:{closed_port}/ledger")
    message = str(caught.value)
    assert message.startswith(f"ledger postgresql+psycopg://ops:***@127.0.0.1:{closed_port}/")
    assert "hunter2" not in message


def test_a_sqlite_file_in_a_missing_folder_is_a_ledger_error(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="does not exist"):
        Ledger(f"sqlite:///{tmp_path}/nope/ledger.db")


@pytest.mark.unit
def test_database_urls_resolve_in_the_documented_order(tmp_path: Path) -> None:
    here = tmp_path.resolve()
    assert database_url_for(None, None, None, tmp_path) == f"sqlite:///{here}/smokeseal.db"
    assert database_url_for(None, None, "sqlite:///data/l.db", tmp_path) == \
        f"sqlite:///{here}/data/l.db"
    assert database_url_for(None, "postgres://h/db", "sqlite:///x.db", tmp_path) == \
        "postgresql+psycopg://h/db"
    assert database_url_for("sqlite:///cli.db", "postgres://h/db", None, tmp_path) == \
        "sqlite:///cli.db"
    assert normalise_database_url("postgresql+psycopg://h/db") == "postgresql+psycopg://h/db"


def test_a_listing_reads_each_release_in_brief(ledger_url: str) -> None:
    summary = '5/6 passed; home: title "Ünï <b>" does not contain \'x\' 👍'
    with Ledger(ledger_url) as ledger:
        sealed = ledger.mark_shipped(ledger.create_release("a", "v1", "aaaaaaa",
                                                           notes="long notes " * 1000).id)
        ledger.record_seal(sealed.id, seal("red", summary=summary))
        unsealed = ledger.create_release("a", "v2", "bbbbbbb", notes="more")
        full = ledger.releases()
        brief = ledger.releases(lines=True)
        assert [r.id for r in brief] == [r.id for r in full] == [unsealed.id, sealed.id]
        assert [r.notes for r in brief] == [None, None]
        assert brief[0].smoke_seal is None
        assert brief[1].smoke_seal == {"status": "red", "summary": summary}
        assert full[1].smoke_seal is not None and full[1].smoke_seal["summary"] == summary
        assert (brief[1].seal_id, brief[1].shipped_at) == (full[1].seal_id, full[1].shipped_at)
        # Paging is the same either way.
        assert [r.id for r in ledger.releases(lines=True, before_id=unsealed.id)] == [sealed.id]
        assert [r.id for r in ledger.releases(lines=True, after_id=sealed.id)] == [unsealed.id]


def test_a_bounded_read_gives_up_on_a_lock_and_leaves_other_reads_unbounded(
        ledger_url: str, tmp_path: Path) -> None:
    import sqlite3

    from sqlalchemy import create_engine

    from smokeseal.errors import LedgerTimeout

    with Ledger(ledger_url) as ledger:
        ledger.create_release("studio", "v1", "aaaaaaa")
        if ledger_url.startswith("sqlite"):
            ledger.close()  # exclusive locking mode is granted to a connection alone on it
            holder = sqlite3.connect(ledger_url.removeprefix("sqlite:///"), isolation_level=None)
            holder.execute("PRAGMA locking_mode = EXCLUSIVE")
            holder.execute("BEGIN EXCLUSIVE")
            release = holder.close
        else:
            engine = create_engine(ledger_url)
            conn = engine.connect()
            conn.execute(text("LOCK TABLE releases IN ACCESS EXCLUSIVE MODE"))

            def release() -> None:
                conn.close()
                engine.dispose()
        try:
            with pytest.raises(LedgerTimeout, match=r"could not (read|list releases)"), \
                    ledger.reading(timeout=0.5):
                ledger.releases()
        finally:
            release()
        with ledger.reading(timeout=0.5):
            assert [r.version for r in ledger.releases()] == ["v1"]
        assert ledger.revision(timeout=0.5) == HEAD_REVISION
        if not ledger_url.startswith("sqlite"):
            # The limit lives on the bounded reader's connections only: writes and the
            # command line's reads may wait for a lock as long as they need.
            with ledger.engine.connect() as plain:
                assert plain.execute(text("SHOW statement_timeout")).scalar() == "0"


def _libpq_parameters(ledger: Ledger, timeout: float) -> dict[str, str]:
    """What libpq was told when the bounded reader's connection opened."""
    with ledger.reading(timeout=timeout), ledger._read("test") as session:
        dbapi = session.connection().connection.dbapi_connection
        assert dbapi is not None
        return dict(dbapi.info.get_parameters())


def test_a_bounded_reader_on_postgresql_notices_a_vanished_host(postgres_url: str) -> None:
    """keepalives and tcp_user_timeout: a database host that drops packets without a reset
    ends the read about when the read timeout says, not when TCP gives up (minutes)."""
    import socket

    with Ledger(postgres_url) as ledger:
        given = _libpq_parameters(ledger, 4.0)
        assert {key: given.get(key) for key in (
            "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
            "tcp_user_timeout")} == {
            "keepalives": "1", "keepalives_idle": "4", "keepalives_interval": "2",
            "keepalives_count": "2", "tcp_user_timeout": "8000"}
        assert "statement_timeout=4000" in given["options"]
        with ledger.reading(timeout=4.0), ledger._read("test") as session:
            dbapi = session.connection().connection.dbapi_connection
            assert dbapi is not None
            sock = socket.socket(fileno=__import__("os").dup(dbapi.pgconn.socket))
            try:
                if sock.family in (socket.AF_INET, socket.AF_INET6):  # not a Unix socket
                    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 4
                    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 8000
            finally:
                sock.close()
        # The command line's and the writers' connections keep libpq's defaults.
        with ledger.engine.connect() as plain:
            dbapi = plain.connection.dbapi_connection
            assert dbapi is not None
            assert "tcp_user_timeout" not in dbapi.info.get_parameters()


def test_keepalive_settings_in_the_url_are_kept(postgres_url: str) -> None:
    from sqlalchemy.engine import make_url

    mine = make_url(postgres_url).update_query_dict(
        {"keepalives_idle": "30", "tcp_user_timeout": "60000",
         "options": "-c lock_timeout=1234"})
    with Ledger(mine.render_as_string(hide_password=False)) as ledger:
        given = _libpq_parameters(ledger, 4.0)
        assert given["keepalives_idle"] == "30" and given["tcp_user_timeout"] == "60000"
        assert given["keepalives"] == "1" and given["keepalives_count"] == "2"
        assert given["options"] == "-c lock_timeout=1234 -c statement_timeout=4000"


class _Pooler:
    """A stand-in for PgBouncer in transaction mode, as far as the startup goes: on
    127.0.0.1, it refuses a startup packet with ``options`` the way PgBouncer does
    (FATAL 08P01 "unsupported startup parameter: options") and passes any other connection
    through to the real server's Unix socket."""

    def __init__(self, socket_dir: str) -> None:
        import socket
        import threading

        self.target = f"{socket_dir}/.s.PGSQL.5432"
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.refused = 0
        self.handlers: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            handler = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self.handlers.append(handler)
            handler.start()

    def _serve(self, client: Any) -> None:
        import socket
        import struct
        import threading

        def read_packet() -> bytes:
            head = client.recv(4, socket.MSG_WAITALL)
            (length,) = struct.unpack("!I", head)
            return head + client.recv(length - 4, socket.MSG_WAITALL)

        packet = read_packet()
        while struct.unpack("!I", packet[4:8])[0] in (80877103, 80877104):  # SSL, GSSENC
            client.sendall(b"N")
            packet = read_packet()
        fields = packet[8:].split(b"\0")
        if b"options" in fields[0::2]:
            self.refused += 1
            body = (b"SFATAL\0VFATAL\0C08P01\0"
                    b"Munsupported startup parameter: options\0\0")
            client.sendall(b"E" + struct.pack("!I", len(body) + 4) + body)
            client.close()
            return
        server = socket.socket(socket.AF_UNIX)
        server.connect(self.target)
        server.sendall(packet)

        def pump(source: Any, sink: Any) -> None:
            try:
                while data := source.recv(65536):
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                with contextlib.suppress(OSError):
                    sink.shutdown(socket.SHUT_WR)

        back = threading.Thread(target=pump, args=(server, client), daemon=True)
        back.start()
        pump(client, server)
        back.join(timeout=30)
        server.close()
        client.close()

    def close(self) -> None:
        self.listener.close()
        for handler in self.handlers:
            handler.join(timeout=30)


def _through_pooler(postgres_url: str, pooler: _Pooler, **query: str) -> str:
    from sqlalchemy.engine import make_url

    direct = make_url(postgres_url)
    return direct.set(host="127.0.0.1", port=pooler.port, username=direct.username or
                      os.environ.get("USER", "root")).update_query_dict(
        {"sslmode": "disable", "host": "127.0.0.1", **query}).render_as_string(
        hide_password=False)


@pytest.mark.parametrize("told", [False, True], ids=["detected", "told-by-url"])
def test_behind_a_pooler_that_refuses_options_a_bounded_read_sets_its_timeout_itself(
        postgres_url: str, told: bool) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from smokeseal.errors import LedgerTimeout

    socket_dir = str(make_url(postgres_url).query.get("host", "/var/run/postgresql"))
    pooler = _Pooler(socket_dir)
    url = _through_pooler(postgres_url, pooler,
                          **({"smokeseal_timeout_via": "set"} if told else {}))
    try:
        with Ledger(url) as ledger:
            ledger.create_release("studio", "v1", "aaaaaaa")
            with ledger.reading(timeout=4.0), ledger._read("test") as session:
                assert session.execute(text("SHOW statement_timeout")).scalar() == "4s"
                assert [r.version for r in ledger.releases()] == ["v1"]
            # Only this read's transaction had the limit: nothing stays on the connection
            # for the pooler to hand to its other clients.
            with ledger._bounded_reader(4.0).connect() as conn:
                assert "statement_timeout" not in str(
                    conn.connection.dbapi_connection.info.get_parameters())  # type: ignore[union-attr]
            # ... and the limit works: a lock is not waited for past it.
            holder = create_engine(postgres_url)
            try:
                with holder.connect() as conn:
                    conn.execute(text("LOCK TABLE releases IN ACCESS EXCLUSIVE MODE"))
                    with pytest.raises(LedgerTimeout), ledger.reading(timeout=1.0):
                        ledger.releases()
                    conn.rollback()
            finally:
                holder.dispose()
        # Detected: one refused connection per bounded reader, then none.
        assert pooler.refused == (0 if told else 2)
    finally:
        pooler.close()
