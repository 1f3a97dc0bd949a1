"""Declared reads (``reads:``) through the page guard, against a real Chromium and a local
stand-in that reads the ways Dash, GraphQL clients and Streamlit do. The stand-in's fixture
proves afterwards that nothing but GET, HEAD and the declared reads reached it."""

from __future__ import annotations

import io
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text

from smokeseal.checks.base import CheckResult
from smokeseal.config import Check, Expect, load_config
from smokeseal.ledger import Ledger
from smokeseal.report import print_seal, write_junit
from smokeseal.seal import Seal
from smokeseal.ship import resolve_release, ship
from tests.checks.conftest import GREETING, SOCKET_TEXT, Reader
from tests.checks.pages import SharedBrowser
from tests.conftest import Api, notify_yaml

pytestmark = pytest.mark.integration

DASH = "POST /_dash-update-component"


def check(path: str, text: str | None = None, reads: tuple[str, ...] = (),
          timeout: float = 4, allow_failing: tuple[str, ...] = ()) -> Check:
    return Check(name=f"page {path}", page=path, timeout=timeout, reads=list(reads),
                 expect=Expect(text=text, allow_failing=list(allow_failing)))


def run(browser: SharedBrowser, base_url: str, page_check: Check,
        app_reads: tuple[str, ...] = (), app_urls: tuple[str, ...] = ()) -> CheckResult:
    [result] = browser.check(base_url, page_check, app_urls=app_urls, reads=app_reads)
    return result


def test_a_dash_page_is_green_with_its_callback_declared(shared_browser: SharedBrowser,
                                                        reader: Reader) -> None:
    result = run(shared_browser, reader.url, check("/dash", "Callback answered"),
                 app_reads=(DASH,))
    assert (result.ok, result.detail) == (True, "200")
    assert result.reads == ["POST /_dash-update-component ×3"]
    assert result.blocked_writes == []
    assert reader.seen.count(("POST", "/_dash-update-component")) == 3


def test_a_checks_own_reads_are_added_to_its_apps(shared_browser: SharedBrowser,
                                                 reader: Reader) -> None:
    result = run(shared_browser, reader.url,
                 check("/dash", "Callback answered", reads=(DASH,)), app_reads=("PUT /x",))
    assert (result.ok, result.reads) == (True, ["POST /_dash-update-component ×3"])


def test_a_dash_page_is_red_without_its_read_and_the_blocked_posts_are_listed(
        shared_browser: SharedBrowser, reader: Reader) -> None:
    result = run(shared_browser, reader.url, check("/dash", "Callback answered", timeout=2))
    assert not result.ok
    # The refused callback is named first, with the line that declares it: it is why the
    # page shows no data.
    assert result.detail.startswith(
        f"the read-only guard refused what the page needs for its data: POST {reader.url}"
        '/_dash-update-component; if it only reads, declare it: reads: ["POST '
        '/_dash-update-component"]'), result.detail
    assert result.blocked_writes == [f"POST {reader.url}/_dash-update-component ×3"]
    assert result.reads == []
    assert ("POST", "/_dash-update-component") not in reader.seen


def test_a_graphql_query_passes_and_reaches_the_app(shared_browser: SharedBrowser,
                                                   reader: Reader) -> None:
    result = run(shared_browser, reader.url,
                 check("/graphql-query", f"{GREETING} (twice: true)"),
                 app_reads=("GRAPHQL /graphql",))
    assert (result.ok, result.detail) == (True, "200")
    assert result.reads == ["GRAPHQL /graphql ×2"]
    assert len(reader.graphql_bodies) == 2
    assert b"query Greeting" in reader.graphql_bodies[0]


def test_no_graphql_write_reaches_the_app_however_it_is_sent(shared_browser: SharedBrowser,
                                                            reader: Reader) -> None:
    result = run(shared_browser, reader.url, check("/graphql-writes", "Tried every write"),
                 app_reads=("GRAPHQL /graphql",))
    assert result.ok, result.detail
    assert reader.graphql_bodies == []
    assert result.reads == []
    post = f"POST {reader.url}/graphql"
    assert all(entry.startswith(post) for entry in result.blocked_writes), result.blocked_writes
    reasons = sorted(entry.split(" (GRAPHQL /graphql: ", 1)[1]
                     for entry in result.blocked_writes)
    assert reasons == sorted([
        "a mutation Drop, not a query)",
        "the document holds a mutation Drop: only documents of queries pass, whichever "
        "operation is selected)",
        "batch [1]: a mutation, not a query)",
        "a mutation, not a query)",
        "a subscription, not a query)",
        "a persisted query: the server may run its stored document, not the text sent)",
        "the body is not JSON (nor sent as application/graphql))",
        "the key 'query' appears twice)",
        "it carries 'documentId': the server may run another document)",
        "the URL carries query: servers may run that, not the body)",
        "it carries x-http-method-override: the server may take it for another method)",
    ])


def test_a_declared_socket_connects_and_others_stay_refused(shared_browser: SharedBrowser,
                                                           reader: Reader) -> None:
    result = run(shared_browser, reader.url,
                 check("/socket", SOCKET_TEXT, allow_failing=("WEBSOCKET /ws-admin",)),
                 app_reads=("WEBSOCKET /ws",))
    assert (result.ok, result.detail) == (True, "200; blocked 2 write attempts")
    assert result.reads == ["WEBSOCKET /ws"]
    ws = reader.url.replace("http", "ws")
    assert sorted(result.blocked_writes) == sorted([
        f"WEBSOCKET {ws}/ws-admin", f"WEBSOCKET {reader.other_url.replace('http', 'ws')}/ws"])
    # The page's answer went through too, over the real socket.
    deadline = time.monotonic() + 5
    while not reader.socket_messages and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reader.socket_messages == ["thanks"]
    assert [s for s in reader.seen if s[0] == "WEBSOCKET"] == [("WEBSOCKET", "/ws")]


def test_a_socket_is_refused_without_its_read(shared_browser: SharedBrowser,
                                              reader: Reader) -> None:
    result = run(shared_browser, reader.url, check("/socket", SOCKET_TEXT, timeout=2))
    assert not result.ok
    assert 'reads: ["WEBSOCKET /ws", "WEBSOCKET /ws-admin"]' in result.detail, result.detail
    assert f"WEBSOCKET {reader.url.replace('http', 'ws')}/ws" in result.blocked_writes
    assert not [s for s in reader.seen if s[0] == "WEBSOCKET"]


def test_a_read_path_on_another_origin_stays_blocked(shared_browser: SharedBrowser,
                                                    reader: Reader) -> None:
    result = run(shared_browser, reader.url, check("/third-party-read", "Shop"),
                 app_reads=(DASH,))
    assert result.ok, result.detail
    assert result.blocked_writes == [f"POST {reader.other_url}/_dash-update-component"]
    assert result.reads == []


def test_an_aliases_origin_is_the_apps_own(shared_browser: SharedBrowser, reader: Reader) -> None:
    """The same page with the other host named as an alias: its read passes."""
    result = run(shared_browser, reader.url, check("/third-party-read", "Shop"),
                 app_reads=(DASH,), app_urls=(reader.other_url,))
    assert (result.ok, result.blocked_writes) == (True, [])
    assert result.reads == ["POST /_dash-update-component"]


def test_a_read_answered_with_a_redirect_is_not_followed(shared_browser: SharedBrowser,
                                                        reader: Reader) -> None:
    """The 307 would have the browser repeat the POST to /api/orders, a path Playwright's
    routes never see: the guard refuses the redirect, and /api/orders is never asked."""
    result = run(shared_browser, reader.url, check("/redirected-read", "refused"),
                 app_reads=(DASH,))
    assert result.ok, result.detail
    assert ("POST", "/_dash-update-component") in reader.seen
    assert ("POST", "/api/orders") not in reader.seen
    assert result.blocked_writes == [
        f"POST {reader.url}/_dash-update-component?moved=1 redirected (307): a read must not "
        "redirect"]
    assert result.reads == ["POST /_dash-update-component"]


def test_a_repeated_write_is_listed_once_with_its_count(shared_browser: SharedBrowser,
                                                       reader: Reader) -> None:
    result = run(shared_browser, reader.url, check("/beacons", "Shop"))
    assert (result.ok, result.detail) == (True, "200; blocked 7 write attempts")
    assert result.blocked_writes == [f"POST {reader.url}/api/beacon ×7"]


def test_a_shipped_release_shows_its_reads_everywhere(
        browser_executable: str, reader: Reader, discord: Api, secrets_env: dict[str, str],
        write_config: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    """From ``reads:`` in the config to the seal record, the terminal, JUnit and Discord."""
    monkeypatch.setenv("SMOKESEAL_BROWSER", browser_executable)
    config = load_config(write_config(
        f"apps:\n  dash:\n    url: {reader.url}\n    reads: ['{DASH}']\n"
        "    gate: {timeout: 3, interval: 0.2}\n"
        "    suite: [{name: callbacks, page: /dash, expect: {text: Callback answered}}]\n"
        + notify_yaml(discord, None)))
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        release = resolve_release(ledger, config, "dash", version="v1", sha="3f2a9c1")
        shipped = ship(config, ledger, release)
        assert shipped.seal is not None and shipped.seal.status == "green", shipped.seal
        recorded = ledger.release(release.id).smoke_seal or {}
    line = "let through 3 reads: POST /_dash-update-component ×3"
    assert recorded["checks"][0]["reads"] == ["POST /_dash-update-component ×3"]
    seal = Seal.from_dict(recorded)
    screen = io.StringIO()
    print_seal(Console(file=screen, width=200), seal, Text("seal"))
    assert line in screen.getvalue()
    write_junit(tmp_path / "junit.xml", [("dash", seal)])
    out = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite/testcase/system-out")
    assert out is not None and out.text == line
    [embed] = next(p.json["embeds"] for p in discord.state.posts() if p.json.get("embeds"))
    assert "↔ **callbacks** let through 3 reads: POST /\\_dash-update-component ×3" \
        in embed["description"]


def test_a_read_that_gets_no_answer_fails_the_page_that_hides_it(
        shared_browser: SharedBrowser, reader: Reader, closed_port: int) -> None:
    # The page catches the failed read and draws as if all were well: the read tells.
    alias = f"http://127.0.0.1:{closed_port}"
    result = run(shared_browser, reader.url, check(f"/hidden-read?to={alias}", "All good"),
                 app_reads=(DASH,), app_urls=(reader.url, alias))
    assert not result.ok
    assert result.detail.startswith(f"read {DASH} got no answer: "), result.detail
    assert "ECONNREFUSED" in result.detail or "refused" in result.detail, result.detail
