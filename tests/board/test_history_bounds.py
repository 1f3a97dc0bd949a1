"""A release re-sealed every minute for days: its page, its API answer and ``release show``
stay small (the latest seals in brief, a count of the older ones), and one ``/metrics``
scrape costs a bounded number of statements whatever the number of apps."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from smokeseal.board import create_app
from smokeseal.board.app import SEALS_SHOWN
from smokeseal.ledger import Ledger, NewMessage
from smokeseal.servers import BackgroundServer
from tests.board.conftest import seal
from tests.test_cli import cli

pytestmark = pytest.mark.component

SEALS = 300
CHECKS = [{"name": f"check {i}", "kind": "get", "ok": True, "outcome": "passed",
           "detail": "200 " + "x" * 60, "duration_ms": 5} for i in range(20)]


@contextlib.contextmanager
def TestClient(app: Any) -> Iterator[httpx.Client]:
    server = BackgroundServer(app).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client
    finally:
        server.stop()


def _at(i: int) -> str:
    return f"2026-11-{1 + i // 1440:02d}T{(i % 1440) // 60:02d}:{i % 60:02d}:00Z"


@pytest.fixture
def resealed(ledger_url: str) -> Iterator[tuple[Ledger, int]]:
    with Ledger(ledger_url) as ledger:
        release = ledger.create_release("studio", "v1", "3f2a9c1aaaa")
        ledger.mark_shipped(release.id)
        for i in range(SEALS):
            ledger.record_seal(release.id, seal("green", _at(i), CHECKS), messages=[
                NewMessage("discord", "seal", "discord:seal:{seal_id}", {"content": "x"})])
        yield ledger, release.id


@pytest.mark.slow  # a soak: 300 seals
def test_the_api_lists_the_latest_seals_in_brief_and_counts_the_rest(
        resealed: tuple[Ledger, int]) -> None:
    ledger, release_id = resealed
    with TestClient(create_app(ledger)) as client:
        body = client.get(f"/api/releases/{release_id}").json()
    assert len(body["seals"]) == SEALS_SHOWN
    assert body["seals_not_listed"] == SEALS - SEALS_SHOWN
    assert all("checks" not in s for s in body["seals"])
    assert body["seals"][0]["checked_at"] == _at(SEALS - 1)  # newest first
    assert {"id", "status", "summary", "checked_at"} <= set(body["seals"][0])
    assert len(body["checks"]) == len(CHECKS)  # the shown seal in full
    assert len(body["messages"]) <= SEALS_SHOWN
    assert body["messages_not_listed"] == SEALS - len(body["messages"])
    assert len(json.dumps(body)) < 100_000


@pytest.mark.slow  # a soak: 300 seals
def test_the_page_says_how_many_seal_runs_it_does_not_list(
        resealed: tuple[Ledger, int]) -> None:
    ledger, release_id = resealed
    with TestClient(create_app(ledger)) as client:
        page = client.get(f"/releases/{release_id}").text
    assert f"{SEALS - SEALS_SHOWN} older seal runs not listed" in page
    assert page.count("<tr><td><span class=\"badge badge-green\">") == SEALS_SHOWN
    assert len(page) < 300_000


@pytest.mark.slow  # a soak: 300 seals
def test_release_show_lists_the_latest_seals_in_brief(
        resealed: tuple[Ledger, int], tmp_path: Path) -> None:
    ledger, release_id = resealed
    url = ledger.url.render_as_string(hide_password=False)
    result = cli("smokeseal", "--database-url", url, "release", "show", str(release_id),
                 "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert len(shown["seals"]) == SEALS_SHOWN
    assert shown["seals_not_listed"] == SEALS - SEALS_SHOWN
    assert all("checks" not in s for s in shown["seals"])
    assert shown["seals"][-1]["checked_at"] == _at(SEALS - 1)  # oldest first, as before
    text = cli("smokeseal", "--database-url", url, "release", "show", str(release_id),
               cwd=tmp_path)
    assert f"{SEALS} seal runs" in text.stdout, text.stdout


def test_one_scrape_of_five_apps_costs_a_few_statements_and_never_reads_notes(
        ledger_url: str) -> None:
    with Ledger(ledger_url) as ledger:
        for n in range(5):
            app = f"app{n}"
            first = ledger.create_release(app, "v1", "3f2a9c1aaaa", notes="n" * 10_000)
            ledger.mark_shipped(first.id)
            ledger.record_seal(first.id, seal("green", "2026-11-24T10:00:00Z", CHECKS))
            second = ledger.create_release(app, "v2", "3f2a9c1bbbb", notes="n" * 10_000)
            ledger.mark_shipped(second.id)
            if n % 2:
                ledger.abandon(second.id)  # rolled back: v1 runs, unchecked since
        with TestClient(create_app(ledger)) as client:
            scrape(ledger, client)


def scrape(ledger: Ledger, client: httpx.Client) -> None:
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    client.get("/metrics")  # warm: the first scrape imports prometheus_client
    for engine in {ledger.engine, ledger._reader, *ledger._bounded.values()}:
        event.listen(engine, "before_cursor_execute", seen)
    scraped = client.get("/metrics")
    assert scraped.status_code == 200
    assert 'smokeseal_seal_state{app="app1",state="rolled_back"} 1.0' in scraped.text
    assert 'smokeseal_seal_state{app="app2",state="green"} 1.0' not in scraped.text
    assert 'smokeseal_seal_state{app="app2",state="pending"} 1.0' in scraped.text
    queries = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert 0 < len(queries) <= 6, statements
    assert not [s for s in queries if "notes" in s], queries
    statements.clear()
    assert client.get("/badge/app1.svg").status_code == 200
    assert statements and not [s for s in statements if "notes" in s], statements
