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
    from smokeseal.checks.browser_thread import BrowserThread

__all__ = ["APP_CONCURRENCY", "PAGE_CONCURRENCY", "RunResult", "Shared", "evidence_folder",
           "run_app", "run_fleet", "run_fleet_async", "run_suite", "run_suite_async"]

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


@dataclass
class Shared:
    """What several suites can share in one run: the HTTP client, the browser, page slots."""

    client: Any  # httpx.AsyncClient, imported lazily
    page_slots: asyncio.Semaphore
    browser: BrowserThread | None


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
    shared: Shared | None = None,
) -> RunResult:
    """Run ``checks`` at once. With ``shared``, use its client and browser (left open)."""
    if shared is not None:
        return await _run_checks(checks, base_url, shared, use_browser=use_browser,
                                 evidence_dir=evidence_dir, base_dir=base_dir,
                                 on_result=on_result)
    needs_browser = use_browser and any(c.kind == "page" for c in checks)
    browser = _launch(browser_executable) if needs_browser else None
    from smokeseal.checks.http import read_only_client

    async with read_only_client() as client:
        try:
            run = await _run_checks(checks, base_url,
                                    Shared(client, asyncio.Semaphore(page_concurrency),
                                           browser),
                                    use_browser=use_browser, evidence_dir=evidence_dir,
                                    base_dir=base_dir, on_result=on_result)
        finally:
            browser_name = await browser.aclose() if browser else None
    run.browser = browser_name
    return run


def _launch(executable: str | None) -> BrowserThread:
    """The browser, starting in the background (or started already, see
    :func:`~smokeseal.checks.browser_thread.prelaunch`): HTTP checks do not wait for it."""
    from smokeseal.checks.browser_thread import BrowserThread, take_prelaunched

    return take_prelaunched(executable) or BrowserThread(executable).start()


async def _run_checks(checks: Sequence[Check], base_url: str, shared: Shared, *,
                      use_browser: bool, evidence_dir: Path | None, base_dir: Path | None,
                      on_result: OnResult | None) -> RunResult:
    checked_at = datetime.now(UTC)
    watch = Stopwatch()
    base_dir = base_dir or Path.cwd()
    browser = shared.browser if use_browser else None
    notes: list[str] = []

    def report(results: list[CheckResult]) -> list[CheckResult]:
        if on_result is not None:
            for result in results:
                on_result(result)
        return results

    from smokeseal.checks.http import run_get_check

    planned: list[bool] = []  # this suite's page checks are announced to the browser once

    async def one(check: Check) -> list[CheckResult]:
        if check.kind == "get":
            return report([await run_get_check(shared.client, check, base_url)])
        if check.kind == "command":
            from smokeseal.checks.command import run_command_check

            return report(await run_command_check(check, base_url, base_dir))
        if browser is None:
            return report([CheckResult(check.label, "page", True, NO_BROWSER, 0,
                                       url=join_url(base_url, check.target), skipped=True)])
        return report([await _page(check, browser)])

    async def _page(check: Check, browser: BrowserThread) -> CheckResult:
        from smokeseal.checks.browser import describe_error, run_page_check
        from smokeseal.errors import BrowserError

        url = join_url(base_url, check.target)
        try:
            await browser.ready()
        except BrowserError as exc:
            return CheckResult(check.label, "page", False, f"no browser: {exc}", 0, url=url)
        if not planned:
            planned.append(True)
            browser.plan(sum(c.kind == "page" for c in checks))
        async with shared.page_slots:
            try:
                return await browser.run(
                    lambda session: run_page_check(session, check, base_url, evidence_dir))
            except Exception as exc:
                return CheckResult(check.label, "page", False,
                                   f"browser failed: {describe_error(exc)}", 0, url=url)

    nested = await asyncio.gather(*(one(check) for check in checks))
    if browser is None and any(c.kind == "page" for c in checks):
        skipped = sum(c.kind == "page" for c in checks)
        notes.append(f"{skipped} page check{'s' * (skipped > 1)} skipped (--no-browser)")
    results = [result for group in nested for result in group]
    return RunResult(base_url, checked_at, watch.ms(), results, None, notes)


#: Apps whose suites run at once in a fleet run; their page checks share PAGE_CONCURRENCY.
APP_CONCURRENCY = 8


def run_fleet(config: Config, apps: Sequence[str] | None = None, *, use_browser: bool = True,
              app_concurrency: int = APP_CONCURRENCY,
              page_concurrency: int = PAGE_CONCURRENCY,
              on_app: Callable[[str, RunResult], None] | None = None) -> dict[str, RunResult]:
    """Every app's suite (or ``apps``'), sharing one browser and one HTTP client.

    Results come back in config order; ``on_app`` hears each app as it finishes.
    """
    return asyncio.run(run_fleet_async(config, apps, use_browser=use_browser,
                                       app_concurrency=app_concurrency,
                                       page_concurrency=page_concurrency, on_app=on_app))


async def run_fleet_async(config: Config, apps: Sequence[str] | None = None, *,
                          use_browser: bool = True, app_concurrency: int = APP_CONCURRENCY,
                          page_concurrency: int = PAGE_CONCURRENCY,
                          on_app: Callable[[str, RunResult], None] | None = None
                          ) -> dict[str, RunResult]:
    names = list(apps if apps is not None else config.apps)
    needs_browser = use_browser and any(c.kind == "page" for name in names
                                        for c in config.suite_for(name))
    browser = _launch(None) if needs_browser else None
    app_slots = asyncio.Semaphore(app_concurrency)
    from smokeseal.checks.http import read_only_client

    async with read_only_client() as client:
        shared = Shared(client, asyncio.Semaphore(page_concurrency), browser)

        async def one(name: str) -> RunResult:
            async with app_slots:
                run = await _run_checks(config.suite_for(name), config.app(name).url, shared,
                                        use_browser=use_browser,
                                        evidence_dir=evidence_folder(config, name),
                                        base_dir=config.base_dir, on_result=None)
            if on_app is not None:
                on_app(name, run)
            return run

        try:
            runs = await asyncio.gather(*(one(name) for name in names))
        finally:
            browser_name = await browser.aclose() if browser else None
    for run in runs:
        run.browser = browser_name
    return dict(zip(names, runs, strict=True))
