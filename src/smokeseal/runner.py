"""Run a suite against a base URL: every check at once, results back in suite order.

HTTP and command checks start immediately; the browser launches alongside them and page
checks begin as soon as it is up. Playwright is imported only when a suite has page checks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smokeseal.access import Access, access_for, for_check
from smokeseal.checks.base import CheckResult, Stopwatch, join_url
from smokeseal.checks.reads import Read
from smokeseal.config import Check, Config, VersionSource, normalise_url
from smokeseal.errors import UsageError

if TYPE_CHECKING:
    from smokeseal.browser.thread import BrowserThread
    from smokeseal.certificates import Certificate, CertificateLog

__all__ = ["APP_CONCURRENCY", "GRACE", "PAGE_CONCURRENCY", "RunResult", "Shared", "Target",
           "evidence_folder", "redact", "run_app", "run_fleet", "run_fleet_async", "run_suite",
           "run_suite_async", "run_target", "target_for"]

#: Page checks at once; each is a renderer process, and this machine class has two cores.
PAGE_CONCURRENCY = 6
NO_BROWSER = "skipped: --no-browser"
#: A check's hard deadline is its timeout plus this: room for evidence and cleanup.
GRACE = 5.0
#: How long page checks wait for the browser to come up.
LAUNCH_DEADLINE = 60.0
#: Between a failed try and its retry: long enough for a blip to pass.
RETRY_PAUSE = 0.5
DEFAULT_BUDGET = 300.0

OnResult = Callable[[CheckResult], None]


@dataclass
class RunResult:
    """One run of one suite: what a seal is made from."""

    base_url: str
    checked_at: datetime
    duration_ms: int
    results: list[CheckResult]
    browser: str | None = None
    #: What the seal says beside its checks (a certificate that expires soon): the seal's
    #: ``notes``, shown wherever it is, never a failure.
    notes: list[str] = field(default_factory=list)
    #: The revision production served, where the app says how to read it.
    revision: str | None = None
    #: When the certificate of each https origin of the app expires.
    certificates: list[Certificate] = field(default_factory=list)

    @property
    def ran(self) -> list[CheckResult]:
        return [r for r in self.results if not r.skipped]

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if r.outcome == "failed"]

    @property
    def passed(self) -> bool:
        """Green: every check ran, and none failed (see :func:`smokeseal.seal.verdict`)."""
        from smokeseal.seal import verdict

        return verdict(self.results) == "green"


@dataclass(frozen=True)
class Target:
    """Where and how one app's suite runs."""

    checks: tuple[Check, ...]
    base_url: str
    #: Hosts a check may end on: the canonical url and its aliases.
    app_urls: tuple[str, ...] = ()
    version: VersionSource | None = None
    expected_sha: str | None = None
    #: The whole run's budget, seconds.
    budget: float = DEFAULT_BUDGET
    evidence_dir: Path | None = None
    #: The app's declared reads (``reads:``): the page guard lets these through, to the
    #: app's own origins (those of ``app_urls``) only.
    reads: tuple[Read, ...] = ()
    #: Headers and cookies for the app's origins only (see :mod:`smokeseal.access`).
    access: Access = field(default_factory=Access)
    #: Config values taken out of every result before anything sees it (see
    #: :func:`smokeseal.secrets.secrets_of`).
    secrets: tuple[str, ...] = ()
    #: Environment variables holding the config's own secrets (its sinks' tokens, the
    #: ledger's URL): command checks do not inherit them (see :mod:`smokeseal.childenv`).
    withheld: tuple[str, ...] = ()
    #: Trace page checks and keep the trace of a failed one (the config's ``trace``).
    trace: bool = True
    #: A certificate that expires within this many days is a note on the seal (0: never).
    cert_warn_days: int = 14


def target_for(config: Config, app: str, *, url: str | None = None,
               expected_sha: str | None = None) -> Target:
    """App ``app``'s suite, aimed at its canonical URL (or ``url``)."""
    app_config = config.app(app)
    checks = config.suite_for(app)
    if url is not None:
        try:
            url = normalise_url(url)
        except ValueError as exc:
            raise UsageError(f"--url: {exc}") from None
    base_url = url or app_config.url
    app_urls = (base_url,) if url else (app_config.url, *app_config.aliases)
    from smokeseal.childenv import withheld_variables
    from smokeseal.secrets import secrets_of

    return Target(checks, base_url, app_urls, app_config.version, expected_sha,
                  app_config.seal_timeout, evidence_folder(config, app),
                  app_config.parsed_reads, access_for(app_config, base_url),
                  tuple(secrets_of(config)), withheld_variables(config),
                  config.trace != "off", config.cert_warn_days_for(app))


def run_app(config: Config, app: str, *, url: str | None = None, use_browser: bool = True,
            on_result: OnResult | None = None, expected_sha: str | None = None) -> RunResult:
    """Run app ``app``'s suite against its canonical URL (or ``url``)."""
    target = target_for(config, app, url=url, expected_sha=expected_sha)
    return asyncio.run(run_target(target, use_browser=use_browser, on_result=on_result,
                                  base_dir=config.base_dir, ca_file=_ca_file(config)))


def _ca_file(config: Config) -> str | None:
    path = config.ca_path
    return str(path) if path else None


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
    #: Where ``client`` keeps the leaf certificates its connections met (None: it does not).
    certificates: CertificateLog | None = None


async def run_suite_async(
    checks: Sequence[Check],
    base_url: str,
    *,
    app_urls: Sequence[str] = (),
    version: VersionSource | None = None,
    expected_sha: str | None = None,
    budget: float = DEFAULT_BUDGET,
    evidence_dir: Path | None = None,
    reads: Sequence[Read] = (),
    **options: Any,
) -> RunResult:
    """Run ``checks`` at once against ``base_url``; see :func:`run_target`."""
    target = Target(tuple(checks), base_url, tuple(app_urls) or (base_url,), version,
                    expected_sha, budget, evidence_dir, tuple(reads))
    return await run_target(target, **options)


async def run_target(
    target: Target,
    *,
    use_browser: bool = True,
    browser_executable: str | None = None,
    base_dir: Path | None = None,
    page_concurrency: int = PAGE_CONCURRENCY,
    on_result: OnResult | None = None,
    shared: Shared | None = None,
    ca_file: str | None = None,
) -> RunResult:
    """Run a target's checks at once. With ``shared``, use its client and browser (left
    open). ``ca_file`` is trusted for https, by HTTP checks and the browser alike."""
    if shared is not None:
        return await _run_checks(target, shared, use_browser=use_browser, base_dir=base_dir,
                                 on_result=on_result)
    needs_browser = use_browser and any(c.kind == "page" for c in target.checks)
    browser = (_launch(browser_executable, ca_file, target.app_urls) if needs_browser
               else None)
    from smokeseal.certificates import CertificateLog
    from smokeseal.checks.http import read_only_client

    certificates = CertificateLog()
    async with read_only_client(ca_file, certificates=certificates) as client:
        try:
            run = await _run_checks(target,
                                    Shared(client, asyncio.Semaphore(page_concurrency),
                                           browser, certificates),
                                    use_browser=use_browser, base_dir=base_dir,
                                    on_result=on_result)
        finally:
            browser_name = await browser.aclose() if browser else None
    run.browser = browser_name
    return run


def _launch(executable: str | None, ca_file: str | None = None,
            app_urls: Sequence[str] = ()) -> BrowserThread:
    """The browser, starting in the background (or started already, see
    :func:`~smokeseal.browser.thread.prelaunch`): HTTP checks do not wait for it.
    With ``ca_file``, it trusts that CA on ``app_urls`` (see :mod:`smokeseal.trust`)."""
    from smokeseal.browser.thread import BrowserThread, take_prelaunched
    from smokeseal.trust import browser_trust_args

    args = browser_trust_args(ca_file, app_urls)
    return (take_prelaunched(executable, args=args, ca_file=ca_file)
            or BrowserThread(executable, args=args, ca_file=ca_file).start())


def _default_timeout(kind: str) -> float:
    # The check modules' DEFAULT_TIMEOUTs, repeated: importing the browser package to read one
    # would load Playwright for an HTTP-only suite.
    return {"get": 10.0, "page": 15.0, "command": 300.0}.get(kind, 10.0)


class _Budget:
    """The run's time budget, on the event loop's clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = asyncio.get_running_loop().time() + seconds

    def left(self) -> float:
        return self._end - asyncio.get_running_loop().time()


async def _run_checks(target: Target, shared: Shared, *, use_browser: bool,
                      base_dir: Path | None, on_result: OnResult | None) -> RunResult:
    checked_at = datetime.now(UTC)
    watch = Stopwatch()
    budget = _Budget(target.budget)
    base_dir = base_dir or Path.cwd()
    browser = shared.browser if use_browser else None
    base_url = target.base_url
    checks = target.checks
    planned: list[bool] = []  # this suite's page checks are announced to the browser once

    def report(results: list[CheckResult]) -> list[CheckResult]:
        # The one place results are made public: past it, no secret of the config is left.
        results = [redact(result, target.secrets) for result in results]
        if on_result is not None:
            for result in results:
                on_result(result)
        return results

    async def once(check: Check) -> list[CheckResult]:
        """One attempt, under the check's hard deadline (its timeout plus a grace)."""
        if check.kind == "page" and browser is None:
            return [CheckResult(check.label, "page", False, NO_BROWSER, 0,
                                url=join_url(base_url, check.target), skipped=True)]
        if check.kind == "page":
            assert browser is not None
            if (ready := await _browser_ready(check, browser)) is not None:
                return [ready]
            if not planned:
                planned.append(True)
                browser.plan(sum(c.kind == "page" for c in checks))
            # Waiting for a page slot is not the check's own time: its deadline starts after.
            async with shared.page_slots:
                return await _bounded(check, lambda: _page(check, browser))
        if check.kind == "command":
            from smokeseal.checks.command import results_turn, run_command_check

            # Like a page slot, waiting for another app's run of a shared results file is
            # not this check's time: its deadline starts once it has its turn.
            async with results_turn(check, base_url, base_dir) as turn:
                return turn.tell(await _bounded(check, lambda: run_command_check(
                    check, base_url, base_dir, turn_taken=True,
                    withheld=target.withheld)))
        from smokeseal.checks.http import run_get_check

        return await _bounded(check, lambda: _one(run_get_check(
            shared.client, check, base_url, app_urls=target.app_urls,
            access=for_check(target.access, check))))

    async def _browser_ready(check: Check, browser: BrowserThread) -> CheckResult | None:
        from smokeseal.errors import BrowserError

        url = join_url(base_url, check.target)
        if budget.left() <= 0:
            return _budget_spent(check, url, budget.seconds)
        try:
            async with asyncio.timeout(max(min(LAUNCH_DEADLINE, budget.left()), 0)):
                await browser.ready()
        except BrowserError as exc:
            return CheckResult(check.label, "page", False, f"no browser: {exc}", 0, url=url)
        except TimeoutError:
            return CheckResult(check.label, "page", False, "no browser: it did not start "
                               f"within {LAUNCH_DEADLINE:g} s", 0, url=url)
        return None

    async def _page(check: Check, browser: BrowserThread) -> list[CheckResult]:
        from smokeseal.browser.visit import describe_error
        from smokeseal.checks.page import run_page_check

        try:
            return [await browser.run(lambda session: run_page_check(
                session, check, base_url, target.evidence_dir, app_urls=target.app_urls,
                reads=target.reads, access=for_check(target.access, check),
                secrets=target.secrets, trace=target.trace))]
        except Exception as exc:
            return [CheckResult(check.label, "page", False,
                                f"browser failed: {describe_error(exc)}", 0,
                                url=join_url(base_url, check.target))]

    async def _bounded(check: Check, work: Callable[[], Awaitable[list[CheckResult]]]
                       ) -> list[CheckResult]:
        """``work`` within the check's deadline and the run's budget; whatever goes wrong
        in it becomes this check's failure, never the run's."""
        timeout = (check.timeout or _default_timeout(check.kind)) + GRACE
        left = budget.left()
        url = join_url(base_url, check.target) if check.kind != "command" else None
        if left <= 0:
            return [_budget_spent(check, url, budget.seconds)]
        limit = min(timeout, left)
        started = Stopwatch()
        try:
            async with asyncio.timeout(limit):
                return await work()
        except TimeoutError:
            why = (f"no answer within {limit:g} s" if limit == timeout else
                   f"stopped at the run's budget (seal_timeout {budget.seconds:g} s)")
            return [CheckResult(check.label, check.kind, False, why, started.ms(), url=url)]
        except Exception as exc:  # one check's bug or surprise must not end the run
            return [CheckResult(check.label, check.kind, False,
                                f"check failed to run: {_describe(exc)}", started.ms(),
                                url=url)]

    async def with_retries(check: Check,
                           attempt_once: Callable[[], Awaitable[list[CheckResult]]] | None = None
                           ) -> list[CheckResult]:
        first_failure: str | None = None
        results: list[CheckResult] = []
        for attempt in range(1, check.attempts + 1):
            results = await (attempt_once() if attempt_once else once(check))
            failed = [r for r in results if r.outcome == "failed"]
            if not failed:
                if first_failure is not None:
                    for result in results:
                        result.first_failure = first_failure
                        result.attempts = attempt
                return results
            first_failure = first_failure or failed[0].detail.splitlines()[0]
            if attempt < check.attempts and budget.left() > RETRY_PAUSE:
                await asyncio.sleep(RETRY_PAUSE)
            else:
                break
        for result in results:
            result.attempts = attempt
        return results

    async def one(check: Check) -> list[CheckResult]:
        return report(await with_retries(check))

    async def version_check() -> list[CheckResult]:
        assert target.version is not None
        from smokeseal.checks.version import run_version_check

        source = target.version
        check = Check(name="version", get=source.path, timeout=source.timeout)
        found = await with_retries(check, lambda: _bounded(check, lambda: _one(
            run_version_check(shared.client, source, base_url, target.expected_sha,
                              app_urls=target.app_urls, access=target.access))))
        revisions.extend(getattr(r, "revision", None) for r in found)
        return report(found)

    revisions: list[str | None] = []
    work = [one(check) for check in checks]
    if target.version is not None:
        work.insert(0, version_check())
    nested = await asyncio.gather(*work)
    results = [result for group in nested for result in group]
    revision = next((r for r in revisions if r), None)
    certificates, notes = await _certificates(target, shared, budget)
    return RunResult(base_url, checked_at, watch.ms(), results, None, notes, revision,
                     certificates)


async def _certificates(target: Target, shared: Shared, budget: _Budget
                        ) -> tuple[list[Certificate], list[str]]:
    """The certificates of the target's https origins, and the seal's notes about them;
    what is left to look at takes what is left of the run's budget, at most a few s."""
    if shared.certificates is None:
        return [], []
    from smokeseal.access import origin_of
    from smokeseal.certificates import PROBE_TIMEOUT, expiry_notes, read_certificates

    found, refused = await read_certificates(
        shared.client, shared.certificates, (target.base_url, *target.app_urls),
        min(PROBE_TIMEOUT, budget.left()))
    # The suite's own origin: its checks fail on that certificate and say so already.
    base = origin_of(target.base_url)
    return found, [*expiry_notes(found, target.cert_warn_days),
                   *(said for origin, said in refused.items() if origin != base)]


def redact(result: CheckResult, secrets: Sequence[str]) -> CheckResult:
    """``result`` with every secret in its texts (and its evidence log) replaced by ``***``:
    production may echo a header or a ``?token=`` back into a page or an error."""
    if not secrets:
        return result
    from smokeseal.secrets import scrub

    # A check's name may hold a secret too: it is its path when it has no name: of its own.
    result.name = scrub(result.name, secrets)
    result.detail = scrub(result.detail, secrets)
    result.url = scrub(result.url, secrets) if result.url is not None else None
    result.first_failure = (scrub(result.first_failure, secrets)
                            if result.first_failure is not None else None)
    result.notes = [scrub(note, secrets) for note in result.notes]
    result.blocked_writes = [scrub(attempt, secrets) for attempt in result.blocked_writes]
    result.reads = [scrub(read, secrets) for read in result.reads]
    result.console_errors = [scrub(error, secrets) for error in result.console_errors]
    if isinstance(revision := getattr(result, "revision", None), str):
        result.revision = scrub(revision, secrets)  # type: ignore[attr-defined]
    if result.evidence is not None:
        log = Path(result.evidence) / "console.txt"
        # Evidence is best-effort: a log that cannot be rewritten is removed, not left whole.
        try:
            log.write_text(scrub(log.read_text(encoding="utf-8"), secrets), encoding="utf-8")
        except (OSError, UnicodeError):
            log.unlink(missing_ok=True)
    return result


async def _one(result: Awaitable[CheckResult]) -> list[CheckResult]:
    return [await result]


def _budget_spent(check: Check, url: str | None, seconds: float) -> CheckResult:
    return CheckResult(check.label, check.kind, False, "not run: the run's budget "
                       f"(seal_timeout {seconds:g} s) was spent", 0, url=url)


def _describe(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


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
    everywhere = [u for name in names for u in target_for(config, name).app_urls]
    browser = _launch(None, _ca_file(config), everywhere) if needs_browser else None
    app_slots = asyncio.Semaphore(app_concurrency)
    from smokeseal.certificates import CertificateLog
    from smokeseal.checks.http import read_only_client

    certificates = CertificateLog()
    async with read_only_client(_ca_file(config), certificates=certificates) as client:
        shared = Shared(client, asyncio.Semaphore(page_concurrency), browser, certificates)

        async def one(name: str) -> RunResult:
            async with app_slots:
                run = await _run_checks(target_for(config, name), shared,
                                        use_browser=use_browser, base_dir=config.base_dir,
                                        on_result=None)
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
