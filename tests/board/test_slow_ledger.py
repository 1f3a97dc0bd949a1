"""A ledger that does not answer: pages end in a 503 at the read timeout, /up at once.

The board runs under a real uvicorn on 127.0.0.1; the ledger is blocked for real, by a lock
another connection holds. No assert here is about time: the client timeouts only keep a
board that hangs from hanging the test.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url

from smokeseal.board import create_app
from smokeseal.board.app import READERS
from smokeseal.ledger import Ledger
from smokeseal.servers import BackgroundServer
from tests.board.conftest import tell_the_story

pytestmark = pytest.mark.integration

#: Long enough for /up to be asked and answer while a page waits; short enough for a test.
READ_TIMEOUT = 3.0
#: Hang guards only: a board that answers at all answers well within them.
PAGE_HANG_GUARD = 60.0
UP_HANG_GUARD = 15.0


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[str], tuple[str, Ledger]]]:
    """``serve(ledger_url)``: the story in that ledger, its board on 127.0.0.1 with a short
    read timeout; the board's address and its ledger."""
    started: list[tuple[Ledger, BackgroundServer]] = []

    def start(url: str) -> tuple[str, Ledger]:
        ledger = Ledger(url)
        tell_the_story(ledger, tmp_path / "evidence")
        server = BackgroundServer(create_app(ledger, read_timeout=READ_TIMEOUT)).start()
        started.append((ledger, server))
        return server.url, ledger

    yield start
    for ledger, server in started:
        server.stop()
        ledger.close()


@pytest.fixture
def fetch() -> Iterator[Callable[[str], Future[httpx.Response]]]:
    """``fetch(url)``: a GET on a thread of its own, its own connection, as another visitor."""
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="visitor")

    def get(url: str) -> httpx.Response:
        with httpx.Client(timeout=PAGE_HANG_GUARD) as client:
            return client.get(url)

    yield lambda url: pool.submit(get, url)
    pool.shutdown(wait=True)


def _waiting_on_releases(conn: Connection) -> int:
    return int(conn.execute(text(
        "SELECT count(*) FROM pg_locks WHERE NOT granted "
        "AND relation = 'releases'::regclass")).scalar_one())


def _told_nothing_of_the_database(response: httpx.Response, url: str) -> None:
    where = make_url(url)
    for secret in filter(None, (where.database, where.username, where.host, where.password)):
        assert secret not in response.text, secret


def test_a_locked_postgresql_ledger_costs_a_page_503_and_up_still_answers(
        serve: Callable[[str], tuple[str, Ledger]], postgres_url: str,
        fetch: Callable[[str], Future[httpx.Response]],
        caplog: pytest.LogCaptureFixture) -> None:
    board, _ = serve(postgres_url)
    caplog.set_level(logging.WARNING, logger="smokeseal.board")
    holder = create_engine(postgres_url)
    try:
        with holder.connect() as conn:
            # A migration, a VACUUM FULL, a stuck admin session: nobody reads releases.
            conn.execute(text("LOCK TABLE releases IN ACCESS EXCLUSIVE MODE"))
            page = fetch(f"{board}/deployments")
            api = fetch(f"{board}/api/releases")
            with holder.connect() as watcher:
                watcher.execution_options(isolation_level="AUTOCOMMIT")
                deadline = time.monotonic() + PAGE_HANG_GUARD
                while not _waiting_on_releases(watcher) and time.monotonic() < deadline:
                    time.sleep(0.02)
            # A read is blocked on the lock now.
            up = httpx.get(f"{board}/up", timeout=UP_HANG_GUARD)
            assert (up.status_code, up.json()) == (200, {"status": "ok"})
            assert not page.done() and not api.done(), "/up answered only after the pages"
            blocked_page, blocked_api = page.result(), api.result()
            conn.rollback()
    finally:
        holder.dispose()
    assert blocked_page.status_code == 503
    assert "The ledger is slow" in blocked_page.text
    assert f"did not answer within {READ_TIMEOUT:g} s" in blocked_page.text
    _told_nothing_of_the_database(blocked_page, postgres_url)
    assert blocked_api.status_code == 503
    assert "did not answer within" in blocked_api.json()["error"]
    _told_nothing_of_the_database(blocked_api, postgres_url)
    # The reason is for the board's operator: in its log.
    assert "statement timeout" in caplog.text
    # The lock gone, the board is whole again.
    assert httpx.get(f"{board}/deployments", timeout=UP_HANG_GUARD).status_code == 200


def test_pages_beyond_the_readers_wait_for_a_reader_no_longer_than_one_read_timeout(
        serve: Callable[[str], tuple[str, Ledger]], postgres_url: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """Three times as many visitors as readers, on a locked ledger: each page ends in a 503.
    Those that found no reader free give up after the read timeout instead of queueing for
    one: no page waits through more than one round of other pages' timed-out reads (with an
    unbounded wait, the last ten would wait for two rounds, then time out themselves)."""
    board, _ = serve(postgres_url)
    caplog.set_level(logging.WARNING, logger="smokeseal.board")
    visitors = 3 * READERS
    holder = create_engine(postgres_url)
    pool = ThreadPoolExecutor(max_workers=visitors, thread_name_prefix="visitor")

    def get(url: str) -> httpx.Response:
        with httpx.Client(timeout=PAGE_HANG_GUARD) as client:
            return client.get(url)

    try:
        with holder.connect() as conn:
            conn.execute(text("LOCK TABLE releases IN ACCESS EXCLUSIVE MODE"))
            pages = [pool.submit(get, f"{board}/api/releases") for _ in range(visitors)]
            answers = [page.result() for page in pages]
            conn.rollback()
    finally:
        pool.shutdown(wait=True)
        holder.dispose()
    assert [a.status_code for a in answers] == [503] * visitors
    assert all("did not answer within" in a.json()["error"] for a in answers)
    logged = [r.getMessage() for r in caplog.records if r.name == "smokeseal.board"]
    read = [m for m in logged if "statement timeout" in m]
    no_reader = [m for m in logged if "no reader free" in m]
    assert len(read) + len(no_reader) == visitors, logged
    # The first ten read (and time out on the lock); of the rest, at most one more round
    # got a reader in time, and every other page gave up waiting for one.
    assert READERS <= len(read) <= 2 * READERS, logged
    assert len(no_reader) >= visitors - 2 * READERS
    assert httpx.get(f"{board}/deployments", timeout=UP_HANG_GUARD).status_code == 200


def test_a_locked_sqlite_ledger_costs_a_page_503_and_up_answers_that_it_is_slow(
        serve: Callable[[str], tuple[str, Ledger]], tmp_path: Path,
        fetch: Callable[[str], Future[httpx.Response]],
        caplog: pytest.LogCaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    board, ledger = serve(url)
    caplog.set_level(logging.WARNING, logger="smokeseal.board")
    # Another program takes the whole file: exclusive locking mode, which a WAL database
    # grants only to a connection alone on it, so the board's pooled ones are closed first.
    ledger.close()
    holder = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        page = fetch(f"{board}/deployments")
        # The whole file is locked, so /up cannot read the schema version either: it says
        # so, at once, rather than wait with the page.
        up = httpx.get(f"{board}/up", timeout=UP_HANG_GUARD)
        assert (up.status_code, up.json()) == (503, {"status": "slow"})
        assert not page.done(), "/up answered only after the page"
        blocked = page.result()
        holder.execute("COMMIT")
    finally:
        holder.close()
    assert blocked.status_code == 503
    assert "The ledger is slow" in blocked.text
    assert str(tmp_path) not in blocked.text
    assert "database is locked" in caplog.text
    assert httpx.get(f"{board}/deployments", timeout=UP_HANG_GUARD).status_code == 200
