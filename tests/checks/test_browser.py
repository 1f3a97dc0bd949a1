from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from smokeseal.checks.base import CheckResult
from smokeseal.checks.browser import DEFAULT_TIMEOUT, BrowserSession, find_browser, run_page_check
from smokeseal.config import Check, Expect
from smokeseal.errors import BrowserError
from tests.checks.conftest import Shop
from tests.conftest import Demo

pytestmark = pytest.mark.integration


def page(path: str, timeout: float | None = 5, **expect: object) -> Check:
    return Check(name=f"page {path}", page=path, timeout=timeout,
                 expect=Expect(**expect))  # type: ignore[arg-type]


def check_pages(browser_executable: str, base_url: str, *checks: Check,
                evidence: Path | None = None, app_urls: tuple[str, ...] = ()
                ) -> list[CheckResult]:
    async def go() -> list[CheckResult]:
        async with BrowserSession(browser_executable) as session:
            assert session.browser is not None
            return list(await asyncio.gather(
                *(run_page_check(session, c, base_url, evidence, app_urls=app_urls)
                  for c in checks)))

    # Proof that it ended: every check is bounded by its timeout plus a few seconds.
    longest = max((c.timeout or DEFAULT_TIMEOUT) for c in checks)
    return asyncio.run(asyncio.wait_for(go(), longest + 30))


def test_a_rendered_page_passes(browser_executable: str, demo: Demo) -> None:
    [result] = check_pages(browser_executable, demo.url,
                           page("/tasks", selector="[data-test=tasks]", title="Tasks",
                                text="Ship the release", status=200))
    assert (result.ok, result.detail, result.kind) == (True, "200", "page")
    assert result.url == demo.url + "/tasks"


def test_a_javascript_error_fails_the_check_and_keeps_evidence(
        browser_executable: str, demo: Demo, tmp_path: Path) -> None:
    demo.state.set_faults("tasks_js_error")
    [result] = check_pages(browser_executable, demo.url,
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


def test_a_server_error_fails_with_the_status(browser_executable: str, demo: Demo) -> None:
    demo.state.set_faults("signin_500")
    [result] = check_pages(browser_executable, demo.url, page("/signin", selector="form",
                                                              timeout=2))
    assert not result.ok
    assert result.detail == "expected 2xx, got 500"


def test_a_selector_that_never_shows_fails_after_the_timeout(browser_executable: str,
                                                              demo: Demo) -> None:
    [result] = check_pages(browser_executable, demo.url, page("/", timeout=1.5,
                                                              selector="#checkout"))
    assert result.detail == "selector '#checkout' not visible within 1.5 s"
    assert result.duration_ms >= 1000


def test_title_and_text_mismatches_are_named(browser_executable: str, demo: Demo) -> None:
    [result] = check_pages(browser_executable, demo.url,
                           page("/", timeout=1.5, title="Checkout", text="Welcome back"))
    assert result.detail == ("text 'Welcome back' not on the page within 1.5 s; "
                             "title 'Demo Studio' does not contain 'Checkout'")


def test_a_page_that_tries_every_write_reaches_the_server_with_none(
        browser_executable: str, demo: Demo) -> None:
    demo.state.set_faults("sneaky_writes")
    results = check_pages(browser_executable, demo.url, page("/", selector="main"),
                          page("/signin", selector="form"),
                          page("/tasks", selector="[data-test=tasks]"))
    assert demo.state.writes() == []
    assert demo.state.requests, "the pages were really loaded"
    for result in results:
        assert result.ok, result.detail  # writes are listed, and fail only with no_writes
        attempts = {entry.split(" ", 1)[0] + " " + entry.rsplit("/", 1)[-1]
                    for entry in result.blocked_writes}
        assert {"POST beacon", "POST tasks", "DELETE 1", "PUT 1", "POST session",
                "WEBSOCKET ws"} <= attempts, result.blocked_writes
        assert "blocked" in result.detail
        assert result.notes == []  # what the guard aborted is no failed asset either


def test_no_writes_turns_a_write_attempt_into_a_failure(browser_executable: str,
                                                         demo: Demo) -> None:
    demo.state.set_faults("sneaky_writes")
    [result] = check_pages(browser_executable, demo.url, page("/", no_writes=True))
    assert not result.ok
    assert "page tried to write: " in result.detail
    assert demo.state.writes() == []


def test_a_clean_page_blocks_nothing(browser_executable: str, demo: Demo) -> None:
    [result] = check_pages(browser_executable, demo.url, page("/signin", no_writes=True))
    assert result.ok and result.blocked_writes == []


def test_an_unreachable_page_says_why(browser_executable: str, closed_port: int) -> None:
    [result] = check_pages(browser_executable, f"http://127.0.0.1:{closed_port}", page("/"))
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

    from smokeseal.checks.browser import LAUNCH_ARGS

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

def test_a_page_whose_bundle_loads_passes(browser_executable: str, shop: Shop) -> None:
    """The control for the asset tests: a script, a stylesheet and a redirected script."""
    [result] = check_pages(browser_executable, shop.url, page("/bundle", selector="main"))
    assert (result.ok, result.detail, result.notes) == (True, "200", [])
    assert ("GET", "/static/app.js") in shop.seen and ("GET", "/static/app.css") in shop.seen


@pytest.mark.parametrize(("path", "detail"), [
    ("/bundle/missing-script", "script /static/missing.js answered 404"),
    ("/bundle/broken-style", "stylesheet /static/broken.css answered 500"),
    ("/bundle/cut-script", "script /static/cut.js failed: net::ERR_CONTENT_LENGTH_MISMATCH"),
])
def test_a_broken_script_or_stylesheet_of_the_app_fails_naming_it(
        browser_executable: str, shop: Shop, path: str, detail: str) -> None:
    [result] = check_pages(browser_executable, shop.url, page(path, selector="main"))
    assert (result.ok, result.detail) == (False, detail)


def test_a_script_still_loading_after_the_load_event_is_waited_for(browser_executable: str,
                                                                    shop: Shop) -> None:
    """Requested as the page loaded, it answers 404 1.5 s later: after the text was there."""
    [result] = check_pages(browser_executable, shop.url, page("/bundle/late-404"))
    assert (result.ok, result.detail) == (False, "script /static/slow-404.js answered 404")


def test_a_script_that_never_arrives_fails_at_the_timeout(browser_executable: str,
                                                          shop: Shop) -> None:
    [result] = check_pages(browser_executable, shop.url, page("/bundle/hanging", timeout=2))
    assert (result.ok, result.detail) == (
        False, "script /static/hang.js did not finish loading within 2 s")


def test_a_not_modified_answer_is_not_a_failed_asset(browser_executable: str,
                                                     shop: Shop) -> None:
    """A 304 is not ``ok`` in Playwright's sense; the browser has what it needs."""
    [result] = check_pages(browser_executable, shop.url, page("/bundle/not-modified"))
    assert (result.ok, result.notes) == (True, [])
    assert ("GET", "/static/not-modified.js") in shop.seen


def test_third_party_asset_failures_are_notes_not_failures(browser_executable: str,
                                                           shop: Shop) -> None:
    [result] = check_pages(browser_executable, shop.url, page("/bundle/third-party"))
    assert (result.ok, result.detail) == (True, "200")
    assert sorted(result.notes) == [
        f"third-party script {shop.other_url}/static/missing.js answered 404",
        f"third-party stylesheet {shop.other_url}/static/broken.css answered 500",
    ]


def test_an_aliases_assets_are_the_apps_own(browser_executable: str, shop: Shop) -> None:
    """The same page with the other host among the app's URLs: now its bundle is broken."""
    [result] = check_pages(browser_executable, shop.url, page("/bundle/third-party"),
                           app_urls=(shop.other_url,))
    assert not result.ok
    assert sorted(result.detail.split("; ")) == ["script /static/missing.js answered 404",
                                                 "stylesheet /static/broken.css answered 500"]
    assert result.notes == []


def test_writes_the_guard_aborted_are_listed_not_failed(browser_executable: str,
                                                        shop: Shop) -> None:
    [result] = check_pages(browser_executable, shop.url, page("/writes"))
    assert (result.ok, result.notes) == (True, [])
    assert {entry.split(" ")[0] for entry in result.blocked_writes} == {"POST"}
    assert len(result.blocked_writes) == 3, result.blocked_writes  # fetch, beacon, form


# --- a page that shows nothing --------------------------------------------------------------

@pytest.mark.parametrize("path", ["/blank", "/blank/hidden", "/image", "/framed/empty"])
def test_a_page_without_visible_text_fails(browser_executable: str, shop: Shop,
                                           path: str) -> None:
    """Hidden text and a hidden frame's text are not shown; an image-only page has none."""
    [result] = check_pages(browser_executable, shop.url, page(path, timeout=1.5))
    assert (result.ok, result.detail) == (False, "page shows no visible text")


@pytest.mark.parametrize(("path", "selector"), [("/canvas", "canvas"), ("/image", "img")])
def test_a_visible_selector_counts_as_showing_something(browser_executable: str, shop: Shop,
                                                        path: str, selector: str) -> None:
    [result] = check_pages(browser_executable, shop.url, page(path, selector=selector))
    assert (result.ok, result.detail) == (True, "200")


def test_a_page_that_renders_after_load_and_an_iframe_only_page_pass(
        browser_executable: str, shop: Shop) -> None:
    spa, framed = check_pages(browser_executable, shop.url, page("/spa"), page("/framed"))
    assert (spa.ok, spa.detail) == (True, "200")
    assert (framed.ok, framed.detail) == (True, "200")  # the frame's text is what it shows


def test_an_expected_error_page_may_be_empty(browser_executable: str, shop: Shop) -> None:
    [result] = check_pages(browser_executable, shop.url, page("/empty-404", status=404))
    assert (result.ok, result.detail) == (True, "404")


# --- text that must, and must not, be there -----------------------------------------------

def test_an_error_shell_answered_200_fails_naming_its_text(browser_executable: str,
                                                           shop: Shop) -> None:
    both = ["Internal Server Error", "Something went wrong"]
    single, listed = check_pages(browser_executable, shop.url,
                                 page("/error-shell", not_text="Something went wrong"),
                                 page("/error-shell", not_text=both))
    assert (single.ok, single.detail) == (False, "page shows 'Something went wrong'")
    assert (listed.ok, listed.detail) == (False, "page shows 'Something went wrong'")


def test_an_error_shell_drawn_after_load_stops_the_wait_and_fails(browser_executable: str,
                                                                   shop: Shop) -> None:
    """Waiting for a selector that will never come, the check sees the error shell instead."""
    [result] = check_pages(browser_executable, shop.url,
                           page("/late-error-shell", timeout=10, selector="#dashboard",
                                not_text="Something went wrong"))
    assert (result.ok, result.detail) == (False, "page shows 'Something went wrong'")
    assert result.duration_ms < 10_000  # it stopped at the error, not at the timeout


def test_the_health_suite_passes_on_the_demo_and_fails_an_error_shell(
        browser_executable: str, demo: Demo, shop: Shop) -> None:
    from smokeseal.config import ERROR_SHELL_TEXTS, HEALTH_SUITE

    [home] = [check for check in HEALTH_SUITE if check.kind == "page"]
    others = [page(path, status=200, not_text=list(ERROR_SHELL_TEXTS))
              for path in ("/tasks", "/signin", "/visitor")]
    for result in check_pages(browser_executable, demo.url, home, *others):
        assert (result.ok, result.detail) == (True, "200"), result.name
    [shell] = check_pages(browser_executable, shop.url, home)
    assert (shell.ok, shell.detail) == (
        False, "page shows 'Application error: a client-side exception'")


def test_text_added_after_load_is_waited_for(browser_executable: str, shop: Shop) -> None:
    [result] = check_pages(browser_executable, shop.url, page("/late-text", text="Ready to ship"))
    assert (result.ok, result.detail) == (True, "200")


def test_a_missing_selector_and_a_missing_text_are_both_named(browser_executable: str,
                                                              shop: Shop) -> None:
    [result] = check_pages(browser_executable, shop.url,
                           page("/bundle", timeout=1.5, selector="#checkout", text="Basket"))
    assert result.detail == ("selector '#checkout' not visible within 1.5 s; "
                             "text 'Basket' not on the page within 1.5 s")
    assert "Timeout" not in result.detail


# --- where the page ends --------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/away", "/js-away"])
def test_a_page_that_ends_on_another_host_fails_naming_it(browser_executable: str, shop: Shop,
                                                          path: str) -> None:
    [result] = check_pages(browser_executable, shop.url, page(path))
    assert (result.ok, result.url) == (False, f"{shop.other_url}/landed")
    assert result.detail == f"left the app: ended on {shop.other_url}/landed"


def test_a_script_redirect_while_the_page_is_judged_is_seen(browser_executable: str,
                                                            shop: Shop) -> None:
    [result] = check_pages(browser_executable, shop.url,
                           page("/js-away-late", text="Please sign in"))
    assert result.detail == f"left the app: ended on {shop.other_url}/landed"


@pytest.mark.parametrize("path", ["/away", "/js-away", "/js-away-late"])
def test_ending_where_redirect_to_says_passes(browser_executable: str, shop: Shop,
                                              path: str) -> None:
    [by_host, by_prefix] = check_pages(
        browser_executable, shop.url, page(path, redirect_to="localhost", selector="main"),
        page(path, redirect_to=f"{shop.other_url}/landed", title="Sign in"))
    for result in (by_host, by_prefix):
        assert (result.ok, result.detail, result.url) == (True, "200", f"{shop.other_url}/landed")


def test_a_script_cancelled_as_the_page_moved_on_is_not_a_failure(browser_executable: str,
                                                                  shop: Shop) -> None:
    [result] = check_pages(browser_executable, shop.url,
                           page("/js-away-loading", redirect_to="localhost", text="sign in"))
    assert (result.ok, result.detail) == (True, "200")
    assert ("GET", "/static/hang.js") in shop.seen  # it was in flight when the page left


def test_the_status_judged_is_the_page_it_ended_on(browser_executable: str,
                                                   shop: Shop) -> None:
    """Sent on by script, the page that ended answered 502; the first one's 200 is past."""
    [result] = check_pages(browser_executable, shop.url,
                           page("/js-away-broken", redirect_to="localhost"))
    assert (result.ok, result.detail) == (False, "expected 2xx, got 502")


def test_redirect_to_fails_a_page_that_ends_elsewhere(browser_executable: str,
                                                      shop: Shop) -> None:
    stayed, elsewhere = check_pages(
        browser_executable, shop.url, page("/bundle", timeout=1.5, redirect_to="localhost"),
        page("/away", timeout=1.5, redirect_to=f"{shop.other_url}/sso"))
    assert stayed.detail == f"expected to end on localhost, ended on {shop.url}/bundle"
    assert elsewhere.detail == (f"expected to end on {shop.other_url}/sso, "
                                f"ended on {shop.other_url}/landed")


def test_an_alias_of_the_app_is_on_the_app(browser_executable: str, shop: Shop) -> None:
    [result] = check_pages(browser_executable, shop.url, page("/away"),
                           app_urls=(f"https://localhost:{shop.other_url.rsplit(':', 1)[1]}",))
    assert (result.ok, result.url) == (True, f"{shop.other_url}/landed")


# --- a page that never yields ---------------------------------------------------------------

@pytest.mark.timeout(90)
def test_a_page_whose_script_never_yields_fails_and_its_tab_is_dropped(
        browser_executable: str, shop: Shop, tmp_path: Path) -> None:
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
    import smokeseal.checks.browser as browser

    monkeypatch.setattr(browser, "LAUNCH_ARGS", (*browser.LAUNCH_ARGS, "--site-per-process"))
    [result] = check_pages(browser_executable, shop.url,
                           page("/embed-hangs", text="Shop front"))
    assert (result.ok, result.detail) == (True, "200")
    assert ("GET", "/spin") in shop.seen  # the embed was really there
