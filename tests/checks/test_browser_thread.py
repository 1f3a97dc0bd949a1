"""The browser on its own thread: page checks sent from another loop, early starts, and
nothing left running whichever way it ends."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from smokeseal.browser.thread import BrowserThread, prelaunch, take_prelaunched
from smokeseal.checks.page import run_page_check
from smokeseal.config import Check, Expect
from smokeseal.errors import BrowserError
from tests.conftest import Demo

pytestmark = pytest.mark.integration


def children() -> set[int]:
    """Processes whose parent is this one (the driver, while a browser is up)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid():
                found.add(int(entry.name))
    return found


def running(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def test_page_checks_run_on_the_browser_thread_and_report_to_the_callers_loop(
        browser_executable: str, demo: Demo) -> None:
    before = children()
    browser = BrowserThread(browser_executable).start()
    checks = [Check(name=f"page {p}", page=p, expect=Expect(selector=s))
              for p, s in (("/", "main"), ("/tasks", "[data-test=tasks]"))]

    async def go() -> list[bool]:
        await browser.ready()
        browser.plan(len(checks))
        results = await asyncio.gather(*(
            browser.run(lambda session, c=c: run_page_check(session, c, demo.url))
            for c in checks))
        return [r.ok for r in results]

    assert asyncio.run(go()) == [True, True]
    assert running(children() - before), "the driver should be up while the browser is"
    name = browser.close()
    assert name is not None and name.startswith(browser_executable + " ")
    assert not browser._thread.is_alive()
    assert not running(children() - before)
    assert browser.close() is None  # once is enough


def test_a_browser_that_cannot_launch_fails_ready_with_a_browser_error(tmp_path: Path) -> None:
    doomed = tmp_path / "not-a-browser"
    doomed.write_text("#!/bin/sh\nexit 1\n")
    doomed.chmod(0o755)
    browser = BrowserThread(str(doomed)).start()

    async def go() -> None:
        await browser.ready()

    with pytest.raises(BrowserError, match="could not launch"):
        asyncio.run(go())
    assert browser.close() is None
    assert not browser._thread.is_alive()


def test_closing_during_the_launch_leaves_nothing_running(browser_executable: str) -> None:
    before = children()
    for wait in (0.0, 0.15, 0.3):
        browser = BrowserThread(browser_executable).start()
        if wait:
            asyncio.run(asyncio.sleep(wait))
        browser.close()
        assert not browser._thread.is_alive()
        assert not running(children() - before), f"left running after closing at {wait} s"


def test_a_prelaunched_browser_goes_to_the_first_taker_for_its_browser(
        browser_executable: str) -> None:
    before = children()
    first = prelaunch()
    assert prelaunch() is first  # one per process
    assert take_prelaunched() is first
    assert take_prelaunched() is None
    first.close()
    prelaunch()
    # A run that wants another browser does not get this one, and it is closed.
    assert take_prelaunched(browser_executable + "-other") is None
    assert take_prelaunched() is None
    assert not running(children() - before)


def test_a_prelaunched_browser_trusting_another_ca_is_not_taken(
        browser_executable: str, tmp_path: Path) -> None:
    before = children()
    prelaunch()
    # A run whose config names a private CA needs a browser launched to trust it.
    assert take_prelaunched(args=("--ignore-certificate-errors-spki-list=abc",),
                            ca_file=str(tmp_path / "ca.pem")) is None
    assert take_prelaunched() is None
    assert not running(children() - before)
