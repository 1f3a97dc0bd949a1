"""``page`` checks: a real headless Chromium through Playwright, unable to write.

One browser per run (:class:`BrowserSession`). Each page check gets a tab (a context with
one page) whose route guard aborts every request that is not GET or HEAD, with service
workers blocked and WebSockets refused. Blocked attempts are listed on the result.

A tab is reused by a later check only once it is wiped back to a new visitor's state
(cookies, storage and cache of every origin it saw, and a blank page): that saves starting
a renderer and a context per check, about half of what a page check costs.

This module imports Playwright; the runner imports it only when a suite has page checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import re
import shutil
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from playwright.async_api import (
    Browser,
    BrowserContext,
    CDPSession,
    Page,
    Playwright,
    Route,
    WebSocketRoute,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError

from smokeseal.checks.base import (
    READ_ONLY_METHODS,
    CheckResult,
    Stopwatch,
    header_failures,
    join_url,
    shorten,
    slug,
    status_failure,
)
from smokeseal.errors import BrowserError

if TYPE_CHECKING:
    # Not at run time: pydantic would double the imports of a prelaunched browser's thread.
    from smokeseal.config import Check

__all__ = ["BROWSER_GONE", "DEFAULT_TIMEOUT", "LAUNCH_ARGS", "BrowserSession", "describe_error",
           "find_browser", "run_page_check"]

DEFAULT_TIMEOUT = 15.0
#: Without these Chromium keeps phoning home and stalls on a closed network.
LAUNCH_ARGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
)
# The headless shell first: Chromium's build for automation (Playwright's own choice for
# headless runs) launches in a third of the time and renders a page in about half.
SYSTEM_BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome",
                   "google-chrome-stable")
# Debian's /usr/bin/chromium* are shell scripts that fork a shell per launch (and print
# warnings of their own); the binaries behind them take the same flags.
_WRAPPED = {"/usr/bin/chromium": "/usr/lib/chromium/chromium",
            "/usr/bin/chromium-headless-shell": "/usr/lib/chromium/chromium-headless-shell"}
_PLAYWRIGHT_GLOBS = (
    "chromium_headless_shell-*/chrome-*/headless_shell",
    "chromium-*/chrome-linux*/chrome",
    "chromium-*/chrome-mac*/Chromium.app/Contents/MacOS/Chromium",
)


def find_browser(environ: Mapping[str, str] | None = None) -> str:
    """The Chromium to launch: ``$SMOKESEAL_BROWSER``, Playwright's own, then the system's."""
    environ = os.environ if environ is None else environ
    if wanted := environ.get("SMOKESEAL_BROWSER"):
        path = shutil.which(wanted) or wanted
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise BrowserError(f"SMOKESEAL_BROWSER={wanted}: not an executable file")
        return _unwrap(path)
    cache = environ.get("PLAYWRIGHT_BROWSERS_PATH") or str(Path.home() / ".cache/ms-playwright")
    for pattern in _PLAYWRIGHT_GLOBS:
        if found := sorted(glob.glob(os.path.join(cache, pattern))):
            return found[-1]
    for name in SYSTEM_BROWSERS:
        if found_path := shutil.which(name, path=environ.get("PATH")):
            return _unwrap(found_path)
    raise BrowserError(
        "no Chromium found: install one (Debian: apt-get install chromium), "
        "set SMOKESEAL_BROWSER to its path, or run with --no-browser"
    )


def _unwrap(path: str) -> str:
    real = os.path.realpath(path)
    inner = _WRAPPED.get(path) or _WRAPPED.get(real)
    return inner if inner and os.access(inner, os.X_OK) else path


@dataclass
class _Visit:
    """What one check's visit saw, collected by its tab's handlers."""

    blocked: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    errored: asyncio.Event = field(default_factory=asyncio.Event)
    origins: set[str] = field(default_factory=set)


def _origin(url: str) -> str | None:
    match = re.match(r"(https?://[^/?#]+)", url)
    return match.group(1) if match else None


class _Tab:
    """A context with one page, its guard installed once, reporting to the current visit."""

    def __init__(self, context: BrowserContext, page: Page) -> None:
        self.context = context
        self.page = page
        #: Opened by the first wipe: a tab used once never needs it.
        self.cdp: CDPSession | None = None
        self.visit = _Visit()
        #: Cleared by a check that left the page in doubt (a load that timed out, say).
        self.reusable = True

    @classmethod
    async def open(cls, browser: Browser) -> _Tab:
        context = await browser.new_context(service_workers="block", accept_downloads=False)
        try:
            # No extra request headers: on cross-origin fetches they would force CORS
            # preflights.
            page = await context.new_page()
            tab = cls(context, page)
            await context.route("**/*", tab._guard)
            await context.route_web_socket(re.compile(r".*"), tab._refuse_socket)
            page.on("pageerror", tab._on_page_error)
            page.on("console", tab._on_console)
        except BaseException:
            with contextlib.suppress(PlaywrightError):
                await context.close()
            raise
        return tab

    def start(self) -> _Visit:
        self.visit = _Visit()
        return self.visit

    async def _guard(self, route: Route) -> None:
        request = route.request
        if origin := _origin(request.url):
            self.visit.origins.add(origin)
        if request.method in READ_ONLY_METHODS:
            await route.continue_()
        else:
            self.visit.blocked.append(f"{request.method} {request.url}")
            await route.abort("blockedbyclient")

    async def _refuse_socket(self, ws: WebSocketRoute) -> None:
        # Never connected to the server: the page sees a socket that closes at once.
        self.visit.blocked.append(f"WEBSOCKET {ws.url}")
        await ws.close(code=1008, reason="smokeseal is read-only")

    def _on_page_error(self, error: Any) -> None:
        self.visit.page_errors.append(_error_text(error))
        self.visit.errored.set()

    def _on_console(self, message: Any) -> None:
        if message.type == "error":
            self.visit.console_errors.append(message.text)

    async def wipe(self) -> bool:
        """Back to a new visitor's state; False when that could not be made sure of."""
        try:
            # sessionStorage belongs to the tab, not the origin: clear it while its frames
            # are still there to ask.
            for frame in self.page.frames:
                await frame.evaluate("() => { try { sessionStorage.clear() } catch (e) {} }")
            await self.page.goto("about:blank", timeout=5000)
            if self.cdp is None:
                self.cdp = await self.context.new_cdp_session(self.page)
            for origin in self.visit.origins:
                await self.cdp.send("Storage.clearDataForOrigin",
                                    {"origin": origin, "storageTypes": "all"})
            await self.context.clear_cookies()
            await self.cdp.send("Network.clearBrowserCache")
        except PlaywrightError:
            return False
        self.visit = _Visit()
        return True

    async def close(self) -> None:
        with contextlib.suppress(PlaywrightError):
            await self.context.close()


class BrowserSession:
    """Playwright and one launched browser, for the length of an ``async with``."""

    def __init__(self, executable: str | None = None) -> None:
        self.executable = executable
        self._playwright: Playwright | None = None
        self.browser: Browser | None = None
        self._idle: list[_Tab] = []
        self._recycling: set[asyncio.Task[None]] = set()
        #: Tabs (contexts) opened in this session; fewer than page checks means reuse.
        self.tabs_opened = 0
        #: Page checks still to come (see :meth:`plan`): a used tab is wiped for reuse only
        #: while some are.
        self._planned = 0

    def plan(self, checks: int) -> None:
        """``checks`` more page checks will ask for a tab in this session."""
        self._planned += checks

    @contextlib.asynccontextmanager
    async def tab(self) -> AsyncIterator[_Tab]:
        """A wiped tab from the pool, or a new one; back to the pool once wiped."""
        assert self.browser is not None
        self._planned -= 1
        if self._idle:
            tab = self._idle.pop()
        else:
            tab = await _Tab.open(self.browser)
            self.tabs_opened += 1
        keep = False
        try:
            yield tab
            # Nobody left to reuse it: wiping would only slow the checks still running.
            keep = tab.reusable and self._planned > 0
        finally:
            if keep:
                # Off the check's path: its result does not wait for the wipe.
                task = asyncio.create_task(self._recycle(tab))
                self._recycling.add(task)
                task.add_done_callback(self._recycling.discard)
            else:
                await tab.close()

    async def settle(self) -> None:
        """Wait until every used tab is wiped and back in the pool (or closed)."""
        while self._recycling:
            await asyncio.gather(*self._recycling, return_exceptions=True)

    async def _recycle(self, tab: _Tab) -> None:
        if await tab.wipe():
            self._idle.append(tab)
        else:
            await tab.close()

    async def __aenter__(self) -> BrowserSession:
        executable = self.executable or find_browser()
        starting = asyncio.ensure_future(async_playwright().start())
        try:
            self._playwright = await asyncio.shield(starting)
        except asyncio.CancelledError:
            # Cancelled while the driver starts: let it finish starting, then stop it, or
            # it would outlive the session.
            with contextlib.suppress(Exception):
                await (await starting).stop()
            raise
        try:
            self.browser = await self._playwright.chromium.launch(
                executable_path=executable, args=list(LAUNCH_ARGS), headless=True, timeout=30_000
            )
        except BaseException as exc:
            # Cancelled mid-launch too: the driver must not outlive the session.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._playwright.stop())
            if isinstance(exc, PlaywrightError):
                raise BrowserError(f"could not launch {executable}: {_first_line(exc)}") from exc
            raise
        self.executable = executable
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        for task in list(self._recycling):
            task.cancel()
        self._idle.clear()  # closing the browser closes their contexts
        try:
            if self.browser is not None:
                await self.browser.close()
        except PlaywrightError:
            pass  # a crashed browser has nothing left to close
        finally:
            if self._playwright is not None:
                await self._playwright.stop()

    @property
    def version(self) -> str:
        return self.browser.version if self.browser else "unknown"


#: What Playwright says when the browser went away under a call.
_GONE = ("Target page, context or browser has been closed", "Browser has been closed",
         "Target closed", "Browser closed")
BROWSER_GONE = "the browser closed mid-check (crashed or killed)"


def describe_error(exc: BaseException) -> str:
    """One line for a Playwright error: what happened, not the call log."""
    line = _first_line(exc)
    return BROWSER_GONE if any(gone in line for gone in _GONE) else line


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    # Playwright appends a call log and ANSI boxes; the first line says what happened.
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    line = text.splitlines()[0] if text else type(exc).__name__
    return re.sub(r"^[A-Za-z]+\.[A-Za-z_]+: ", "", line)  # "Page.goto: " names our call


async def run_page_check(session: BrowserSession, check: Check, base_url: str,
                         evidence_dir: Path | None = None) -> CheckResult:
    """Open the check's page in a clean read-only tab and judge what rendered."""
    url = join_url(base_url, check.target)
    timeout = check.timeout or DEFAULT_TIMEOUT
    watch = Stopwatch()
    async with session.tab() as tab:
        visit = tab.start()
        failures, final_url, status = await _visit(tab.page, check, url, timeout,
                                                   visit.page_errors, visit.errored)
        if status is None:
            tab.reusable = False  # it never loaded: do not trust what is left of it
        ms = watch.ms()
        blocked = list(visit.blocked)
        if check.expect.max_ms is not None and ms > check.expect.max_ms:
            failures.append(f"took {ms} ms, over max_ms {check.expect.max_ms}")
        if blocked and check.expect.no_writes:
            failures.append(f"page tried to write: {_list_blocked(blocked)}")
        evidence = None
        if failures and evidence_dir is not None:
            evidence = await _keep_evidence(tab.page, evidence_dir / slug(check.label),
                                            visit.page_errors, visit.console_errors, blocked)
        if failures:
            detail = "; ".join(failures)
        else:
            detail = str(status)
            if blocked:
                detail += f"; blocked {len(blocked)} write attempt{'s' * (len(blocked) > 1)}"
        return CheckResult(check.label, "page", not failures, detail, ms, url=final_url,
                           blocked_writes=blocked, evidence=evidence)


async def _visit(page: Any, check: Check, url: str, timeout: float, page_errors: list[str],
                 errored: asyncio.Event) -> tuple[list[str], str, int | None]:
    expect = check.expect
    watch = Stopwatch()

    def remaining_ms() -> float:
        return max(timeout * 1000 - watch.ms(), 1.0)

    try:
        response = await page.goto(url, wait_until="load", timeout=remaining_ms())
    except PlaywrightError as exc:
        reason = describe_error(exc)
        if "Timeout" in reason:
            reason = f"page did not finish loading within {timeout:g} s"
        return [f"could not load: {reason}"], url, None
    final_url = page.url
    failures: list[str] = []
    status = response.status if response is not None else None
    if status is None:
        failures.append("no response for the page")
    elif problem := status_failure(expect.statuses(), status):
        failures.append(problem)
    try:
        # A wrong status or an uncaught error already fails the check: say so now rather
        # than wait out the timeout for a selector that will not come.
        if expect.selector is not None and not failures and not errored.is_set():
            visible = await _first_done(
                page.locator(expect.selector).first.wait_for(state="visible",
                                                             timeout=remaining_ms()),
                errored.wait())
            if visible is False:
                failures.append(f"selector {expect.selector!r} not visible "
                                f"within {timeout:g} s")
        # Let scripts queued by the load event run, so their errors are seen.
        await page.evaluate("() => new Promise(r => requestAnimationFrame(() => setTimeout(r)))")
        if expect.title is not None:
            title = await page.title()
            if expect.title not in title:
                failures.append(f"title {shorten(title, 60)!r} does not contain "
                                f"{expect.title!r}")
        if expect.text is not None:
            body = await page.locator("body").inner_text(timeout=remaining_ms())
            if expect.text not in body:
                failures.append(f"text {shorten(expect.text, 60)!r} not on the page")
        if expect.header is not None and response is not None:
            failures += header_failures(expect.header, await response.all_headers())
    except PlaywrightError as exc:
        failures.append(f"page failed while checking: {describe_error(exc)}")
    if page_errors:
        more = f" (+{len(page_errors) - 1} more)" if len(page_errors) > 1 else ""
        failures.insert(0, f"uncaught page error: {shorten(page_errors[0])}{more}")
    return failures, final_url, status


async def _first_done(wait_for: Any, interrupted: Any) -> bool | None:
    """True when ``wait_for`` succeeded, False when it failed, None when interrupted first."""
    waiting = asyncio.ensure_future(wait_for)
    stopper = asyncio.ensure_future(interrupted)
    await asyncio.wait({waiting, stopper}, return_when=asyncio.FIRST_COMPLETED)
    for task in (waiting, stopper):
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, PlaywrightError):
            await task
    if waiting.cancelled():
        return None
    return waiting.exception() is None


def _error_text(error: Any) -> str:
    name = getattr(error, "name", "") or "Error"
    message = getattr(error, "message", "") or str(error)
    return f"{name}: {message}" if not message.startswith(name) else message


def _list_blocked(blocked: list[str]) -> str:
    shown = ", ".join(shorten(b, 80) for b in blocked[:3])
    return shown + (f" (+{len(blocked) - 3} more)" if len(blocked) > 3 else "")


async def _keep_evidence(page: Any, folder: Path, page_errors: list[str],
                         console_errors: list[str], blocked: list[str]) -> str | None:
    """Screenshot and log what the page showed; evidence is best-effort, never a failure."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        log = ["url: " + page.url]
        log += [f"page error: {e}" for e in page_errors]
        log += [f"console error: {e}" for e in console_errors]
        log += [f"blocked write: {b}" for b in blocked]
        (folder / "console.txt").write_text("\n".join(log) + "\n", encoding="utf-8")
        # A hung page still leaves its console log behind.
        with contextlib.suppress(PlaywrightError, TimeoutError):
            await asyncio.wait_for(
                page.screenshot(path=str(folder / "screenshot.png"), full_page=True,
                                timeout=5000), 6)
        return str(folder)
    except OSError:
        return None
