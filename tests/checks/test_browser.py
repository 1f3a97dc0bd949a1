from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path

import pytest

from smokeseal.browser.launch import find_browser
from smokeseal.browser.session import BrowserSession
from smokeseal.browser.visit import DEFAULT_TIMEOUT, SHARED_WORKER_NOTE
from smokeseal.checks.base import CheckResult
from smokeseal.checks.page import run_page_check
from smokeseal.config import Check, Expect
from smokeseal.errors import BrowserError
from tests.checks.conftest import Held, Shop
from tests.checks.pages import SharedBrowser
from tests.conftest import Demo

pytestmark = pytest.mark.integration


def page(path: str, timeout: float | None = 5, **expect: object) -> Check:
    return Check(name=f"page {path}", page=path, timeout=timeout,
                 expect=Expect(**expect))  # type: ignore[arg-type]


def check_pages(browser: SharedBrowser | str, base_url: str, *checks: Check,
                evidence: Path | None = None, app_urls: tuple[str, ...] = ()
                ) -> list[CheckResult]:
    """The checks at once in the session's browser, or, given an executable, in a browser
    launched for them alone."""
    if isinstance(browser, SharedBrowser):
        return browser.check(base_url, *checks, evidence=evidence, app_urls=app_urls)

    async def go() -> list[CheckResult]:
        async with BrowserSession(browser) as session:
            assert session.browser is not None
            return list(await asyncio.gather(
                *(run_page_check(session, c, base_url, evidence, app_urls=app_urls)
                  for c in checks)))

    # Proof that it ended: every check is bounded by its timeout plus a few seconds.
    longest = max((c.timeout or DEFAULT_TIMEOUT) for c in checks)
    return asyncio.run(asyncio.wait_for(go(), longest + 30))


def test_a_rendered_page_passes(shared_browser: SharedBrowser, demo: Demo) -> None:
    [result] = check_pages(shared_browser, demo.url,
                           page("/tasks", selector="[data-test=tasks]", title="Tasks",
                                text="Ship the release", status=200))
    assert (result.ok, result.detail, result.kind) == (True, "200", "page")
    assert result.url == demo.url + "/tasks"


def test_a_javascript_error_fails_the_check_and_keeps_evidence(
        shared_browser: SharedBrowser, demo: Demo, tmp_path: Path) -> None:
    demo.state.set_faults("tasks_js_error")
    [result] = check_pages(shared_browser, demo.url,
                           page("/tasks", selector="[data-test=tasks]", timeout=3),
                           evidence=tmp_path)
    assert not result.ok
    assert result.detail.startswith("uncaught page error: TypeError: ")
    # The error decides the check; it does not wait out the selector's timeout.
    assert "selector" not in result.detail
    assert result.evidence == str(tmp_path / "page-tasks")
    folder = Path(result.evidence)
    assert (folder / "screenshot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "page error: TypeError" in (folder / "console.txt").read_text()


def test_a_page_error_that_will_not_encode_is_still_the_failure(shared_browser: SharedBrowser,
                                                                shop: Shop,
                                                                tmp_path: Path) -> None:
    """A lone surrogate in the error's message: the detail and the evidence name it, spelled
    out, instead of the check failing on writing it down."""
    [result] = check_pages(shared_browser, shop.url, page("/surrogate"), evidence=tmp_path)
    assert (result.ok, result.detail) == (False, "uncaught page error: Error: boom \\ud800 x")
    assert result.evidence is not None
    console = (Path(result.evidence) / "console.txt").read_text(encoding="utf-8")
    assert "page error: Error: boom \\ud800 x" in console


def test_a_server_error_fails_with_the_status(shared_browser: SharedBrowser, demo: Demo) -> None:
    demo.state.set_faults("signin_500")
    [result] = check_pages(shared_browser, demo.url, page("/signin", selector="form",
                                                              timeout=2))
    assert not result.ok
    assert result.detail == "expected 2xx, got 500"


def test_a_selector_that_never_shows_fails_after_the_timeout(shared_browser: SharedBrowser,
                                                              demo: Demo) -> None:
    [result] = check_pages(shared_browser, demo.url, page("/", timeout=1.5,
                                                              selector="#checkout"))
    assert result.detail == "selector '#checkout' not visible within 1.5 s"
    assert result.duration_ms >= 1000


def test_title_and_text_mismatches_are_named(shared_browser: SharedBrowser, demo: Demo) -> None:
    [result] = check_pages(shared_browser, demo.url,
                           page("/", timeout=1.5, title="Checkout", text="Welcome back"))
    text, title = result.detail.split("; title ")
    assert text.startswith("text 'Welcome back' not found within 1.5 s; page shows: "
                           "\"Demo Studio · Tasks · Sign in")
    assert title == "'Demo Studio' does not contain 'Checkout'"


def test_a_page_that_tries_every_write_reaches_the_server_with_none(
        shared_browser: SharedBrowser, demo: Demo) -> None:
    demo.state.set_faults("sneaky_writes")
    # The pages say when every write (their workers' too) was tried: each check waits for
    # that, bounded by its timeout, so its verdict never races a worker. The sockets are
    # refused, and allowed to fail: a socket the page needs fails it (see
    # tests/checks/test_app_not_frame.py).
    tried = "[data-writes-tried] "
    sockets = ["WEBSOCKET /*"]
    results = check_pages(shared_browser, demo.url,
                          page("/", selector=tried + "main", allow_failing=sockets),
                          page("/signin", selector=tried + "form", allow_failing=sockets),
                          page("/tasks", selector=tried + "[data-test=tasks]",
                               allow_failing=sockets))
    assert demo.state.writes() == []
    assert demo.state.requests, "the pages were really loaded"
    for result in results:
        assert result.ok, result.detail  # writes are listed, and fail only with no_writes
        attempts = {entry.split(" ", 1)[0] + " " + entry.rsplit("/", 1)[-1]
                    for entry in result.blocked_writes}
        assert {"POST beacon", "POST tasks", "DELETE 1", "PUT 1", "POST session",
                "WEBSOCKET ws", "POST worker-sync", "WEBSOCKET worker (worker)"} <= attempts, \
            result.blocked_writes
        assert "blocked" in result.detail
        assert result.notes == []  # what the guard aborted is no failed asset either


def test_no_writes_turns_a_write_attempt_into_a_failure(shared_browser: SharedBrowser,
                                                         demo: Demo) -> None:
    demo.state.set_faults("sneaky_writes")
    [result] = check_pages(shared_browser, demo.url, page("/", no_writes=True))
    assert not result.ok
    assert "page tried to write: " in result.detail
    assert demo.state.writes() == []


def test_a_clean_page_blocks_nothing(shared_browser: SharedBrowser, demo: Demo) -> None:
    [result] = check_pages(shared_browser, demo.url, page("/signin", no_writes=True))
    assert result.ok and result.blocked_writes == []


def test_an_unreachable_page_says_why(shared_browser: SharedBrowser, closed_port: int) -> None:
    [result] = check_pages(shared_browser, f"http://127.0.0.1:{closed_port}", page("/"))
    assert result.detail == "could not load: net::ERR_CONNECTION_REFUSED at " \
        f"http://127.0.0.1:{closed_port}/"


def test_smokeseal_browser_wins_and_must_be_executable(tmp_path: Path) -> None:
    fake = tmp_path / "my-chrome"
    fake.write_text("#!/bin/sh\n")
    with pytest.raises(BrowserError, match=r"SMOKESEAL_BROWSER=.*my-chrome: not an executable"):
        find_browser({"SMOKESEAL_BROWSER": str(fake)})
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    assert find_browser({"SMOKESEAL_BROWSER": str(fake)}) == str(fake)


def test_system_browsers_are_found_on_the_path(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    chrome = bin_dir / "google-chrome"
    chrome.write_text("#!/bin/sh\n")
    chrome.chmod(0o755)
    environ = {"PATH": str(bin_dir), "PLAYWRIGHT_BROWSERS_PATH": str(tmp_path / "none")}
    assert find_browser(environ) == str(chrome)
    with pytest.raises(BrowserError, match="no Chromium found"):
        find_browser({"PATH": str(tmp_path / "empty"),
                      "PLAYWRIGHT_BROWSERS_PATH": str(tmp_path / "none")})


@pytest.mark.skipif(not os.path.exists("/usr/lib/chromium/chromium"), reason="Debian only")
def test_debians_shell_wrapper_is_skipped_for_the_real_binary() -> None:
    assert find_browser({"SMOKESEAL_BROWSER": "/usr/bin/chromium"}) == "/usr/lib/chromium/chromium"


FRESH = page("/visitor", selector='#visitor:text-is("fresh visitor")', timeout=5)


def test_a_reused_tab_is_a_new_visitor(browser_executable: str, demo: Demo) -> None:
    """The second check runs in the first one's tab, wiped: no cookie, storage or cache."""
    # A browser of its own: it counts the tabs one run opens.
    async def go() -> tuple[CheckResult, CheckResult, int]:
        async with BrowserSession(browser_executable) as session:
            session.plan(2)
            first = await run_page_check(session, FRESH, demo.url)
            await session.settle()
            second = await run_page_check(session, FRESH, demo.url)
            return first, second, session.tabs_opened

    first, second, tabs = asyncio.run(go())
    assert (first.ok, second.ok) == (True, True), second.detail
    assert tabs == 1


def test_the_visitor_page_does_notice_a_returning_browser(browser_executable: str,
                                                          demo: Demo) -> None:
    """The control for the test above: without a wipe, the same tab is a returning visitor."""
    from playwright.async_api import async_playwright

    from smokeseal.browser.launch import LAUNCH_ARGS

    # A browser of its own, driven without smokeseal: the point is a tab nobody wiped.
    async def go() -> str:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=browser_executable,
                                                       args=list(LAUNCH_ARGS))
            tab = await browser.new_page()
            for _ in range(2):
                await tab.goto(demo.url + "/visitor")
                marker = tab.locator("#visitor")
                await marker.filter(has_not_text="checking").wait_for()
            text = await marker.inner_text()
            await browser.close()
            return text

    assert asyncio.run(go()) == "returning: cookie,localStorage,sessionStorage,cacheStorage"


def test_a_tab_nobody_will_need_is_not_wiped_for_reuse(browser_executable: str,
                                                       demo: Demo) -> None:
    # A browser of its own: the shared one always has checks to come, so it wipes every tab.
    async def go() -> int:
        async with BrowserSession(browser_executable) as session:
            await run_page_check(session, FRESH, demo.url)  # no page checks planned
            await session.settle()
            await run_page_check(session, FRESH, demo.url)
            return session.tabs_opened

    assert asyncio.run(go()) == 2


def test_the_headless_shell_is_preferred_to_the_full_browser(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("chromium", "chromium-headless-shell"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    environ = {"PATH": str(bin_dir), "PLAYWRIGHT_BROWSERS_PATH": str(tmp_path / "none")}
    assert find_browser(environ) == str(bin_dir / "chromium-headless-shell")
    (bin_dir / "chromium-headless-shell").unlink()
    assert find_browser(environ) == str(bin_dir / "chromium")


# --- the app's own bundle -----------------------------------------------------------------

def test_a_page_whose_bundle_loads_passes(shared_browser: SharedBrowser, shop: Shop) -> None:
    """The control for the asset tests: a script, a stylesheet and a redirected script."""
    [result] = check_pages(shared_browser, shop.url, page("/bundle", selector="main"))
    assert (result.ok, result.detail, result.notes) == (True, "200", [])
    assert ("GET", "/static/app.js") in shop.seen and ("GET", "/static/app.css") in shop.seen


def test_a_script_or_stylesheet_of_the_app_answered_with_a_web_page_fails(
        shared_browser: SharedBrowser, shop: Shop) -> None:
    """After a deploy renamed the chunks, an SPA's catch-all answers the old names 200 with
    its page: the module never runs, the styles never apply. Another host's: a note."""
    own, third_party = check_pages(shared_browser, shop.url,
                                   page("/stale-bundle", selector="main"),
                                   page("/stale-bundle/third-party", selector="main"))
    html = "answered HTML (200 text/html)"
    assert not own.ok
    assert sorted(own.detail.split("; ")) == [
        f"script /_nuxt/entry.abc.js {html}, not a script: a stale bundle?",
        f"stylesheet /_nuxt/entry.abc.css {html}, not a stylesheet: a stale bundle?"]
    assert (third_party.ok, third_party.detail) == (True, "200")
    assert sorted(third_party.notes) == [
        f"third-party script {shop.other_url}/_nuxt/entry.abc.js {html}, not a script: "
        "a stale bundle?",
        f"third-party stylesheet {shop.other_url}/_nuxt/entry.abc.css {html}, not a "
        "stylesheet: a stale bundle?"]


def test_scripts_served_as_plain_text_or_untyped_are_not_stale(shared_browser: SharedBrowser,
                                                                shop: Shop) -> None:
    """The browser runs a classic script whatever its type, text/html included: only a web
    page is a stale one."""
    [result] = check_pages(shared_browser, shop.url, page("/bundle/loosely-typed"))
    assert (result.ok, result.detail, result.notes) == (True, "200", [])
    assert {("GET", "/static/plain.js"), ("GET", "/static/untyped.js"),
            ("GET", "/static/env-as-html.js")} <= set(shop.seen)


@pytest.mark.parametrize(("path", "detail"), [
    ("/bundle/missing-script", "script /static/missing.js answered 404"),
    ("/bundle/broken-style", "stylesheet /static/broken.css answered 500"),
    ("/bundle/cut-script", "script /static/cut.js failed: net::ERR_CONTENT_LENGTH_MISMATCH"),
])
def test_a_broken_script_or_stylesheet_of_the_app_fails_naming_it(
        shared_browser: SharedBrowser, shop: Shop, path: str, detail: str) -> None:
    [result] = check_pages(shared_browser, shop.url, page(path, selector="main"))
    assert (result.ok, result.detail) == (False, detail)


def test_a_script_still_loading_after_the_load_event_is_waited_for(shared_browser: SharedBrowser,
                                                                    shop: Shop) -> None:
    """Requested as the page loaded, it answers 404 1.5 s later: after the text was there."""
    [result] = check_pages(shared_browser, shop.url, page("/bundle/late-404"))
    assert (result.ok, result.detail) == (False, "script /static/slow-404.js answered 404")


def test_a_script_that_never_arrives_fails_at_the_timeout(shared_browser: SharedBrowser,
                                                          shop: Shop) -> None:
    [result] = check_pages(shared_browser, shop.url, page("/bundle/hanging", timeout=2))
    assert (result.ok, result.detail) == (
        False, "script /static/hang.js did not finish loading within 2 s")


def test_a_not_modified_answer_is_not_a_failed_asset(shared_browser: SharedBrowser,
                                                     shop: Shop) -> None:
    """A 304 is not ``ok`` in Playwright's sense; the browser has what it needs."""
    [result] = check_pages(shared_browser, shop.url, page("/bundle/not-modified"))
    assert (result.ok, result.notes) == (True, [])
    assert ("GET", "/static/not-modified.js") in shop.seen


def test_third_party_asset_failures_are_notes_not_failures(shared_browser: SharedBrowser,
                                                           shop: Shop) -> None:
    [result] = check_pages(shared_browser, shop.url, page("/bundle/third-party"))
    assert (result.ok, result.detail) == (True, "200")
    assert sorted(result.notes) == [
        f"third-party script {shop.other_url}/static/missing.js answered 404",
        f"third-party stylesheet {shop.other_url}/static/broken.css answered 500",
    ]


def test_an_aliases_assets_are_the_apps_own(shared_browser: SharedBrowser, shop: Shop) -> None:
    """The same page with the other host among the app's URLs: now its bundle is broken."""
    [result] = check_pages(shared_browser, shop.url, page("/bundle/third-party"),
                           app_urls=(shop.other_url,))
    assert not result.ok
    assert sorted(result.detail.split("; ")) == ["script /static/missing.js answered 404",
                                                 "stylesheet /static/broken.css answered 500"]
    assert result.notes == []


def test_writes_the_guard_aborted_are_listed_not_failed(shared_browser: SharedBrowser,
                                                        shop: Shop) -> None:
    [result] = check_pages(shared_browser, shop.url, page("/writes"))
    assert (result.ok, result.notes) == (True, [])
    assert {entry.split(" ")[0] for entry in result.blocked_writes} == {"POST"}
    # The fetch and the form post the same URL: listed once, counted twice.
    assert sorted(result.blocked_writes) == [f"POST {shop.url}/api/beacon",
                                             f"POST {shop.url}/api/cart ×2"]
    assert result.detail == "200; blocked 3 write attempts"


@pytest.mark.parametrize("without", [None, "the flag", "the init script"])
def test_a_shared_worker_can_neither_write_nor_break_the_check(
        browser_executable: str, shop: Shop, monkeypatch: pytest.MonkeyPatch,
        without: str | None) -> None:
    """No route sees a SharedWorker's requests, so none is started: the launch flag and the
    init script each keep it out on their own (belt and braces). The worker that would
    DELETE and POST reaches nobody (the stand-in's proof: only GETs arrived), and a page
    that starts a harmless one passes, the attempt noted."""
    import smokeseal.browser.launch as browser
    import smokeseal.browser.tab as tab

    # A browser of its own: launched without the flag, its tabs opened without the script.
    if without == "the flag":
        monkeypatch.setattr(browser, "LAUNCH_ARGS", tuple(
            arg for arg in browser.LAUNCH_ARGS if arg != "--disable-shared-workers"))
    elif without == "the init script":
        monkeypatch.setattr(tab, "INIT_SCRIPT", "")
    harmless, writer = check_pages(browser_executable, shop.url, page("/shared-worker"),
                                   page("/shared-worker/writes", no_writes=True))
    for result in (harmless, writer):
        assert (result.ok, result.detail, result.notes) == (True, "200", [SHARED_WORKER_NOTE])
    assert ("GET", "/static/writer-worker.js") not in shop.seen  # never even started


@pytest.mark.parametrize("path", ["/worker/writes", "/worker/writes/module",
                                  "/worker/writes/blob", "/worker/writes/data"])
def test_a_dedicated_workers_socket_and_post_never_reach_production(
        shared_browser: SharedBrowser, shop: Shop, path: str) -> None:
    """Playwright's socket route patches page frames only; a worker's WebSocket passed it
    and reached the server. Now the network refuses it, it is listed, and the page that
    started the worker stays green; the worker's POST is aborted by the route."""
    result, needed = check_pages(shared_browser, shop.url,
                                 page(path, text="Shop", allow_failing=["WEBSOCKET /ws/*"]),
                                 page(path, text="Shop"))
    socket = shop.url.replace("http", "ws") + "/ws/worker"
    assert ("WEBSOCKET", "/ws/worker") not in shop.seen
    assert ("POST", "/api/orders") not in shop.seen
    assert (result.ok, result.notes) == (True, [])
    assert f"WEBSOCKET {socket} (worker)" in result.blocked_writes
    # A same-origin socket the page opened and did not get: the page may need it.
    assert not needed.ok
    assert 'reads: ["WEBSOCKET /ws/worker"]' in needed.detail
    if path in ("/worker/writes", "/worker/writes/module"):
        assert f"POST {shop.url}/api/orders" in result.blocked_writes


def test_writes_sent_as_the_page_goes_away_never_reach_production(browser_executable: str,
                                                                 shop: Shop) -> None:
    """A keepalive fetch on pagehide and beacons on pagehide and unload outlive the page:
    the tab wiped for reuse, and the one closed at the end, still guard them. The server is
    watched for a while after the run, as such writes arrive late."""
    # A browser of its own: its last tab is closed with the session, not wiped.
    async def go() -> list[CheckResult]:
        async with BrowserSession(browser_executable) as session:
            session.plan(2)
            first = await run_page_check(session, page("/leaving"), shop.url)
            await session.settle()  # wiped for reuse: the page is left, pagehide fires
            second = await run_page_check(session, page("/leaving"), shop.url)
            return [first, second]  # the session closes its tab, then the browser

    results = asyncio.run(asyncio.wait_for(go(), 60))
    assert all(result.ok for result in results), [r.detail for r in results]
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        assert [entry for entry in shop.seen if entry[0] != "GET"] == []
        time.sleep(0.1)


def test_a_blocked_write_left_uncaught_is_a_note_not_a_page_error(shared_browser: SharedBrowser,
                                                                  shop: Shop) -> None:
    """fetch and a synchronous XHR fail as the guard aborts their writes; the page does not
    catch that. The guard's doing: a note, and the writes fail the check only with
    no_writes."""
    listed, strict = check_pages(shared_browser, shop.url, page("/writes/uncaught"),
                                 page("/writes/uncaught", no_writes=True))
    blocked = "(raised because the read-only guard refused {} " + shop.url + "/api/cart)"
    notes = [f"uncaught page error: TypeError: Failed to fetch {blocked.format('DELETE')}",
             "uncaught page error: NetworkError: Failed to execute 'send' on 'XMLHttpRequest': "
             f"Failed to load '{shop.url}/api/cart'. {blocked.format('POST')}"]
    assert (listed.ok, listed.detail) == (True, "200; blocked 2 write attempts")
    assert sorted(listed.notes) == sorted(notes)
    assert sorted(listed.blocked_writes) == [f"DELETE {shop.url}/api/cart",
                                             f"POST {shop.url}/api/cart"]
    assert not strict.ok
    assert strict.detail.startswith("page tried to write: ")
    assert "uncaught" not in strict.detail


#: Another host's request that failed: a note, never the page's failure.
UNSAFE_PORT = "third-party GET http://127.0.0.1:1/api/cart failed: net::ERR_UNSAFE_PORT"


@pytest.mark.parametrize(("path", "error", "notes"), [
    ("/writes/and-a-bug", "TypeError: Cannot set properties of null (setting 'textContent')",
     ["uncaught page error: TypeError: Failed to fetch (raised because the read-only guard "
      "refused DELETE {url}/api/cart)"]),
    # The guard aborted a beacon, which fails no promise: the failed fetch is the app's.
    ("/writes/and-a-failed-read", "TypeError: Failed to fetch", [UNSAFE_PORT]),
    # The guard's write failed a promise the page caught: it excuses no other failure.
    ("/writes/caught-and-a-failed-read", "TypeError: Failed to fetch", [UNSAFE_PORT]),
])
def test_a_real_page_error_still_fails_beside_a_blocked_write(
        shared_browser: SharedBrowser, shop: Shop, path: str, error: str, notes: list[str]) -> None:
    [result] = check_pages(shared_browser, shop.url, page(path))
    assert (result.ok, result.detail) == (False, f"uncaught page error: {error}")
    assert result.notes == [note.format(url=shop.url) for note in notes]
    assert len(result.blocked_writes) == 1


def test_what_one_visit_records_is_capped(shared_browser: SharedBrowser, shop: Shop) -> None:
    """80 writes and 25 failed third-party scripts: the result keeps 50 writes and 20 notes,
    each list saying how many more there were, and the detail counts them all."""
    listed, strict = check_pages(shared_browser, shop.url, page("/noisy"),
                                 page("/noisy", no_writes=True))
    assert (listed.ok, listed.detail) == (True, "200; blocked 80 write attempts")
    assert len(listed.blocked_writes) == 51 and listed.blocked_writes[-1] == "+30 more"
    assert all(entry.startswith(f"POST {shop.url}/api/beacon?")
               for entry in listed.blocked_writes[:-1])
    assert len(listed.notes) == 20 and listed.notes[-1] == "+6 more notes"
    assert all(note.startswith("third-party script ") for note in listed.notes[:-1])
    assert not strict.ok
    assert strict.detail.startswith("page tried to write: POST ")
    assert strict.detail.endswith(" (+77 more)")


# --- a page that shows nothing --------------------------------------------------------------

@pytest.mark.parametrize("path", ["/blank", "/blank/hidden", "/image", "/framed/empty",
                                  "/shadow/hidden", "/sign-in-form/hidden"])
def test_a_page_without_visible_text_fails(shared_browser: SharedBrowser, shop: Shop,
                                           path: str) -> None:
    """Hidden text and a hidden frame's text are not shown; an image-only page has none; nor
    do shadow roots of hidden hosts, hidden parts of shadow roots, or hidden form controls
    show anything."""
    [result] = check_pages(shared_browser, shop.url, page(path, timeout=1.5))
    assert (result.ok, result.detail) == (False, "page shows no visible text")


@pytest.mark.parametrize(("path", "selector"), [("/canvas", "canvas"), ("/image", "img")])
def test_a_visible_selector_counts_as_showing_something(shared_browser: SharedBrowser, shop: Shop,
                                                        path: str, selector: str) -> None:
    [result] = check_pages(shared_browser, shop.url, page(path, selector=selector))
    assert (result.ok, result.detail) == (True, "200")


def test_a_page_that_renders_after_load_and_an_iframe_only_page_pass(
        shared_browser: SharedBrowser, shop: Shop) -> None:
    spa, framed = check_pages(shared_browser, shop.url, page("/spa"), page("/framed"))
    assert (spa.ok, spa.detail) == (True, "200")
    assert (framed.ok, framed.detail) == (True, "200")  # the frame's text is what it shows


def test_text_in_open_shadow_roots_and_form_controls_is_shown(shared_browser: SharedBrowser,
                                                              shop: Shop) -> None:
    """A web-components app and a sign-in page of fields, a button and a logo show text; the
    text expectations read it too (a nested shadow root's, a field's placeholder)."""
    shadow, price, absent, form = check_pages(
        shared_browser, shop.url, page("/shadow"),
        page("/shadow", text="Dashboard All systems normal 12 EUR"),
        page("/shadow", not_text="All systems normal"),
        page("/sign-in-form", text="Email Password Sign in"))
    for result in (shadow, price, form):
        assert (result.ok, result.detail) == (True, "200"), result.name
    assert (absent.ok, absent.detail) == (False, "page shows 'All systems normal'")


def test_an_expected_error_page_may_be_empty(shared_browser: SharedBrowser, shop: Shop) -> None:
    [result] = check_pages(shared_browser, shop.url, page("/empty-404", status=404))
    assert (result.ok, result.detail) == (True, "404")


# --- text that must, and must not, be there -----------------------------------------------

def test_an_error_shell_answered_200_fails_naming_its_text(shared_browser: SharedBrowser,
                                                           shop: Shop) -> None:
    both = ["Internal Server Error", "Something went wrong"]
    single, listed = check_pages(shared_browser, shop.url,
                                 page("/error-shell", not_text="Something went wrong"),
                                 page("/error-shell", not_text=both))
    assert (single.ok, single.detail) == (False, "page shows 'Something went wrong'")
    assert (listed.ok, listed.detail) == (False, "page shows 'Something went wrong'")


def test_an_error_shell_drawn_after_load_stops_the_wait_and_fails(shared_browser: SharedBrowser,
                                                                   shop: Shop) -> None:
    """Waiting for a selector that will never come, the check sees the error shell instead."""
    [result] = check_pages(shared_browser, shop.url,
                           page("/late-error-shell", timeout=10, selector="#dashboard",
                                not_text="Something went wrong"))
    assert (result.ok, result.detail) == (False, "page shows 'Something went wrong'")
    assert result.duration_ms < 10_000  # it stopped at the error, not at the timeout


def test_error_shell_fails_a_short_page_that_shows_an_error_text(shared_browser: SharedBrowser,
                                                                   shop: Shop) -> None:
    shell, shouting, faq, status, chat = check_pages(
        shared_browser, shop.url, page("/error-shell", error_shell=True),
        page("/error-shell/shouting", error_shell=True),
        page("/error-shell/faq", error_shell=True),
        page("/error-shell/status", error_shell=True),
        # The chat frame's text is read (the text is waited for), and is not the page's.
        page("/error-shell/chat", error_shell=True, text="Something went wrong"))
    for result in (shell, shouting):
        assert (result.ok, result.detail) == (False, "page is an error shell: "
                                                     "'Something went wrong'"), result.name
    assert (faq.ok, faq.detail) == (True, "200")  # a long page that mentions it
    assert (status.ok, status.detail) == (True, "200")  # words that only look like one
    assert (chat.ok, chat.detail) == (True, "200")
    assert ("GET", "/chat-widget") in shop.seen


def test_an_error_shell_drawn_after_load_fails_error_shell(shared_browser: SharedBrowser,
                                                           shop: Shop) -> None:
    """As with not_text: the check sees the shell instead of waiting for the selector."""
    [result] = check_pages(shared_browser, shop.url,
                           page("/late-error-shell", timeout=10, selector="#dashboard",
                                error_shell=True))
    assert (result.ok, result.detail) == (False, "page is an error shell: "
                                                 "'Something went wrong'")
    assert result.duration_ms < 10_000  # it stopped at the error, not at the timeout


def test_the_health_suite_passes_on_the_demo_and_fails_an_error_shell(
        shared_browser: SharedBrowser, demo: Demo, shop: Shop) -> None:
    from smokeseal.config import ERROR_SHELL_TEXTS, HEALTH_SUITE

    [home] = [check for check in HEALTH_SUITE if check.kind == "page"]
    others = [page(path, status=200, not_text=list(ERROR_SHELL_TEXTS))
              for path in ("/tasks", "/signin", "/visitor")]
    for result in check_pages(shared_browser, demo.url, home, *others):
        assert (result.ok, result.detail) == (True, "200"), result.name
    [shell] = check_pages(shared_browser, shop.url, home)
    # The suite judges error shells with error_shell, or (before it had that) with not_text.
    said = "page is an error shell: " if home.expect.error_shell else "page shows "
    assert (shell.ok, shell.detail) == (
        False, said + "'Application error: a client-side exception'")


def test_text_added_after_load_is_waited_for(shared_browser: SharedBrowser, shop: Shop) -> None:
    [result] = check_pages(shared_browser, shop.url, page("/late-text", text="Ready to ship"))
    assert (result.ok, result.detail) == (True, "200")


def test_a_missing_selector_and_a_missing_text_are_both_named(shared_browser: SharedBrowser,
                                                              shop: Shop) -> None:
    [result] = check_pages(shared_browser, shop.url,
                           page("/bundle", timeout=1.5, selector="#checkout", text="Basket"))
    assert result.detail == ("selector '#checkout' not visible within 1.5 s; "
                             "text 'Basket' not found within 1.5 s; page shows: "
                             "'Welcome to the shop'")
    assert "Timeout" not in result.detail


def test_a_page_that_loads_as_its_timeout_ends_still_gets_a_real_look(
        shared_browser: SharedBrowser, held: Held) -> None:
    """The load ends a few ms before the timeout: the selector that is there is found (not
    "not visible" after a 1 ms wait), and the missing text is named with what the page
    shows."""
    async def go(session: BrowserSession) -> list[str]:
        details = []
        # A few ms before the end: how few a load can be held to and still end in time
        # depends on the machine, so the first that loads is judged.
        for margin in (0.02, 0.03, 0.04, 0.06):
            await session.settle()  # a wiped tab is ready: nothing else eats the time
            held.release_at[0] = time.monotonic() + 2 - margin
            result = await run_page_check(session, page("/late-load", timeout=2,
                                                        selector="main", text="Nope"),
                                          held.url)
            details.append(result.detail)
            if not result.detail.startswith("could not load"):
                break
        return details

    details = shared_browser.run(go, 60)
    assert details[-1] == "text 'Nope' not found within 2 s; page shows: 'Hello there'", details


# --- where the page ends --------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/away", "/js-away"])
def test_a_page_that_ends_on_another_host_fails_naming_it(shared_browser: SharedBrowser, shop: Shop,
                                                          path: str) -> None:
    [result] = check_pages(shared_browser, shop.url, page(path))
    assert (result.ok, result.url) == (False, f"{shop.other_url}/landed")
    assert result.detail == (f"left the app: ended on {shop.other_url}/landed; if "
                             f"{shop.other_url} serves this app, add it: aliases: "
                             f"[{shop.other_url}]; if the check is meant to end there: "
                             f"expect: {{redirect_to: {shop.other_url}}}")


def test_a_script_redirect_while_the_page_is_judged_is_seen(shared_browser: SharedBrowser,
                                                            shop: Shop) -> None:
    [result] = check_pages(shared_browser, shop.url,
                           page("/js-away-late", text="Please sign in"))
    assert result.detail.startswith(f"left the app: ended on {shop.other_url}/landed; ")


@pytest.mark.parametrize("path", ["/away", "/js-away", "/js-away-late"])
def test_ending_where_redirect_to_says_passes(shared_browser: SharedBrowser, shop: Shop,
                                              path: str) -> None:
    [by_host, by_prefix] = check_pages(
        shared_browser, shop.url, page(path, redirect_to="localhost", selector="main"),
        page(path, redirect_to=f"{shop.other_url}/landed", title="Sign in"))
    for result in (by_host, by_prefix):
        assert (result.ok, result.detail, result.url) == (True, "200", f"{shop.other_url}/landed")


def test_a_script_cancelled_as_the_page_moved_on_is_not_a_failure(shared_browser: SharedBrowser,
                                                                  shop: Shop) -> None:
    [result] = check_pages(shared_browser, shop.url,
                           page("/js-away-loading", redirect_to="localhost", text="sign in"))
    assert (result.ok, result.detail) == (True, "200")
    assert ("GET", "/static/hang.js") in shop.seen  # it was in flight when the page left


def test_the_status_judged_is_the_page_it_ended_on(shared_browser: SharedBrowser,
                                                   shop: Shop) -> None:
    """Sent on by script, the page that ended answered 502; the first one's 200 is past."""
    [result] = check_pages(shared_browser, shop.url,
                           page("/js-away-broken", redirect_to="localhost"))
    assert (result.ok, result.detail) == (False, "expected 2xx, got 502")


def test_redirect_to_fails_a_page_that_ends_elsewhere(shared_browser: SharedBrowser,
                                                      shop: Shop) -> None:
    stayed, elsewhere = check_pages(
        shared_browser, shop.url, page("/bundle", timeout=1.5, redirect_to="localhost"),
        page("/away", timeout=1.5, redirect_to=f"{shop.other_url}/sso"))
    assert stayed.detail == f"expected to end on localhost, ended on {shop.url}/bundle"
    assert elsewhere.detail == (f"expected to end on {shop.other_url}/sso, "
                                f"ended on {shop.other_url}/landed")


def test_an_alias_of_the_app_is_on_the_app(shared_browser: SharedBrowser, shop: Shop) -> None:
    [result] = check_pages(shared_browser, shop.url, page("/away"),
                           app_urls=(f"https://localhost:{shop.other_url.rsplit(':', 1)[1]}",))
    assert (result.ok, result.url) == (True, f"{shop.other_url}/landed")


# --- a page that never yields ---------------------------------------------------------------

@pytest.mark.timeout(90)
def test_a_page_whose_script_never_yields_fails_and_its_tab_is_dropped(
        browser_executable: str, shop: Shop, tmp_path: Path) -> None:
    # A browser of its own: it counts the tabs, and the stuck one must not be pooled.
    async def go() -> tuple[CheckResult, CheckResult, int]:
        async with BrowserSession(browser_executable) as session:
            session.plan(2)
            stuck = await run_page_check(session, page("/spin", timeout=2, title="Shop"),
                                         shop.url, tmp_path)
            await session.settle()
            after = await run_page_check(session, page("/bundle", selector="main"), shop.url)
            return stuck, after, session.tabs_opened

    # Proof that it ended: a generous bound, not a speed target.
    stuck, after, tabs = asyncio.run(asyncio.wait_for(go(), 60))
    assert (stuck.ok, stuck.detail) == (False, "the page's script did not yield within 2 s")
    assert (after.ok, after.detail) == (True, "200")
    assert tabs == 2  # the stuck tab was closed, not wiped for the next check
    assert stuck.evidence is not None
    assert "url: " in (Path(stuck.evidence) / "console.txt").read_text()
    assert not (Path(stuck.evidence) / "screenshot.png").exists()  # a stuck page cannot draw


@pytest.mark.timeout(90)
def test_an_embed_that_never_yields_is_not_the_page_hanging(
        browser_executable: str, shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    """With each site in its own renderer (the full Chromium's default), a stuck third-party
    frame is skipped, and the page, rendering on, passes."""
    import smokeseal.browser.launch as browser

    # A browser of its own, launched with a renderer per site.
    monkeypatch.setattr(browser, "LAUNCH_ARGS", (*browser.LAUNCH_ARGS, "--site-per-process"))
    [result] = check_pages(browser_executable, shop.url,
                           page("/embed-hangs", text="Shop front"))
    assert (result.ok, result.detail) == (True, "200")
    assert ("GET", "/spin") in shop.seen  # the embed was really there
