"""Run a suite against a base URL: every check at once, results back in suite order.

HTTP and command checks start immediately; the browser launches alongside them and page
checks begin as soon as it is up. Playwright is imported only when a suite has page checks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smokeseal.checks.base import CheckResult, Stopwatch, join_url
from smokeseal.config import Check, Config, normalise_url
from smokeseal.errors import UsageError

if TYPE_CHECKING:
    from smokeseal.checks.browser import BrowserSession

__all__ = ["PAGE_CONCURRENCY", "RunResult", "evidence_folder", "run_app", "run_suite",
           "run_suite_async"]

#: Page checks at once; each is a renderer process, and this machine class has two cores.
PAGE_CONCURRENCY = 6
NO_BROWSER = "skipped: --no-browser"

OnResult = Callable[[CheckResult], None]


@dataclass
class RunResult:
    """One run of one suite: what a seal is made from."""

    base_url: str
    checked_at: datetime
    duration_ms: int
    results: list[CheckResult]
    browser: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ran(self) -> list[CheckResult]:
        return [r for r in self.results if not r.skipped]

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok]

    @property
    def passed(self) -> bool:
        """Green: at least one check ran and none failed."""
        return bool(self.ran) and not self.failed


def run_app(config: Config, app: str, *, url: str | None = None, use_browser: bool = True,
            on_result: OnResult | None = None) -> RunResult:
    """Run app ``app``'s suite against its canonical URL (or ``url``)."""
    checks = config.suite_for(app)
    if url is not None:
        try:
            url = normalise_url(url)
        except ValueError as exc:
            raise UsageError(f"--url: {exc}") from None
    base_url = url or config.app(app).url
    return run_suite(checks, base_url, use_browser=use_browser, on_result=on_result,
                     evidence_dir=evidence_folder(config, app), base_dir=config.base_dir)


def evidence_folder(config: Config, app: str) -> Path:
    """Where this run's screenshots go; created only when a page check fails."""
    return config.evidence_root / f"{app}-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"


def run_suite(checks: Sequence[Check], base_url: str, **options: Any) -> RunResult:
    """Blocking wrapper around :func:`run_suite_async`."""
    return asyncio.run(run_suite_async(checks, base_url, **options))


async def run_suite_async(
    checks: Sequence[Check],
    base_url: str,
    *,
    use_browser: bool = True,
    browser_executable: str | None = None,
    evidence_dir: Path | None = None,
    base_dir: Path | None = None,
    page_concurrency: int = PAGE_CONCURRENCY,
    on_result: OnResult | None = None,
) -> RunResult:
    checked_at = datetime.now(UTC)
    watch = Stopwatch()
    base_dir = base_dir or Path.cwd()
    needs_browser = use_browser and any(c.kind == "page" for c in checks)
    notes: list[str] = []

    def report(results: list[CheckResult]) -> list[CheckResult]:
        if on_result is not None:
            for result in results:
                on_result(result)
        return results

    browser_task: asyncio.Task[BrowserSession] | None = None
    if needs_browser:
        from smokeseal.checks.browser import BrowserSession

        browser_task = asyncio.create_task(BrowserSession(browser_executable).__aenter__())
    page_slots = asyncio.Semaphore(page_concurrency)

    from smokeseal.checks.http import read_only_client, run_get_check

    async with read_only_client() as client:

        async def one(check: Check) -> list[CheckResult]:
            if check.kind == "get":
                return report([await run_get_check(client, check, base_url)])
            if check.kind == "command":
                from smokeseal.checks.command import run_command_check

                return report(await run_command_check(check, base_url, base_dir))
            if browser_task is None:
                return report([CheckResult(check.label, "page", True, NO_BROWSER, 0,
                                           url=join_url(base_url, check.target),
                                           skipped=True)])
            return report([await _page(check)])

        async def _page(check: Check) -> CheckResult:
            from smokeseal.checks.browser import run_page_check
            from smokeseal.errors import BrowserError

            url = join_url(base_url, check.target)
            assert browser_task is not None
            try:
                opened = await asyncio.shield(browser_task)
            except BrowserError as exc:
                return CheckResult(check.label, "page", False, f"no browser: {exc}", 0, url=url)
            async with page_slots:
                try:
                    assert opened.browser is not None
                    return await run_page_check(opened.browser, check, base_url, evidence_dir)
                except Exception as exc:
                    return CheckResult(check.label, "page", False,
                                       f"browser failed: {type(exc).__name__}: {exc}",
                                       0, url=url)

        try:
            nested = await asyncio.gather(*(one(check) for check in checks))
        finally:
            browser_name = await _close_browser(browser_task) if browser_task else None

    if not needs_browser and any(c.kind == "page" for c in checks):
        skipped = sum(c.kind == "page" for c in checks)
        notes.append(f"{skipped} page check{'s' * (skipped > 1)} skipped (--no-browser)")
    results = [result for group in nested for result in group]
    return RunResult(base_url, checked_at, watch.ms(), results, browser_name, notes)


async def _close_browser(task: asyncio.Task[BrowserSession]) -> str | None:
    """Close the browser if it opened; say which one it was."""
    if not task.done():
        task.cancel()
    try:
        session = await task
    except BaseException:
        return None
    name = f"{session.executable} {session.version}"
    await session.__aexit__(None, None, None)
    return name
