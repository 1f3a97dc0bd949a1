"""``page`` checks: a real headless Chromium through Playwright, unable to write.

One browser per run (:class:`BrowserSession`). Each page check gets a tab (a context with
one page) whose route guard aborts every request that is not GET or HEAD, with service
workers blocked, shared workers disabled (no route sees their requests) and WebSockets
refused. Blocked attempts are listed on the result (the first :data:`MAX_BLOCKED`, then how
many more); what the guard made the page throw (a write's ``Failed to fetch`` left
uncaught, a missing ``SharedWorker``) is a note, not a page error.

A tab is reused by a later check only once it is wiped back to a new visitor's state
(cookies, storage and cache of every origin it saw, and a blank page): that saves starting
a renderer and a context per check, about half of what a page check costs.

What a page check judges, besides its ``expect`` keys:

* **It stays on the app.** The page must end (after server and script redirects) on the
  host of the base URL or of ``app_urls``, or, with ``expect.redirect_to``, there.
* **Its own bundle loads.** A script or stylesheet from the app's hosts that answers 4xx/5xx,
  answers a web page instead (``text/html``: a stale chunk name that an SPA's catch-all
  answered after a deploy) or fails on the network fails the check; one still loading is
  waited for within the timeout. Other hosts' failures are listed in ``notes`` (at most
  :data:`MAX_NOTES`).
* **It shows something.** A page answered 2xx must show visible text within the timeout:
  ``innerText`` of its document, of its open shadow roots and the text of its visible form
  controls (a button's value, a field's placeholder), and the same of every frame drawn
  with a size (an iframe-only page passes on its frame's text). A page with no text at all
  (an ``<img>`` or a ``<canvas>``) fails unless ``expect.selector`` names what it shows and
  that became visible. ``text`` and ``not_text`` are looked for in the same text,
  whitespace collapsed.
* **It is no error shell**, with ``expect.error_shell``: the page's own text (not its
  frames') is short and shows one of :data:`smokeseal.config.ERROR_SHELL_TEXTS`.
* **It ends.** Every Playwright call is bounded with asyncio by the check's timeout plus
  :data:`STEP_GRACE`, because Playwright's own timeouts do not cover ``evaluate`` or
  ``title``: a page whose script never yields is this check's failure, and its tab is closed
  rather than reused.

This module imports Playwright; the runner imports it only when a suite has page checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from playwright.async_api import (
    Browser,
    BrowserContext,
    CDPSession,
    Page,
    Playwright,
    Request,
    Response,
    Route,
    WebSocketRoute,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from smokeseal.checks.base import (
    READ_ONLY_METHODS,
    CheckResult,
    Stopwatch,
    header_failures,
    join_url,
    off_app,
    shorten,
    slug,
    status_failure,
)
from smokeseal.errors import BrowserError

if TYPE_CHECKING:
    # Not at run time: pydantic would double the imports of a prelaunched browser's thread.
    from smokeseal.config import Check, Expect

__all__ = ["BROWSER_GONE", "DEFAULT_TIMEOUT", "LAUNCH_ARGS", "BrowserSession", "describe_error",
           "find_browser", "run_page_check"]

DEFAULT_TIMEOUT = 15.0
#: How long past the check's timeout a step may run before it is given up as hung: Playwright
#: answers its own timeouts within this, so only a call nothing else bounds reaches it.
STEP_GRACE = 2.0
#: After the verdict: the evidence screenshot, closing a tab, wiping one for reuse.
SCREENSHOT_TIMEOUT = 3.0
CLOSE_TIMEOUT = 5.0
WIPE_TIMEOUT = 5.0
#: A frame other than the page's own may be slow to answer (a third-party embed still
#: loading); it is read within this or skipped, never taken for the page hanging.
FRAME_TIMEOUT = 1.0
#: How often the rendered text is read while waiting for it.
POLL = 0.1
#: The resources that make up an app's bundle: one of its own that fails breaks the page.
ASSET_TYPES = frozenset({"script", "stylesheet"})
#: Without the first ones Chromium keeps phoning home and stalls on a closed network.
#: ``--disable-shared-workers``: a SharedWorker's requests pass no route (Playwright's guard
#: never sees them), so a page could write through one; the browser gets none to start.
LAUNCH_ARGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
    "--disable-shared-workers",
)
#: Run in every frame before the page's scripts: the same, should a browser ignore the flag.
INIT_SCRIPT = "delete window.SharedWorker"
#: What one visit keeps on its result: a page firing beacons in a loop must not write
#: megabytes into every seal.
MAX_BLOCKED = 50
MAX_NOTES = 20
#: A page trying to start the SharedWorker smokeseal took away: its doing, not the app's.
_SHARED_WORKER_ERROR = re.compile(
    r"(ReferenceError: SharedWorker is not defined|TypeError: .*\bSharedWorker is not a "
    r"constructor)$")
SHARED_WORKER_NOTE = ("page tried to start a SharedWorker: smokeseal disables them, as the "
                      "read-only guard cannot see their requests")
#: How fetch (Chromium, Firefox, Safari) and a synchronous XHR fail on the network: what a
#: write the guard aborted raises in a page that does not catch it.
_NETWORK_FAILURE = re.compile(
    r"(TypeError: (Failed to fetch|NetworkError when attempting to fetch resource\.?|"
    r"Load failed)|NetworkError: Failed to execute 'send' on 'XMLHttpRequest': .*)$",
    re.DOTALL)
#: The requests whose failure a page's script sees (and may leave uncaught).
_SCRIPTED = frozenset({"fetch", "xhr"})
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
class _Asset:
    """One script or stylesheet the page asked for."""

    url: str
    kind: str
    problem: str | None = None
    done: bool = False


@dataclass
class _Visit:
    """What one check's visit saw, collected by its tab's handlers."""

    #: The first :data:`MAX_BLOCKED` write attempts; ``blocked_count`` counts them all.
    blocked: list[str] = field(default_factory=list)
    blocked_count: int = 0
    #: Writes by fetch or XHR the guard aborted whose failure no page error was put down to.
    unexplained_aborts: int = 0
    page_errors: list[str] = field(default_factory=list)
    #: Findings of the visit itself (page errors the guard caused), before the judging's.
    notes: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    errored: asyncio.Event = field(default_factory=asyncio.Event)
    origins: set[str] = field(default_factory=set)
    assets: dict[Request, _Asset] = field(default_factory=dict)
    #: Requests the guard aborted: their failure is ours, not production's.
    aborted: set[Request] = field(default_factory=set)
    #: The main frame's latest document answer: after a script redirect, the page that
    #: ended is not the one ``goto`` answered with.
    document: Response | None = None

    def block(self, attempt: str) -> None:
        self.blocked_count += 1
        if len(self.blocked) < MAX_BLOCKED:
            self.blocked.append(attempt)

    def blocked_list(self) -> list[str]:
        """The attempts kept, and how many more there were."""
        more = self.blocked_count - len(self.blocked)
        return [*self.blocked, f"+{more} more"] if more > 0 else list(self.blocked)

    def caused_by_guard(self, error: str) -> str | None:
        """The note for a page error that smokeseal's guard caused, else None."""
        if _SHARED_WORKER_ERROR.match(error):
            return SHARED_WORKER_NOTE
        if self.unexplained_aborts > 0 and _NETWORK_FAILURE.match(error):
            self.unexplained_aborts -= 1
            return f"uncaught page error: {shorten(error)} (a write the read-only guard blocked)"
        return None


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
            await context.add_init_script(INIT_SCRIPT)
            # No extra request headers: on cross-origin fetches they would force CORS
            # preflights.
            page = await context.new_page()
            tab = cls(context, page)
            await context.route("**/*", tab._guard)
            await context.route_web_socket(re.compile(r".*"), tab._refuse_socket)
            page.on("pageerror", tab._on_page_error)
            page.on("console", tab._on_console)
            page.on("request", tab._on_request)
            page.on("response", tab._on_response)
            page.on("requestfinished", tab._on_request_finished)
            page.on("requestfailed", tab._on_request_failed)
        except BaseException:
            await _close(context)
            raise
        return tab

    def start(self) -> _Visit:
        self.visit = _Visit()
        return self.visit

    async def _guard(self, route: Route) -> None:
        request = route.request
        if origin := _origin(request.url):
            self.visit.origins.add(origin)
        # A tab closed under a pending request makes these raise; nothing is left to guard.
        with contextlib.suppress(PlaywrightError):
            if request.method in READ_ONLY_METHODS:
                await route.continue_()
            else:
                self.visit.block(f"{request.method} {request.url}")
                self.visit.aborted.add(request)
                if request.resource_type in _SCRIPTED:
                    self.visit.unexplained_aborts += 1
                await route.abort("blockedbyclient")

    async def _refuse_socket(self, ws: WebSocketRoute) -> None:
        # Never connected to the server: the page sees a socket that closes at once.
        self.visit.block(f"WEBSOCKET {ws.url}")
        await ws.close(code=1008, reason="smokeseal is read-only")

    def _on_page_error(self, error: Any) -> None:
        text = _error_text(error)
        if note := self.visit.caused_by_guard(text):
            self.visit.notes.append(note)
            return
        self.visit.page_errors.append(text)
        self.visit.errored.set()

    def _on_console(self, message: Any) -> None:
        if message.type == "error":
            self.visit.console_errors.append(_printable(message.text))

    def _on_request(self, request: Request) -> None:
        # A worker's script is none of the page's bundle, and never reports finishing.
        if request.resource_type in ASSET_TYPES and _frame_of(request) is not None:
            self.visit.assets[request] = _Asset(request.url, request.resource_type)
        if (hop := request.redirected_from) is not None and (asset := self.visit.assets.get(hop)):
            asset.done = True  # its redirect is followed by the request just made

    def _on_response(self, response: Response) -> None:
        request = response.request
        asset = self.visit.assets.get(request)
        if asset is not None and asset.problem is None:
            asset.problem = _asset_answer_problem(asset, response)
        if request.is_navigation_request() and not 300 <= response.status < 400 \
                and _frame_of(request) == self.page.main_frame:
            self.visit.document = response

    def _on_request_finished(self, request: Request) -> None:
        if asset := self.visit.assets.get(request):
            asset.done = True

    def _on_request_failed(self, request: Request) -> None:
        asset = self.visit.assets.get(request)
        if asset is None:
            return
        asset.done = True
        failure = request.failure or "failed"
        # ERR_ABORTED is the browser cancelling (a navigation away, a script whose error
        # status was already recorded), not production failing.
        if asset.problem is None and request not in self.visit.aborted \
                and "ERR_ABORTED" not in failure:
            asset.problem = f"failed: {failure}"

    async def wipe(self) -> bool:
        """Back to a new visitor's state; False when that could not be made sure of."""
        try:
            await asyncio.wait_for(self._wipe(), WIPE_TIMEOUT)
        except (PlaywrightError, TimeoutError):
            return False
        self.visit = _Visit()
        return True

    async def _wipe(self) -> None:
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

    async def close(self) -> None:
        await _close(self.context)


def _frame_of(request: Request) -> Any:
    """The frame that asked, or None (a service worker's request has none). Never raises: an
    event handler's exception would break Playwright's connection."""
    try:
        return request.frame
    except Exception:  # Playwright raises an Error, or asserts, when there is none
        return None


def _asset_answer_problem(asset: _Asset, response: Response) -> str | None:
    """What is wrong with how a script or stylesheet answered: an error status, or a web page
    instead (an SPA's catch-all after a deploy renamed the bundle's chunks)."""
    # A 304 or an opaque 0 is not ``ok`` in Playwright's sense, yet the browser has what it
    # needs; a redirect's body is not the asset. Only a 2xx carries it.
    if response.status >= 400:
        return f"answered {response.status}"
    if 200 <= response.status < 300:
        mime = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if mime == "text/html":
            return (f"answered HTML ({response.status} {mime}), not a {asset.kind}: "
                    f"a stale bundle?")
    return None


async def _close(context: BrowserContext) -> None:
    """Close a context, giving up after :data:`CLOSE_TIMEOUT` (the browser takes it along)."""
    with contextlib.suppress(PlaywrightError, TimeoutError):
        await asyncio.wait_for(context.close(), CLOSE_TIMEOUT)


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
        #: Browsers launched in place of one that crashed (see :meth:`relaunch`).
        self.relaunches = 0
        #: Page checks still to come (see :meth:`plan`): a used tab is wiped for reuse only
        #: while some are.
        self._planned = 0

    def plan(self, checks: int) -> None:
        """``checks`` more page checks will ask for a tab in this session."""
        self._planned += checks

    @contextlib.asynccontextmanager
    async def tab(self, timeout: float = DEFAULT_TIMEOUT) -> AsyncIterator[_Tab]:
        """A wiped tab from the pool, or a new one opened within ``timeout`` seconds (else
        :class:`BrowserError`); back to the pool once wiped."""
        assert self.browser is not None
        self._planned -= 1
        if self._idle:
            tab = self._idle.pop()
        else:
            try:
                tab = await asyncio.wait_for(_Tab.open(self.browser), timeout)
            except TimeoutError:
                raise BrowserError(f"no browser tab opened within {timeout:g} s") from None
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
            self.browser = await self._launch(executable)
        except BaseException:
            # Cancelled mid-launch too: the driver must not outlive the session.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._playwright.stop())
            raise
        self.executable = executable
        return self

    async def _launch(self, executable: str) -> Browser:
        assert self._playwright is not None
        try:
            return await self._playwright.chromium.launch(
                executable_path=executable, args=list(LAUNCH_ARGS), headless=True, timeout=30_000
            )
        except PlaywrightError as exc:
            raise BrowserError(f"could not launch {executable}: {_first_line(exc)}") from exc

    @property
    def crashed(self) -> bool:
        """The browser went away under the session (killed, out of memory)."""
        return self.browser is not None and not self.browser.is_connected()

    async def relaunch(self) -> None:
        """A fresh browser in place of one that crashed; Playwright's driver stays. Tabs of
        the old one are dropped, so nothing of it is reused."""
        for task in list(self._recycling):
            task.cancel()
        self._idle.clear()
        if self.browser is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.browser.close(), CLOSE_TIMEOUT)
        assert self.executable is not None
        self.browser = await self._launch(self.executable)
        self.relaunches += 1

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


T = TypeVar("T")

#: Lets the scripts queued by the load event run, so their errors are seen.
_SETTLE = "() => new Promise(r => requestAnimationFrame(() => setTimeout(r)))"
#: What a visitor can read in a frame: nothing in one drawn without a size (hidden, 0x0).
#: ``innerText`` leaves out what web components draw in their (open) shadow roots and what
#: form controls show (a button's value, a field's placeholder): those are read too.
_VISIBLE_TEXT = """() => {
  if (!(innerWidth > 0 && innerHeight > 0 && document.body)) return '';
  const parts = [document.body.innerText];
  // Drawn: has a box, or is display: contents (no box of its own) inside one that is drawn.
  const drawn = el => {
    if (el.checkVisibility()) return true;
    if (getComputedStyle(el).display !== 'contents') return false;
    const up = el.parentElement || el.parentNode?.host;  // a shadow root's child: its host
    return !up || drawn(up);
  };
  const BUTTONS = ['submit', 'button', 'reset'];
  const NO_TEXT = ['hidden', 'checkbox', 'radio', 'file', 'range', 'color'];
  const control = el => {
    const type = el.localName === 'input' ? el.type : 'text';
    if (BUTTONS.includes(type)) return el.value;
    if (type === 'image') return el.alt;
    if (NO_TEXT.includes(type)) return '';
    return (type !== 'password' && el.value) || el.placeholder;
  };
  const read = root => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot && drawn(el)) {
        const seen = getComputedStyle(el).visibility === 'visible';
        for (const node of el.shadowRoot.childNodes) {
          if (node.nodeType === Node.TEXT_NODE) {
            if (seen) parts.push(node.data);
          } else if (node.nodeType === Node.ELEMENT_NODE && drawn(node)) {
            // innerText leaves out what is hidden in it; an SVG has no innerText.
            parts.push(node instanceof HTMLElement ? node.innerText : node.textContent);
          }
        }
        read(el.shadowRoot);
      }
      if ((el.localName === 'input' || el.localName === 'textarea')
          && el.checkVisibility({visibilityProperty: true})) {
        parts.push(control(el));
      }
    }
  };
  read(document);
  return parts.join('\\n');
}"""
#: The longest page (characters, whitespace collapsed) taken for an error shell when it
#: shows one of :data:`smokeseal.config.ERROR_SHELL_TEXTS`: a real page may mention them.
ERROR_SHELL_MAX_CHARS = 500


class _Stuck(Exception):
    """A step outlived the check's timeout and its grace: the page stopped answering."""


class _Budget:
    """The check's timeout, shared by every step of it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def left(self) -> float:
        return max(self._end - time.monotonic(), 0.0)

    def ms(self) -> float:
        """What is left, for a Playwright timeout (where 0 would mean none)."""
        return max(self.left() * 1000, 1.0)

    async def bound(self, step: Awaitable[T], hung: str | None = None) -> T:
        """``await step``, given up after what is left plus :data:`STEP_GRACE`."""
        try:
            return await asyncio.wait_for(step, self.left() + STEP_GRACE)
        except TimeoutError:
            raise _Stuck(hung or f"the page's script did not yield within "
                                  f"{self.seconds:g} s") from None


@dataclass
class _Look:
    """One check's look at its page: what it was told to see, and what it found."""

    page: Page
    expect: Expect
    budget: _Budget
    visit: _Visit
    #: Where the page may end and whose assets are its own.
    app_urls: Sequence[str]
    final_url: str
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    status: int | None = None
    #: The page stopped answering: no screenshot of it, and its tab is not reused.
    stuck: bool = False
    #: The app's assets were waited for, so one still loading did not finish in time.
    assets_waited: bool = False
    #: Frames too slow to read once: not asked again on every poll.
    slow_frames: set[Any] = field(default_factory=set)


@dataclass
class _Shown:
    """What the selector wait and the text watch of one look tell each other."""

    visible: bool = False
    #: The selector wait ended (or there is none): no error shell can cut it short any more.
    settled: bool = True
    #: The page shows an error shell: the selector need not be waited for.
    stop: asyncio.Event = field(default_factory=asyncio.Event)


async def run_page_check(session: BrowserSession, check: Check, base_url: str,
                         evidence_dir: Path | None = None, *,
                         app_urls: Sequence[str] = ()) -> CheckResult:
    """Open the check's page in a clean read-only tab and judge what rendered.

    ``app_urls`` are the app's other URLs (its canonical url and aliases): the page may end
    on their hosts as on ``base_url``'s, and their scripts and stylesheets are its own.
    """
    url = join_url(base_url, check.target)
    budget = _Budget(check.timeout or DEFAULT_TIMEOUT)
    watch = Stopwatch()
    try:
        async with session.tab(budget.left() + STEP_GRACE) as tab:
            look = _Look(tab.page, check.expect, budget, tab.start(), (base_url, *app_urls), url)
            await _visit(look)
            if look.status is None or look.stuck:
                tab.reusable = False  # it never loaded, or stopped answering: do not trust it
            return await _result(check, look, watch.ms(), evidence_dir)
    except BrowserError as exc:
        return CheckResult(check.label, "page", False, f"could not load: {exc}", watch.ms(),
                           url=url)


async def _result(check: Check, look: _Look, ms: int, evidence_dir: Path | None) -> CheckResult:
    failures = look.failures
    visit = look.visit
    blocked = visit.blocked_list()
    notes = _capped_notes([*visit.notes, *look.notes])
    if check.expect.max_ms is not None and ms > check.expect.max_ms:
        failures.append(f"took {ms} ms, over max_ms {check.expect.max_ms}")
    if blocked and check.expect.no_writes:
        failures.append(f"page tried to write: {_list_blocked(visit)}")
    evidence = None
    if failures and evidence_dir is not None:
        evidence = await _keep_evidence(look, evidence_dir / slug(check.label), blocked, notes)
    if failures:
        detail = "; ".join(failures)
    else:
        detail = str(look.status)
        if count := visit.blocked_count:
            detail += f"; blocked {count} write attempt{'s' * (count > 1)}"
    return CheckResult(check.label, "page", not failures, detail, ms, url=look.final_url,
                       blocked_writes=blocked, evidence=evidence, notes=notes)


def _capped_notes(notes: list[str]) -> list[str]:
    """At most :data:`MAX_NOTES`, the last saying how many more there were."""
    if len(notes) <= MAX_NOTES:
        return notes
    return [*notes[:MAX_NOTES - 1], f"+{len(notes) - MAX_NOTES + 1} more notes"]


async def _visit(look: _Look) -> None:
    budget = look.budget
    try:
        response = await budget.bound(
            look.page.goto(look.final_url, wait_until="load", timeout=budget.ms()),
            hung="page did not finish loading")
    except (PlaywrightError, _Stuck) as exc:
        look.stuck = isinstance(exc, _Stuck)
        look.failures.append(f"could not load: {_load_failure(exc, budget.seconds)}")
    else:
        try:
            await _judge(look, response)
        except _Stuck as exc:
            look.stuck = True
            look.failures.append(str(exc))
        except PlaywrightError as exc:
            look.failures.append(f"page failed while checking: {describe_error(exc)}")
        look.final_url = look.page.url
    look.failures += _asset_failures(look)
    if errors := look.visit.page_errors:
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        look.failures.insert(0, f"uncaught page error: {shorten(errors[0])}{more}")


def _load_failure(exc: BaseException, seconds: float) -> str:
    reason = describe_error(exc)
    if isinstance(exc, _Stuck | PlaywrightTimeoutError) or "Timeout" in reason:
        return f"page did not finish loading within {seconds:g} s"
    return reason


async def _judge(look: _Look, response: Response | None) -> None:
    """Everything after the load event, in the order a reader wants the failures."""
    expect, page = look.expect, look.page
    if expect.redirect_to is not None:
        await _wait_to_arrive(look)
    document = look.visit.document or response
    look.status = document.status if document is not None else None
    _judge_place_and_status(look)
    # A wrong place or status or an uncaught error already fails the check: say so now
    # rather than wait out the timeout for content that will not come.
    content = (not look.failures and not look.visit.errored.is_set()
               and not _own_asset_failed(look))
    if content:
        await _wait_for_content(look, look.status is not None and 200 <= look.status < 300)
    await _settle(look)
    if content and not look.failures and _has_unwanted(look.expect):
        # An error shell drawn as the page settled.
        look.failures += _unwanted(look, await _rendered_text(look))
    if expect.title is not None:
        title = await look.budget.bound(page.title())
        if expect.title not in title:
            look.failures.append(f"title {shorten(title, 60)!r} does not contain "
                                 f"{expect.title!r}")
    if expect.header is not None and document is not None:
        headers = await look.budget.bound(document.all_headers(),
                                          hung="the browser did not answer")
        look.failures += header_failures(expect.header, headers)
    await _settle_assets(look)
    # A script may still have sent the page elsewhere while it was being judged.
    if (left := off_app(page.url, look.app_urls, expect.redirect_to)) \
            and left not in look.failures:
        look.failures.append(left)


def _judge_place_and_status(look: _Look) -> None:
    if left := off_app(look.page.url, look.app_urls, look.expect.redirect_to):
        look.failures.append(left)
    if look.status is None:
        look.failures.append("no response for the page")
    elif problem := status_failure(look.expect.statuses(), look.status):
        look.failures.append(problem)


async def _wait_to_arrive(look: _Look) -> None:
    """A check meant to end elsewhere (an SSO sign-in page) waits for the page to get there:
    an app may send it on by script after its own page loaded."""
    def arrived(url: str) -> bool:
        return off_app(url, look.app_urls, look.expect.redirect_to) is None

    with contextlib.suppress(PlaywrightTimeoutError):  # then the place is named as wrong
        await look.budget.bound(look.page.wait_for_url(arrived, wait_until="load",
                                                       timeout=look.budget.ms()))


async def _settle(look: _Look) -> None:
    try:
        await look.budget.bound(look.page.evaluate(_SETTLE))
    except PlaywrightError as exc:
        # The page navigated meanwhile: where it went is judged next.
        if describe_error(exc) == BROWSER_GONE:
            raise


async def _wait_for_content(look: _Look, blank_matters: bool) -> None:
    """The selector and the text, waited for side by side: each gets the whole timeout and
    each failure is named."""
    shown = _Shown(settled=look.expect.selector is None)
    waits = [asyncio.ensure_future(_watch_text(look, shown, blank_matters))]
    if look.expect.selector is not None:
        waits.insert(0, asyncio.ensure_future(_wait_selector(look, look.expect.selector, shown)))
    try:
        for found in await asyncio.gather(*waits):
            look.failures += found
    finally:
        for wait in waits:  # one failed (the page stopped answering): stop the other
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


async def _wait_selector(look: _Look, selector: str, shown: _Shown) -> list[str]:
    wait = look.page.locator(selector).first.wait_for(state="visible", timeout=look.budget.ms())
    try:
        shown.visible = await _first_done(look.budget.bound(wait), look.visit.errored.wait(),
                                          shown.stop.wait())
    except PlaywrightTimeoutError:
        return [f"selector {selector!r} not visible within {look.budget.seconds:g} s"]
    except PlaywrightError as exc:
        if describe_error(exc) == BROWSER_GONE:
            raise
        return [f"selector {selector!r}: {describe_error(exc)}"]
    finally:
        shown.settled = True
    return []


async def _watch_text(look: _Look, shown: _Shown, blank_matters: bool) -> list[str]:
    """Read the rendered text until it has what is expected, shows an error shell, or the
    timeout is up: a page that renders after load (an SPA) is waited for."""
    expect = look.expect
    wanted = _squash(expect.text) if expect.text is not None else None
    while True:
        text = await _rendered_text(look)
        if unwanted := _unwanted(look, text):
            shown.stop.set()
            return unwanted
        # A visible selector counts as showing something: a canvas app has no text.
        blank = blank_matters and not text.everything and not shown.visible
        missing = wanted is not None and wanted not in text.everything
        # While the selector is awaited, an error shell may still be drawn instead.
        watching = not shown.settled and _has_unwanted(expect)
        if not (blank or missing or watching) or look.visit.errored.is_set():
            return []  # an uncaught error decides the check on its own
        if look.budget.left() <= 0:
            break
        await asyncio.sleep(min(POLL, look.budget.left()))
    failures = []
    if missing:
        failures.append(f"text {shorten(expect.text or '', 60)!r} not on the page within "
                        f"{look.budget.seconds:g} s")
    if blank:
        failures.append("page shows no visible text")
    return failures


@dataclass(frozen=True)
class _Text:
    """What a visitor can read, whitespace collapsed: in the page's own document, and in it
    with every frame drawn with a size."""

    page: str
    everything: str


async def _rendered_text(look: _Look) -> _Text:
    """What a visitor can read (see :data:`_VISIBLE_TEXT`) in the page and in every frame drawn
    with a size. Frames are read at once: many slow ones cost one wait."""
    page = look.page
    children = [frame for frame in page.frames
                if frame != page.main_frame and frame not in look.slow_frames]
    own, *others = await asyncio.gather(
        look.budget.bound(_frame_text(page.main_frame)),
        *(_child_frame_text(look, frame) for frame in children))
    return _Text(_squash(own), _squash(" ".join((own, *others))))


async def _child_frame_text(look: _Look, frame: Any) -> str:
    # Only the page's own frame not answering is the page hanging; an embed may be slow.
    try:
        return await asyncio.wait_for(_frame_text(frame), FRAME_TIMEOUT)
    except TimeoutError:
        look.slow_frames.add(frame)
        return ""


async def _frame_text(frame: Any) -> str:
    try:
        return str(await frame.evaluate(_VISIBLE_TEXT))
    except PlaywrightError as exc:
        if describe_error(exc) == BROWSER_GONE:
            raise
        return ""  # navigating or detached: it shows nothing at this moment


def _squash(text: str) -> str:
    return " ".join(text.split())


def _has_unwanted(expect: Expect) -> bool:
    return expect.not_text is not None or expect.error_shell


def _unwanted(look: _Look, text: _Text) -> list[str]:
    """The failures for what the page must not show: ``not_text``, an error shell."""
    failures = []
    if present := _present(look, text.everything):
        failures.append(_shows(present))
    if look.expect.error_shell and (shell := _error_shell(text.page)):
        failures.append(f"page is an error shell: {shell!r}")
    return failures


def _present(look: _Look, text: str) -> list[str]:
    """The ``not_text`` texts the page shows."""
    return [absent for absent in look.expect.absent_texts() if _squash(absent) in text]


def _error_shell(text: str) -> str | None:
    """The error shell text a short page shows, if any: on a long page one is taken for a
    mention (a FAQ's "Something went wrong with my order?"). The page's own text only: a
    third-party chat frame's error is not the app's."""
    from smokeseal.config import ERROR_SHELL_TEXTS  # loaded by now: the check is one of it

    if len(text) >= ERROR_SHELL_MAX_CHARS:
        return None
    folded = text.casefold()
    return next((shell for shell in ERROR_SHELL_TEXTS if shell.casefold() in folded), None)


def _shows(present: list[str]) -> str:
    return "page shows " + ", ".join(repr(shorten(text, 60)) for text in present)


async def _settle_assets(look: _Look) -> None:
    """Wait, within the timeout, for the app's own scripts and stylesheets still loading:
    one that fails after the verdict must not pass unseen."""
    look.assets_waited = True
    while any(not a.done and _own(look, a.url) for a in look.visit.assets.values()):
        if look.budget.left() <= 0:
            return
        await asyncio.sleep(min(0.05, look.budget.left()))


def _own(look: _Look, url: str) -> bool:
    return off_app(url, look.app_urls) is None


def _own_asset_failed(look: _Look) -> bool:
    """One of the app's scripts or stylesheets has failed already (a 404 bundle): the check
    has failed, and content that bundle would have drawn is not worth waiting for."""
    return any(asset.problem is not None and _own(look, asset.url)
               for asset in look.visit.assets.values())


def _asset_failures(look: _Look) -> list[str]:
    """The app's failed scripts and stylesheets; other hosts' go to the notes."""
    failures = []
    for asset in look.visit.assets.values():
        own = _own(look, asset.url)
        problem = asset.problem
        if problem is None and not asset.done and own and look.assets_waited:
            problem = f"did not finish loading within {look.budget.seconds:g} s"
        if problem is None:
            continue
        if own:
            failures.append(f"{asset.kind} {_path(asset.url)} {problem}")
        else:
            look.notes.append(f"third-party {asset.kind} {shorten(asset.url, 100)} {problem}")
    if len(failures) > 3:
        failures[3:] = [f"+{len(failures) - 3} more of the app's scripts and stylesheets "
                        f"failed"]
    return failures


def _path(url: str) -> str:
    """An app's own URL by its path: the host is the app's."""
    match = re.match(r"https?://[^/?#]+(.*)", url)
    return shorten((match.group(1) if match else url) or "/", 100)


async def _first_done(step: Awaitable[Any], *interrupts: Awaitable[Any]) -> bool:
    """True when ``step`` ended (its error raised), False when an interrupt came first."""
    waiting = asyncio.ensure_future(step)
    stoppers = [asyncio.ensure_future(interrupt) for interrupt in interrupts]
    try:
        await asyncio.wait({waiting, *stoppers}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiting, *stoppers):
            task.cancel()
        await asyncio.gather(waiting, *stoppers, return_exceptions=True)
    if waiting.cancelled():
        return False
    waiting.result()
    return True


def _error_text(error: Any) -> str:
    name = getattr(error, "name", "") or "Error"
    message = getattr(error, "message", "") or str(error)
    return _printable(f"{name}: {message}" if not message.startswith(name) else message)


def _printable(text: str) -> str:
    """Text a page wrote, safe to encode: a lone surrogate (``'\\ud800'`` in JavaScript) is
    spelled out, or writing it anywhere would fail in place of the check."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _list_blocked(visit: _Visit) -> str:
    shown = ", ".join(shorten(b, 80) for b in visit.blocked[:3])
    more = visit.blocked_count - min(len(visit.blocked), 3)
    return shown + (f" (+{more} more)" if more > 0 else "")


async def _keep_evidence(look: _Look, folder: Path, blocked: list[str],
                         notes: list[str]) -> str | None:
    """Screenshot and log what the page showed; evidence is best-effort, never a failure."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        log = ["url: " + look.page.url]
        log += [f"page error: {e}" for e in look.visit.page_errors]
        log += [f"console error: {e}" for e in look.visit.console_errors]
        log += [f"blocked write: {b}" for b in blocked]
        log += [f"note: {n}" for n in notes]
        (folder / "console.txt").write_text("\n".join(log) + "\n", encoding="utf-8",
                                            errors="backslashreplace")
        # A hung page still leaves its console log behind; a stuck one cannot be drawn.
        if not look.stuck:
            with contextlib.suppress(PlaywrightError, TimeoutError):
                await asyncio.wait_for(
                    look.page.screenshot(path=str(folder / "screenshot.png"), full_page=True,
                                         timeout=SCREENSHOT_TIMEOUT * 1000),
                    SCREENSHOT_TIMEOUT + 1)
        return str(folder)
    except (OSError, ValueError):  # ValueError: text that would not encode, say
        return None
