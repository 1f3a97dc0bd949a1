"""A tab: a browser context with one page, its guard (:mod:`smokeseal.browser.guard`)
installed once, reporting what the page does to the current :class:`Visit`, and wiped back to
a new visitor's state for reuse.

A tab is reused by a later check only once it is wiped back to a new visitor's state
(cookies, storage and cache of every origin it saw, and a blank page): that saves starting
a renderer and a context per check, about half of what a page check costs. Measured with
``bench/reuse.py`` on the demo app (same counts before and after the wipe was hardened): its
three page checks one after another open 1 tab (2 reused), eight of its pages one after
another 1 tab (7 reused); run side by side, as ``prod-smoke`` starts them, each check has a
tab of its own (0 reused), so reuse only pays where checks outnumber the concurrency.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from playwright.async_api import (
    Browser,
    BrowserContext,
    CDPSession,
    Page,
    Request,
    Response,
)
from playwright.async_api import Error as PlaywrightError

from smokeseal.access import Access
from smokeseal.browser.guard import SOCKETS_OFFLINE, Guard
from smokeseal.browser.visit import (
    ASSET_TYPES,
    CLOSE_TIMEOUT,
    DEFAULT_TIMEOUT,
    MAX_CONSOLE_CHARS,
    MAX_CONSOLE_KEPT,
    SCRIPTED,
    WIPE_TIMEOUT,
    Asset,
    Refusal,
    Visit,
    asset_answer_problem,
    error_text,
    frame_of,
    mime_of,
    origin_prefix,
    path_is,
    printable,
    streams,
)
from smokeseal.checks.base import READ_ONLY_METHODS, shorten
from smokeseal.checks.reads import AllowFailing, ReadPolicy, path_of
from smokeseal.errors import BrowserError

if TYPE_CHECKING:
    import httpx

__all__ = ["INIT_SCRIPT", "REFUSED_BINDING", "WATCH_KEY", "WATCH_SCRIPT", "Tab",
           "close_context"]

#: The name under which :data:`WATCH_SCRIPT` leaves its readers in every frame: made afresh
#: by each process, so a page cannot count on it.
WATCH_KEY = "__smokeseal_" + os.urandom(6).hex()
#: The name of the binding by which a frame says that the browser refused one of its scripts
#: or stylesheets (a MIME type under nosniff, a failed integrity check, a blocked module).
REFUSED_BINDING = "__smokesealRefused_" + os.urandom(6).hex()
#: Run in every frame before the page's scripts. It takes away what no route sees
#: (SharedWorker, WebSocketStream, should a browser ignore the flags), and it watches, for
#: the verdict: the closed shadow roots the page attaches (so their text is read as a
#: visitor reads it), the timers it has pending and when its content last changed (so a
#: quiet page ends the settle window early), and the scripts and stylesheets the browser
#: refused to run or apply.
WATCH_SCRIPT = """(() => {
  delete window.SharedWorker; delete window.WebSocketStream;
  if (Object.prototype.hasOwnProperty.call(window, '__KEY__')) return;
  const closed = new WeakMap();
  const attach = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function attachShadow(init) {
    const root = attach.call(this, init);
    if (init && init.mode === 'closed') closed.set(this, root);
    return root;
  };
  const pending = new Map();
  let changed = performance.now();
  const later = window.setTimeout, cancel = window.clearTimeout;
  window.setTimeout = function setTimeout(fn, ms, ...rest) {
    if (typeof fn !== 'function') return later.call(this, fn, ms, ...rest);
    let id;
    const run = function () { pending.delete(id); return fn.apply(this, arguments); };
    id = later.call(this, run, ms, ...rest);
    pending.set(id, performance.now() + (Number(ms) || 0));
    return id;
  };
  window.clearTimeout = function clearTimeout(id) {
    pending.delete(id);
    return cancel.call(this, id);
  };
  // An interval ticks for ever: the page is busy at least once per period.
  const periods = new Map();
  const every = window.setInterval, stop = window.clearInterval;
  window.setInterval = function setInterval(fn, ms, ...rest) {
    const id = every.call(this, fn, ms, ...rest);
    periods.set(id, Math.max(Number(ms) || 0, 0));
    return id;
  };
  window.clearInterval = function clearInterval(id) {
    periods.delete(id);
    return stop.call(this, id);
  };
  new MutationObserver(() => { changed = performance.now(); })
    .observe(document, {subtree: true, childList: true, characterData: true});
  const refused = window['__BINDING__'];
  addEventListener('error', event => {
    const el = event.target;
    const script = el instanceof HTMLScriptElement;
    const sheet = el instanceof HTMLLinkElement && /(^|\\s)stylesheet(\\s|$)/i.test(el.rel);
    if (!script && !sheet) return;
    const url = script ? el.src : el.href;
    if (!url || typeof refused !== 'function') return;
    refused(JSON.stringify({url, kind: script ? 'script' : 'stylesheet',
                            integrity: !!el.integrity, module: script && el.type === 'module'}));
  }, true);
  Object.defineProperty(window, '__KEY__', {value: Object.freeze({
    closed: el => closed.get(el) || null,
    quiet: () => {
      const now = performance.now();
      let next = Infinity;
      for (const due of pending.values()) next = Math.min(next, due);
      let soonest = next - now;
      for (const period of periods.values()) soonest = Math.min(soonest, period);
      return {timer: soonest, still: now - changed};
    },
  })});
})()""".replace("__KEY__", WATCH_KEY).replace("__BINDING__", REFUSED_BINDING)
INIT_SCRIPT = WATCH_SCRIPT
LEAVING_EVENTS = frozenset({"pagehide", "unload", "beforeunload", "visibilitychange",
                            "freeze", "pageswap"})
#: How Chromium says a WebSocket never got a connection (the socket rule's


class Tab(Guard):
    """A context with one page, its guard installed once, reporting to the current visit."""

    def __init__(self, context: BrowserContext, page: Page) -> None:
        self.context = context
        self.page = page
        #: The page target's own session: its network rule refuses workers' sockets.
        self.cdp: CDPSession | None = None
        #: Whether that rule is on (off for a check that declares a WEBSOCKET read).
        self.sockets_offline = True
        #: Declared sockets the route let through: the one ``websocket`` event each of them
        #: makes is no worker's.
        self._let_through: list[str] = []
        self.visit = Visit()
        #: Cleared by a check that left the page in doubt (a load that timed out, say).
        self.reusable = True
        #: The proxy the context goes out through: a tab serves only checks that want it.
        self.proxy: dict[str, str] | None = None
        #: While the tab is wiped and waits for its next check, every request of the page
        #: target is failed by this session's own interception (see :meth:`_wipe`).
        self.holding = False
        #: Requests that interception failed during the wipe (a page writing as it is left).
        self.held = 0
        self._closing: set[asyncio.Task[None]] = set()

    @classmethod
    async def open(cls, browser: Browser, proxy: Mapping[str, str] | None = None) -> Tab:
        """A new tab; ``proxy`` (see :func:`smokeseal.checks.http.browser_proxy`) for the
        page and the reads the guard sends for it alike."""
        context = await browser.new_context(service_workers="block", accept_downloads=False,
                                            proxy=dict(proxy) if proxy else None)  # type: ignore[arg-type]
        tab: Tab | None = None

        def refused(_source: Any, info: str) -> None:
            if tab is not None:
                tab._on_refused(info)

        try:
            await context.expose_binding(REFUSED_BINDING, refused)
            await context.add_init_script(INIT_SCRIPT)
            # No extra request headers: on cross-origin fetches they would force CORS
            # preflights.
            page = await context.new_page()
            tab = cls(context, page)
            tab.proxy = dict(proxy) if proxy else None
            await context.route("**/*", tab._guard)
            await context.route_web_socket(re.compile(r".*"), tab._refuse_socket)
            page.on("pageerror", tab._on_page_error)
            page.on("console", tab._on_console)
            page.on("request", tab._on_request)
            page.on("response", tab._on_response)
            page.on("requestfinished", tab._on_request_finished)
            page.on("requestfailed", tab._on_request_failed)
            page.on("websocket", tab._on_websocket)
            context.on("page", tab._on_popup)
            tab.cdp = await context.new_cdp_session(page)
            tab.cdp.on("Fetch.requestPaused", tab._on_held)
            try:
                await tab.cdp.send("Network.emulateNetworkConditionsByRule", SOCKETS_OFFLINE)
            except PlaywrightError as exc:
                if "wasn't found" not in str(exc) and "not found" not in str(exc):
                    raise
                # Without the rule a worker could write through a socket: no page is
                # loaded rather than one loaded unguarded.
                version = browser.version
                raise BrowserError(
                    f"Chromium {version} cannot take workers' WebSockets offline "
                    "(no Network.emulateNetworkConditionsByRule): use a newer Chromium "
                    "(SMOKESEAL_BROWSER)") from None
        except BaseException:
            await close_context(context)
            raise
        return tab

    def start(self, policy: ReadPolicy | None = None, timeout: float = DEFAULT_TIMEOUT,
              access: Access | None = None, probe: httpx.AsyncClient | None = None,
              allow: tuple[AllowFailing, ...] = ()) -> Visit:
        """A new visit, letting through what ``policy`` declares within ``timeout`` s, with
        ``access``'s headers on requests to the app's origins; ``allow``: the app's own
        requests whose failure does not fail the page."""
        self.visit = Visit(policy=policy or ReadPolicy(),
                           deadline=time.monotonic() + timeout,
                           access=Access() if access is None else access, probe=probe,
                           allow=allow)
        return self.visit

    async def arm(self, policy: ReadPolicy) -> None:
        """Ready for a visit under ``policy``: the wipe's interception lifted, the socket rule
        as ``policy`` needs it."""
        if self.holding and self.cdp is not None:
            await self.cdp.send("Fetch.disable")
            self.holding = False
        await self.guard_sockets(policy)

    def _on_page_error(self, error: Any) -> None:
        text = error_text(error)
        if note := self.visit.caused_by_guard(text):
            self.visit.notes.append(note)
            return
        if len(self.visit.page_errors) < MAX_CONSOLE_KEPT:
            self.visit.page_errors.append(text[:MAX_CONSOLE_CHARS])
        self.visit.errored.set()

    def _on_console(self, message: Any) -> None:
        # Kept up to a bound: a page that logs in a loop must not fill the memory.
        if message.type == "error" and len(self.visit.console_errors) < MAX_CONSOLE_KEPT:
            self.visit.console_errors.append(printable(message.text[:MAX_CONSOLE_CHARS]))

    def _on_refused(self, info: str) -> None:
        """The browser refused a script or stylesheet a frame asked for (see
        :data:`WATCH_SCRIPT`): its MIME type under nosniff, its integrity, a CSP, or it did
        not load at all. A failure already named (a 404) is not named twice."""
        try:
            found = json.loads(info)
            url, kind = str(found["url"]), str(found["kind"])
        except (ValueError, KeyError, TypeError):
            return
        if kind not in ASSET_TYPES:
            return  # the page itself called the binding: nothing the browser said
        visit = self.visit
        assets = [a for a in visit.assets.values() if a.url == url]
        if any(a.problem is not None or a.refused is not None for a in assets):
            return
        refusal = Refusal(bool(found.get("integrity")), bool(found.get("module")))
        if not assets:  # not seen as a request of the page's (a frame's own, say)
            visit.fail(kind, url, refusal.why(kind, None))
            return
        for asset in assets:
            # Kept apart: a script answered as a web page is named a stale bundle once its
            # body is read (see page.py), which says more than the refusal.
            asset.refused, asset.done = refusal, True
        self._asset_failed(url)

    def _asset_failed(self, url: str) -> None:
        if self.visit.own(url) and not self.visit.allowed("GET", url):
            self.visit.broken.set()

    def _on_request(self, request: Request) -> None:
        if not streams(request):
            self.visit.inflight.add(request)
        # A worker's script is none of the page's bundle, and never reports finishing.
        if request.resource_type in ASSET_TYPES and frame_of(request) is not None:
            self.visit.assets[request] = Asset(request.url, request.resource_type)
        if (hop := request.redirected_from) is not None and (asset := self.visit.assets.get(hop)):
            asset.done = True  # its redirect is followed by the request just made

    def _on_response(self, response: Response) -> None:
        request = response.request
        visit = self.visit
        asset = visit.assets.get(request)
        if asset is not None:
            asset.mime = mime_of(response) or None
            if asset.problem is None:
                asset.problem = asset_answer_problem(asset, response)
                if asset.problem is not None:
                    self._asset_failed(asset.url)
        elif request.method in READ_ONLY_METHODS and request not in visit.aborted:
            self._judge_answer(request, response)
        if request.is_navigation_request() and not 300 <= response.status < 400 \
                and frame_of(request) == self.page.main_frame:
            self.visit.document = response

    def _judge_answer(self, request: Request, response: Response) -> None:
        """A GET or HEAD of the page's answered: the app's own 5xx fails the page (the page
        document's status is judged by ``expect.status``), a 4xx is a note (a fetch that
        finds nothing may be how the app asks)."""
        status = response.status
        if status < 400 or (request.is_navigation_request()
                            and frame_of(request) == self.page.main_frame):
            return
        if path_is(request.url, "/favicon.ico"):
            return  # the browser's own ask, not the page's
        if status >= 500:
            self.visit.fail(request.method, request.url, f"answered {status}")
        elif self.visit.own(request.url):
            self.visit.request_notes.add(
                f"{request.method} {shorten(path_of(request.url), 100)} answered {status}")

    def _on_request_finished(self, request: Request) -> None:
        self.visit.inflight.discard(request)
        if asset := self.visit.assets.get(request):
            asset.done = True

    def _on_request_failed(self, request: Request) -> None:
        visit = self.visit
        visit.inflight.discard(request)
        if request.resource_type in SCRIPTED and request not in visit.aborted:
            visit.other_failures += 1
        failure = request.failure or "failed"
        # ERR_ABORTED is the browser cancelling (a navigation away, a script whose error
        # status was already recorded, a fetch the page aborted), not production failing.
        ours = request in visit.aborted or "ERR_ABORTED" in failure
        asset = visit.assets.get(request)
        if asset is None:
            # The page's own document failing is the load's failure, said on its own.
            document = request.is_navigation_request() \
                and frame_of(request) == self.page.main_frame
            if ours or document or request.method not in READ_ONLY_METHODS \
                    or streams(request) or path_is(request.url, "/favicon.ico"):
                return
            # Playwright gives DevTools' blocked reason ("csp", "mixed-content",
            # "corp-not-same-origin") in place of a network error for such a refusal.
            if "ERR_BLOCKED_BY" in failure or not failure.startswith("net::"):
                # The page's own policy (CSP, CORP, ORB) kept the browser from loading an
                # image, a font, a fetch: what it blocks is no answer production failed to
                # give. Its own scripts and stylesheets are assets, judged above.
                visit.request_notes.add(f"{request.method} {shorten(request.url, 100)} "
                                        f"refused by the browser ({failure})")
                return
            visit.fail(request.method, request.url, f"failed: {failure}")
            return
        asset.done = True
        if asset.problem is None and not ours:
            asset.problem = f"failed: {failure}"
            self._asset_failed(asset.url)

    async def wipe(self) -> bool:
        """Back to a new visitor's state; False when that could not be made sure of."""
        try:
            await asyncio.wait_for(self._wipe(), WIPE_TIMEOUT)
        except (PlaywrightError, TimeoutError):
            return False
        self.visit = Visit()
        return True

    async def _wipe(self) -> None:
        """Leave the page for a blank one, no page script running and nothing sent.

        First this session's own interception fails every request of the page target until
        the next check arms the tab (:meth:`arm`): Playwright lets a request whose frame is
        gone (a keepalive fetch or beacon sent as the page is left) pass its routes, this
        interception does not. Then page script is stopped (timers, and whatever a page
        would do when asked for its storage), sessionStorage is cleared through DevTools
        (never by calling the page's ``Storage.prototype.clear``), and only then, as the
        last step before leaving, it is looked whether the page listens for being left:
        a page that does is closed, not wiped. Stopping script does not stop those
        handlers (Chromium still runs them as the page is left), hence the interception.
        """
        assert self.cdp is not None
        self.held = 0
        await self.cdp.send("Fetch.enable", {"patterns": [{"urlPattern": "*"}]})
        self.holding = True
        await self.cdp.send("Emulation.setScriptExecutionDisabled", {"value": True})
        # sessionStorage belongs to the tab, not the origin: cleared while its frame is there.
        if len(self.page.frames) == 1 and (origin := origin_prefix(self.page.url)):
            await self.cdp.send("DOMStorage.clear", {"storageId": {
                "securityOrigin": origin, "isLocalStorage": False}})
        if await self._listens_for_leaving():
            raise PlaywrightError("the page listens for being left")
        await self.page.goto("about:blank", timeout=5000)
        for origin in self.visit.origins:
            await self.cdp.send("Storage.clearDataForOrigin",
                                {"origin": origin, "storageTypes": "all"})
        await self.context.clear_cookies()
        await self.cdp.send("Network.clearBrowserCache")
        await self.cdp.send("Emulation.setScriptExecutionDisabled", {"value": False})
        if self.held:
            raise PlaywrightError("the page sent requests as it was left")

    async def _listens_for_leaving(self) -> bool:
        """Whether leaving the page would run a handler of its (see :data:`LEAVING_EVENTS`);
        a page with frames is taken to (another site's frame is out of this session's
        reach), and so is a tab that ever had a second page (a popup)."""
        if len(self.page.frames) > 1 or not self.reusable or len(self.context.pages) > 1:
            return True
        assert self.cdp is not None
        for target in ("window", "document"):
            found = await self.cdp.send("Runtime.evaluate", {"expression": target})
            object_id = found["result"].get("objectId")
            if object_id is None:
                return True
            listeners = await self.cdp.send("DOMDebugger.getEventListeners",
                                            {"objectId": object_id})
            await self.cdp.send("Runtime.releaseObject", {"objectId": object_id})
            if any(one["type"] in LEAVING_EVENTS for one in listeners["listeners"]):
                return True
        return False

    async def close(self) -> None:
        await close_context(self.context)


async def close_context(context: BrowserContext) -> None:
    """Close a context, giving up after :data:`CLOSE_TIMEOUT` (the browser takes it along)."""
    with contextlib.suppress(PlaywrightError, TimeoutError):
        await asyncio.wait_for(context.close(), CLOSE_TIMEOUT)
