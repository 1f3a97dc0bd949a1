"""A page check verifies the app, not the frame a framework draws before its data arrives
(DESIGN.md rule 9). Every page of the stand-in (tests/checks/standins_frames.py) draws the
heading ``Orders`` at once, so a check of that heading alone passed on each of them, broken
or not; each test here says what the verdict is now, and why."""

from __future__ import annotations

import asyncio

import pytest

from smokeseal.browser.session import BrowserSession
from smokeseal.checks.base import CheckResult
from smokeseal.checks.page import fold, run_page_check
from smokeseal.checks.reads import parse_read
from smokeseal.config import Check, Expect
from tests.checks.conftest import Frames

pytestmark = pytest.mark.integration


def page(path: str, *, timeout: float = 5, reads: tuple[str, ...] = (),
         **expect: object) -> Check:
    expect.setdefault("text", "Orders")
    return Check(name=f"page {path}", page=path, timeout=timeout, reads=list(reads),
                 expect=Expect(**expect))  # type: ignore[arg-type]


def check(browser_executable: str, frames: Frames, *checks: Check) -> list[CheckResult]:
    async def go() -> list[CheckResult]:
        async with BrowserSession(browser_executable) as session:
            return list(await asyncio.gather(
                *(run_page_check(session, one, frames.url) for one in checks)))

    # Bounded: a check that never ends fails this test rather than hanging it.
    return asyncio.run(asyncio.wait_for(go(), 60))


# --- green while production is broken ------------------------------------------------------

def test_the_apps_own_request_answered_5xx_fails_the_page(browser_executable: str,
                                                         frames: Frames) -> None:
    healthy, broken = check(browser_executable, frames, page("/orders"),
                            page("/orders/500"))
    assert (healthy.ok, healthy.detail) == (True, "200")
    assert not broken.ok
    assert broken.detail == "request GET /api/orders-500 answered 500"


def test_the_apps_own_request_cut_short_fails_the_page(browser_executable: str,
                                                      frames: Frames) -> None:
    [result] = check(browser_executable, frames, page("/orders/cut"))
    assert not result.ok
    assert result.detail.startswith("request GET /api/cut failed: net::"), result.detail


@pytest.mark.parametrize(("path", "why"), [
    ("/later/crash", "uncaught page error: Error: boom after drawing"),
    ("/later/boundary", "page showed its content, then lost text 'Orders' within 1500 ms "
                        "(settle_ms); page shows: 'Something went wrong'"),
    ("/later/interval", "page showed its content, then lost text 'Orders' within 1500 ms "
                        "(settle_ms); page shows: 'Something went wrong'"),
    ("/later/blank", "page showed its content, then lost text 'Orders' and all its text "
                     "within 1500 ms (settle_ms); page shows no text"),
    # The app's own error, beside a write the guard refused: not excused by it.
    ("/broken/own-failed-to-fetch", "uncaught page error: Error: Failed to fetch orders: "
                                    "HTTP 404"),
])
def test_a_page_that_breaks_after_drawing_fails(browser_executable: str, frames: Frames,
                                               path: str, why: str) -> None:
    [result] = check(browser_executable, frames, page(path))
    assert (result.ok, result.detail) == (False, why)


def test_an_error_boundary_drawn_late_is_named_as_an_error_shell(browser_executable: str,
                                                                frames: Frames) -> None:
    [result] = check(browser_executable, frames, page("/later/boundary", text=None,
                                                      error_shell=True))
    assert (result.ok, result.detail) == (False, "page is an error shell: "
                                                 "'Something went wrong'")


def test_a_settle_window_of_zero_trusts_the_first_draw(browser_executable: str,
                                                      frames: Frames) -> None:
    """``settle_ms: 0`` is the old verdict, on purpose: the page is judged as it drew."""
    [result] = check(browser_executable, frames, page("/later/blank", settle_ms=0))
    assert (result.ok, result.detail) == (True, "200")


def test_a_lazy_chunk_that_404s_ends_the_wait_for_what_it_would_draw(
        browser_executable: str, frames: Frames) -> None:
    """The failure is known as the chunk answers: the check says so, rather than waiting out
    its timeout for the text and naming that instead."""
    [result] = check(browser_executable, frames, page("/lazy/404", text="Widget", timeout=30))
    assert not result.ok
    assert "script /static/chunk-404.js answered 404" in result.detail, result.detail
    assert "not found within" not in result.detail


@pytest.mark.parametrize(("path", "why"), [
    ("/refused/nosniff-script", "script /static/plain.js refused by the browser: served as "
                                "text/plain, which a script may not be"),
    # Chromium cancels it before Playwright sees an answer: the MIME type is not known.
    ("/refused/nosniff-style", "stylesheet /static/plain.css refused by the browser (a MIME "
                               "type it may not run or apply, or a policy)"),
    ("/refused/integrity", "script /static/app.js refused by the browser: it failed its "
                           "integrity (SRI) check"),
    ("/refused/module", "script /static/octet.js refused by the browser: served as "
                        "application/octet-stream, which a module script may not be"),
])
def test_a_script_or_stylesheet_the_browser_refused_fails_the_page(
        browser_executable: str, frames: Frames, path: str, why: str) -> None:
    [result] = check(browser_executable, frames, page(path))
    assert (result.ok, result.detail) == (False, why)


@pytest.mark.parametrize(("path", "line", "attempt"), [
    ("/channel/socket", "WEBSOCKET /ws/data", "WEBSOCKET ws://{host}/ws/data"),
    ("/channel/graphql", "GRAPHQL /graphql", "POST http://{host}/graphql"),
    ("/channel/engineio", "POST /socket.io/",
     "POST http://{host}/socket.io/?EIO=4&transport=polling&sid=s1"),
])
def test_a_refused_data_channel_fails_the_page_with_the_read_that_declares_it(
        browser_executable: str, frames: Frames, path: str, line: str, attempt: str) -> None:
    """The guard refused the page's data channel, so the page showed its frame and no data:
    green before ("200; blocked 1 write attempt"). The failure names the exact line."""
    shown, missing = check(browser_executable, frames, page(path),
                           page(path, text="Widget", timeout=3))
    host = frames.url.split("://", 1)[1]
    assert not missing.ok
    assert missing.detail.startswith(
        "the read-only guard refused what the page needs for its data: "
        f"{attempt.format(host=host)}; if it only reads, declare it: reads: [\"{line}\"]"), \
        missing.detail
    # The heading showed all the same: the channel may be one the page does without.
    assert not shown.ok
    assert shown.detail.startswith(
        "the read-only guard refused a data channel of the page's: "
        f"{attempt.format(host=host)}; if the page does without it, allow_failing: "
        f"[\"{line}\"]; if it only reads, declare it: reads: [\"{line}\"]"), shown.detail
    assert frames.seen.count(("POST", "/graphql")) == 0
    assert ("WEBSOCKET", "/ws/data") not in frames.seen


@pytest.mark.sends_writes  # the declared reads reach the stand-in, and only they
@pytest.mark.parametrize(("path", "line"), [
    ("/channel/socket", "WEBSOCKET /ws/data"),
    ("/channel/graphql", "GRAPHQL /graphql"),
    ("/channel/engineio", "POST /socket.io/"),
])
def test_the_declared_channel_passes_and_the_data_is_checked(
        browser_executable: str, frames: Frames, path: str, line: str) -> None:
    [result] = check(browser_executable, frames, page(path, text="Widget", reads=(line,)))
    assert (result.ok, result.detail) == (True, "200")
    kind, where = line.split()
    arrived = [seen for seen in frames.seen if seen[0] not in ("GET", "HEAD")]
    assert arrived == [("WEBSOCKET" if kind == "WEBSOCKET" else "POST", where)]


@pytest.mark.sends_writes  # the declared read reaches the stand-in, and only it
def test_a_page_with_no_content_names_the_refused_post_it_may_read_by(
        browser_executable: str, frames: Frames) -> None:
    """An RPC read by POST is no known data channel: a page whose data came through it is
    not failed for the refusal, but when its content never shows, the refused POST is named
    with the line that would declare it."""
    refused, declared = check(browser_executable, frames,
                              page("/channel/rpc", text="Widget", timeout=3),
                              page("/channel/rpc", text="Widget", reads=("POST /__ui__",)))
    assert not refused.ok
    assert refused.detail.endswith(
        f"the read-only guard refused POST {frames.url}/__ui__: if the page reads its content "
        'through it, declare it: reads: ["POST /__ui__"]'), refused.detail
    assert (declared.ok, declared.detail) == (True, "200")
    assert [seen for seen in frames.seen if seen[0] == "POST"] == [("POST", "/__ui__")]


def test_a_refusal_the_check_allows_is_listed_not_failed(browser_executable: str,
                                                        frames: Frames) -> None:
    [result] = check(browser_executable, frames,
                     page("/channel/socket", allow_failing=["WEBSOCKET /ws/*"]))
    assert (result.ok, result.detail) == (True, "200; blocked 1 write attempt")


# --- red while production is fine ---------------------------------------------------------

def test_a_failure_the_check_allows_is_a_note(browser_executable: str, frames: Frames) -> None:
    [result] = check(browser_executable, frames,
                     page("/orders/500", allow_failing=["GET /api/orders-*"]))
    assert (result.ok, result.notes) == (True, ["GET /api/orders-500 answered 500 (allowed "
                                                "to fail)"])


def test_the_apps_own_script_allowed_to_fail_is_a_note(browser_executable: str,
                                                       frames: Frames) -> None:
    strict, allowed = check(browser_executable, frames, page("/optional-script"),
                            page("/optional-script", allow_failing=["GET /static/optional*"]))
    assert (strict.ok, strict.detail) == (False, "script /static/optional.js answered 404")
    assert (allowed.ok, allowed.notes) == (True, ["script /static/optional.js answered 404 "
                                                  "(allowed to fail)"])


def test_a_fetch_answered_4xx_is_a_note(browser_executable: str, frames: Frames) -> None:
    [result] = check(browser_executable, frames, page("/orders/404"))
    assert (result.ok, result.notes) == (True, ["GET /api/nothing answered 404"])


def test_another_hosts_failure_is_a_note(browser_executable: str, frames: Frames) -> None:
    [result] = check(browser_executable, frames, page("/orders/third-party"))
    assert result.ok, result.detail
    # Answered 500, and refused by CORS besides: either is a note.
    [note] = result.notes
    assert note.startswith(f"third-party GET {frames.other_url}/api/orders-500 "), note


def test_what_the_pages_own_policy_blocks_is_a_note(browser_executable: str,
                                                    frames: Frames) -> None:
    """An image its CSP refuses: no answer production failed to give."""
    [result] = check(browser_executable, frames, page("/healthy/csp-image"))
    assert (result.ok, result.detail) == (True, "200")
    assert result.notes == [f"GET {frames.url}/static/pixel.png refused by the browser (csp)"]


def test_a_fetch_the_page_aborted_itself_is_no_failure(browser_executable: str,
                                                      frames: Frames) -> None:
    [result] = check(browser_executable, frames, page("/orders/aborted"))
    assert (result.ok, result.detail, result.notes) == (True, "200", [])


@pytest.mark.parametrize(("path", "text"), [
    ("/healthy/uppercase", "orders"),  # drawn as ORDERS by CSS
    ("/healthy/uppercase", "Widget list"),  # a non-breaking space between the words
    ("/healthy/closed-shadow", "Widget list"),  # drawn in a closed shadow root
])
def test_text_is_read_as_a_person_reads_it(browser_executable: str, frames: Frames,
                                          path: str, text: str) -> None:
    [result] = check(browser_executable, frames, page(path, text=text))
    assert (result.ok, result.detail) == (True, "200")


def test_content_redrawn_for_a_moment_is_not_lost(browser_executable: str,
                                                  frames: Frames) -> None:
    """A refetch's spinner stands in for the content for 200 ms: no loss."""
    [result] = check(browser_executable, frames, page("/healthy/refetch", text="Widget"))
    assert (result.ok, result.detail) == (True, "200")


def test_not_text_is_folded_too(browser_executable: str, frames: Frames) -> None:
    [result] = check(browser_executable, frames, page("/healthy/uppercase", not_text="orders"))
    assert (result.ok, result.detail) == (False, "page shows 'orders'")


def test_a_librarys_error_over_a_refused_write_is_a_note_naming_it(browser_executable: str,
                                                                 frames: Frames) -> None:
    [result] = check(browser_executable, frames, page("/healthy/analytics"))
    assert (result.ok, result.detail) == (True, "200; blocked 1 write attempt")
    assert result.notes == [
        "uncaught page error: AxiosError: Network Error (raised because the read-only guard "
        f"refused POST {frames.url}/collect)"]


def test_a_page_calling_an_api_smokeseal_switched_off_gets_a_note(browser_executable: str,
                                                                  frames: Frames) -> None:
    [result] = check(browser_executable, frames, page("/healthy/fetch-later"))
    assert (result.ok, result.detail) == (True, "200")
    assert result.notes == ["page called fetchLater, which smokeseal switches off: it sends "
                            "where the read-only guard cannot see"]


# --- never ending ---------------------------------------------------------------------------

def test_a_page_that_never_goes_quiet_is_judged_within_its_timeout(browser_executable: str,
                                                                  frames: Frames) -> None:
    """A ticking clock and an endless stream: the watch after the content ends at its window,
    the check with a verdict (the test itself is bounded)."""
    [result] = check(browser_executable, frames, page("/busy", text="Widget", timeout=5))
    assert (result.ok, result.detail) == (True, "200")


@pytest.mark.unit
@pytest.mark.parametrize(("shown", "wanted"), [
    ("ORDERS", "Orders"), ("Widget\u00a0list", "widget list"), ("ﬁle", "file"),
    ("Or\u00adders", "Orders"), ("  a \n\t b ", "A B"),
])
def test_fold_makes_texts_a_reader_takes_for_the_same_equal(shown: str, wanted: str) -> None:
    assert fold(shown) == fold(wanted)


def test_parse_read_is_what_checks_use() -> None:
    assert str(parse_read("WEBSOCKET /ws/*")) == "WEBSOCKET /ws/*"
