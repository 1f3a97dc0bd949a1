from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from smokeseal.checks.base import CheckResult
from smokeseal.checks.browser import BrowserSession, find_browser, run_page_check
from smokeseal.config import Check, Expect
from smokeseal.errors import BrowserError
from tests.conftest import Demo

pytestmark = pytest.mark.integration


def page(path: str, timeout: float | None = None, **expect: object) -> Check:
    return Check(name=f"page {path}", page=path, timeout=timeout,
                 expect=Expect(**expect))  # type: ignore[arg-type]


def check_pages(browser_executable: str, base_url: str, *checks: Check,
                evidence: Path | None = None) -> list[CheckResult]:
    async def go() -> list[CheckResult]:
        async with BrowserSession(browser_executable) as session:
            assert session.browser is not None
            return list(await asyncio.gather(
                *(run_page_check(session, c, base_url, evidence) for c in checks)))

    return asyncio.run(go())


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
                           page("/", title="Checkout", text="Welcome back"))
    assert result.detail == ("title 'Demo Studio' does not contain 'Checkout'; "
                             "text 'Welcome back' not on the page")


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
