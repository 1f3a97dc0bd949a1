"""Running page checks one after another in one browser session, as a test wants them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from smokeseal.checks.base import CheckResult
from smokeseal.checks.browser import BrowserSession
from smokeseal.checks.page import run_page_check
from smokeseal.checks.reads import parse_read
from smokeseal.config import Check


def one_by_one(browser_executable: str, base_url: str, *checks: Check,
               reads: tuple[str, ...] = (), evidence: Path | None = None,
               trace: bool = True) -> tuple[list[CheckResult], int]:
    """The checks in turn in one session, each tab wiped for the next when it can be: the
    results and how many tabs were opened."""
    async def go() -> tuple[list[CheckResult], int]:
        async with BrowserSession(browser_executable) as session:
            session.plan(len(checks))
            results = []
            for check in checks:
                results.append(await run_page_check(
                    session, check, base_url, evidence,
                    reads=[parse_read(r) for r in reads], trace=trace))
                await session.settle()
            return results, session.tabs_opened

    return asyncio.run(asyncio.wait_for(go(), 30 + 10 * len(checks)))
