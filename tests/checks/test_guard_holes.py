"""Holes a reviewer found in the read-only guard of page checks, each shown closed (or, where
it cannot be closed, turned into a red check that names what reached production)."""

from __future__ import annotations

import time

import pytest

from smokeseal.config import Check, Expect
from tests.checks.conftest import Reader, Shop
from tests.checks.pages import SharedBrowser, one_by_one

pytestmark = pytest.mark.integration


def page(path: str, timeout: float = 5, **expect: object) -> Check:
    return Check(name=f"page {path}", page=path, timeout=timeout,
                 expect=Expect(**expect))  # type: ignore[arg-type]


def no_write_arrives(shop: Shop, seconds: float = 2) -> None:
    """Writes sent as a page is left arrive late: the stand-in is watched for a while."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert [entry for entry in shop.seen if entry[0] not in ("GET", "HEAD")] == []
        time.sleep(0.1)


# --- 1. the wipe ----------------------------------------------------------------------------

def test_a_page_that_listens_for_leaving_only_once_wiped_writes_nothing(
        shared_browser: SharedBrowser, shop: Shop) -> None:
    """The wipe used to ask the page's own ``sessionStorage.clear()`` after looking for
    leaving-listeners: a page overriding it added one then, and its keepalive fetch and
    beacon reached production as the tab went blank. A page toggling its listener on a timer
    raced the look, and ``pageswap`` was not looked for at all."""
    checks = [page(path, selector="main") for path in (
        "/leaving/storage-trap", "/leaving/toggling", "/leaving/toggling",
        "/leaving/pageswap", "/bundle")]
    results = shared_browser.one_by_one(shop.url, *checks)
    assert [r.ok for r in results] == [True] * len(checks), [r.detail for r in results]
    assert results[-1].blocked_writes == []  # nothing of the pages before
    no_write_arrives(shop)


def test_a_wiped_tab_is_still_reused_and_a_new_visitor(browser_executable: str,
                                                       shop: Shop) -> None:
    # A browser of its own: it counts the tabs.
    results, tabs = one_by_one(browser_executable, shop.url, page("/bundle", selector="main"),
                               page("/spa"), page("/bundle", selector="main"))
    assert [r.ok for r in results] == [True] * 3, [r.detail for r in results]
    assert tabs == 1


# --- 2. popups ------------------------------------------------------------------------------

def test_a_popup_never_opens(browser_executable: str, shop: Shop) -> None:
    """``window.open`` gave the page a second page that had the route but not the socket
    rule: its worker's WebSocket reached production, and the popup outlived the wipe, its
    blocked POST listed on the next check. Now the browser opens no popup."""
    # A browser of its own: it counts the tabs.
    results, tabs = one_by_one(browser_executable, shop.url, page("/popup", selector="main"),
                               page("/bundle", selector="main"))
    assert [(r.ok, r.detail) for r in results] == [(True, "200"), (True, "200")]
    assert results[1].blocked_writes == []
    assert not any(path.startswith(("/popup/child", "/ws/")) for _, path in shop.seen), shop.seen
    assert tabs == 1


def test_a_popup_a_browser_lets_open_is_closed_unloaded(
        browser_executable: str, shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    """Should the browser open one anyway (both ways of blocking them taken back here), the
    popup is closed at once, its document refused by the route, noted, and the tab is not
    reused."""
    import smokeseal.browser.launch as browser

    # A browser of its own, launched letting popups open.
    monkeypatch.setattr(browser, "LAUNCH_ARGS", tuple(
        arg for arg in browser.LAUNCH_ARGS if arg != "--block-new-web-contents"))
    monkeypatch.setattr(browser, "IGNORED_DEFAULT_ARGS", ())
    results, tabs = one_by_one(browser_executable, shop.url,
                               page("/popup/url", text="Shop"),
                               page("/bundle", selector="main"))
    assert (results[0].ok, results[0].detail) == (True, "200")
    assert len(results[0].notes) == 1
    assert results[0].notes[0].startswith("page opened a popup (")
    assert results[0].notes[0].endswith("): closed, as smokeseal guards one page per check")
    assert (results[1].ok, results[1].blocked_writes) == (True, [])
    assert tabs == 2
    assert not any(path.startswith(("/popup/child", "/ws/")) for _, path in shop.seen), shop.seen


# --- 3. frames' workers ---------------------------------------------------------------------

@pytest.mark.sends_writes  # the socket does reach the stand-in: the check must say so
@pytest.mark.parametrize("path", ["/framed/worker-socket", "/framed/worker-socket/other"])
def test_a_frames_worker_socket_is_never_listed_as_refused(shared_browser: SharedBrowser,
                                                           shop: Shop, path: str) -> None:
    """The socket rule on the page's target covers the page's own workers only: a frame's
    worker (same origin or not, in process or not) connects. It used to be listed as
    blocked, the check green; now it is named as a write that reached production, and the
    check fails."""
    results = shared_browser.one_by_one(shop.url, page(path, selector="main"))
    [result] = results
    socket = "ws://127.0.0.1:" + shop.url.rsplit(":", 1)[1] + "/ws/frame-worker"
    assert not result.ok
    assert result.detail.startswith(f"a write reached production: WEBSOCKET {socket} "
                                    "(worker)"), result.detail
    assert not any("frame-worker" in entry for entry in result.blocked_writes)
    assert ("WEBSOCKET", "/ws/frame-worker") in shop.seen


def test_a_page_workers_refused_socket_is_still_listed_as_blocked(
        shared_browser: SharedBrowser, shop: Shop) -> None:
    """The control: the page's own worker's socket is refused, so listed, the check green."""
    results = shared_browser.one_by_one(shop.url, page("/worker/writes/data", text="Shop",
                                                       allow_failing=["WEBSOCKET /ws/worker"]))
    [result] = results
    assert (result.ok, result.detail) == (True, "200; blocked 1 write attempt")
    assert ("WEBSOCKET", "/ws/worker") not in shop.seen


# --- 4. workers' sockets beside a declared one ----------------------------------------------

@pytest.mark.sends_writes  # the undeclared socket reaches the stand-in: the check must say so
def test_an_undeclared_worker_socket_fails_a_check_that_declares_sockets(
        shared_browser: SharedBrowser, reader: Reader) -> None:
    """A declared WEBSOCKET read takes the socket rule off (it cannot spare one URL): a
    worker's socket to any path connected and was only noted, the check green. Now one to
    the declared path is a read, and one elsewhere is a write that reached production."""
    results = shared_browser.one_by_one(reader.url, page("/socket/workers", text="Shop"),
                                        reads=("WEBSOCKET /ws",))
    [result] = results
    admin = reader.url.replace("http", "ws") + "/ws-admin"
    assert not result.ok
    assert result.detail == f"a write reached production: WEBSOCKET {admin} (worker)"
    assert result.reads == ["WEBSOCKET /ws (worker)"]
