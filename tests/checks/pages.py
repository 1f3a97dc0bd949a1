"""Running page checks as a test wants them: in the test session's one browser, or one after
another in a browser of the test's own."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from smokeseal.browser.session import BrowserSession
from smokeseal.browser.thread import BrowserThread
from smokeseal.browser.visit import DEFAULT_TIMEOUT
from smokeseal.checks.base import CheckResult
from smokeseal.checks.page import run_page_check
from smokeseal.checks.reads import parse_read
from smokeseal.config import Check

T = TypeVar("T")

#: Page checks "still to come" in the shared browser: always some, so that every tab a check
#: leaves reusable is wiped for the next test, as a run wipes it for its next check.
ALWAYS_MORE = 10**9


class SharedBrowser:
    """One Chromium for the whole test session (one per xdist worker), on smokeseal's own
    browser thread, its tabs taken from and given back to the session's pool.

    Each test's checks get a tab another test used and the product wiped, so every page test
    also proves that a reused tab is a new visitor, and none pays for a launch (about a
    second, and the first tab half as much again). :meth:`run` waits for the wipes before it
    returns: a write a page sends as it is left is the test's, judged by its stand-in's
    read-only proof, and the next test starts with a pool at rest.
    """

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self._thread = BrowserThread(executable).start()
        self._planned = False

    def run(self, work: Callable[[BrowserSession], Awaitable[T]], timeout: float) -> T:
        """``work(session)`` on the browser's loop, its tabs wiped after it; given up after
        ``timeout`` seconds (its tabs then closed, not reused)."""
        async def then_wipe(session: BrowserSession) -> T:
            if not self._planned:
                session.plan(ALWAYS_MORE)
                self._planned = True
            try:
                return await work(session)
            finally:
                await session.settle()

        async def bounded() -> T:
            return await asyncio.wait_for(self._thread.run(then_wipe), timeout)

        return asyncio.run(bounded())

    def check(self, base_url: str, *checks: Check, evidence: Path | None = None,
              app_urls: tuple[str, ...] = (), reads: Sequence[str] = ()) -> list[CheckResult]:
        """The checks at once, each in its own tab, as a run sends them."""
        async def go(session: BrowserSession) -> list[CheckResult]:
            return list(await asyncio.gather(*(
                run_page_check(session, check, base_url, evidence, app_urls=app_urls,
                               reads=[parse_read(r) for r in reads])
                for check in checks)))

        # Proof that it ended: every check is bounded by its timeout plus a few seconds.
        return self.run(go, max(c.timeout or DEFAULT_TIMEOUT for c in checks) + 30)

    def one_by_one(self, base_url: str, *checks: Check, reads: tuple[str, ...] = (),
                   evidence: Path | None = None, trace: bool = True) -> list[CheckResult]:
        """The checks in turn, each on the tab the one before left wiped."""
        async def go(session: BrowserSession) -> list[CheckResult]:
            return await _in_turn(session, base_url, checks, reads, evidence, trace)

        return self.run(go, 30 + 10 * len(checks))

    def close(self) -> None:
        self._thread.close()


async def _in_turn(session: BrowserSession, base_url: str, checks: Sequence[Check],
                   reads: tuple[str, ...], evidence: Path | None,
                   trace: bool) -> list[CheckResult]:
    results = []
    for check in checks:
        results.append(await run_page_check(session, check, base_url, evidence,
                                            reads=[parse_read(r) for r in reads], trace=trace))
        await session.settle()
    return results


def one_by_one(browser_executable: str, base_url: str, *checks: Check,
               reads: tuple[str, ...] = (), evidence: Path | None = None,
               trace: bool = True) -> tuple[list[CheckResult], int]:
    """The checks in turn in a browser of their own, each tab wiped for the next when it can
    be: the results and how many tabs were opened. For a test that counts tabs, or that
    launches the browser with other flags; the others use :class:`SharedBrowser`."""
    async def go() -> tuple[list[CheckResult], int]:
        async with BrowserSession(browser_executable) as session:
            session.plan(len(checks))
            results = await _in_turn(session, base_url, checks, reads, evidence, trace)
            return results, session.tabs_opened

    return asyncio.run(asyncio.wait_for(go(), 30 + 10 * len(checks)))
