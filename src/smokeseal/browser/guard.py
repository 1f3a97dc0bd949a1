"""The read-only guard of a tab: what may leave the browser toward production.

Each page check gets a tab (:mod:`smokeseal.browser.tab`) whose route guard aborts every
request that is not GET or HEAD (a dedicated worker's too), with service workers blocked,
shared workers and WebSocketStream disabled (no route sees their requests), popups refused by
the browser (``--block-new-web-contents`` in the headless shell, the popup blocker Playwright
turns off turned back on in the full Chromium; one that opens anyway is closed, its requests
refused, noted, and its tab not reused) and WebSockets refused: a page frame's by Playwright's
socket route, a dedicated worker's (which that route never sees) by a network rule on the
page's target that takes ws: and wss: offline (:data:`SOCKETS_OFFLINE`). That rule reaches the
workers of the page's own frame only: a frame's worker (same origin or not, in the page's
process or not) and a worker's own workers connect past it. So a worker's socket is listed as
refused (``WEBSOCKET url (worker)``) only once the browser said it never connected; one that
connected (its handshake answered, a frame, a close with no error, or no word by the verdict)
is a write that reached production, and fails the check whatever ``no_writes`` says: red,
never a quiet green. A check that declares a ``WEBSOCKET`` read goes without the rule (it
would refuse the declared socket too): a worker's socket to a declared path is listed as a
read, any other fails the check the same way.

Writes a page sends as it is left (a keepalive fetch, a beacon on pagehide) pass Playwright's
routes (it lets a request whose frame is gone through), so the wipe guards them itself: see
:meth:`smokeseal.browser.tab.Tab._wipe`. A tab whose page listens for being left, has
frames, or ever had a popup is closed, never wiped for reuse (closing a context runs no
handler).

Why not one DevTools interception for every target: Chromium accepts browser-level
auto-attach only with flat sessions, which Playwright's Python API does not hand out, and a
target held with ``waitForDebuggerOnStart`` starts as soon as *one* client resumes it, which
Playwright does for every worker it attaches (nested ones too): a rule of smokeseal's own
on a worker would race the worker's first line (tried on Chromium 156 with Playwright 1.65).
Playwright's routes are the one interception that holds a worker's requests before they
leave; what they cannot see is switched off at launch (:mod:`smokeseal.browser.launch`).

The guard's exceptions are the app's declared ``reads:`` (:mod:`smokeseal.checks.reads`): to the
app's own origin only, a GraphQL read only when it is a query, a let-through HTTP
read never redirected (Playwright does not route a redirect's hops, so a 307 would repeat
the POST elsewhere unseen: the guard fetches the read itself, one hop, and refuses a 3xx).
Blocked attempts and let-through reads are listed on the result, each distinct one once
with its count (the first :data:`MAX_BLOCKED`, then how many more); what the guard made the
page throw (a write's ``Failed to fetch`` left uncaught, a missing ``SharedWorker``) is a
note, not a page error.

What a page check judges is in :mod:`smokeseal.checks.page`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from playwright.async_api import (
    APIResponse,
    BrowserContext,
    CDPSession,
    Page,
    Request,
    Route,
    WebSocketRoute,
)
from playwright.async_api import Error as PlaywrightError

from smokeseal.browser.visit import (
    BROWSER_GONE,
    CLOSE_TIMEOUT,
    SCRIPTED,
    Visit,
    describe_error,
    frame_of,
    note_once,
    origin_prefix,
    page_of,
    streams,
)
from smokeseal.checks.base import READ_ONLY_METHODS, shorten
from smokeseal.checks.reads import (
    GRAPHQL,
    graphql_errors,
    graphql_refusal,
    override_refusal,
    path_of,
)

if TYPE_CHECKING:
    from smokeseal.checks.reads import ReadPolicy

__all__ = ["SOCKETS_OFFLINE", "SOCKETS_ONLINE", "Guard"]

#: Playwright's socket route patches page frames only: a dedicated worker's ``new WebSocket``
#: passes it. Chromium's network emulation, set on the page's target before any document,
#: takes ws: and wss: offline for the page and every worker it starts (classic, module,
#: blob:, data:), whatever the worker runs first. It cannot spare one URL (every rule it
#: matches is offline), so a check that declares a ``WEBSOCKET`` read goes without it.
SOCKETS_OFFLINE = {"offline": True, "matchedNetworkConditions": [
    {"urlPattern": pattern, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
    for pattern in ("ws://*:*", "wss://*:*")]}
SOCKETS_ONLINE: dict[str, Any] = {"offline": False, "matchedNetworkConditions": []}
#: What a page does as it is left: its handlers' writes (a keepalive fetch, a beacon) pass no
#: route and no network rule, so a tab whose page listens for any of them is never left for
#: reuse, only closed (closing a context runs none of them).
#: ``net::ERR_INTERNET_DISCONNECTED``, or no server there): nothing reached production.
_NEVER_CONNECTED = "Error in connection establishment"
#: How long the verdict waits for the outcome of a worker's socket it has not heard of yet.
SOCKET_GRACE = 3.0
#: What one visit keeps on its result: a page firing beacons in a loop must not write
#: megabytes into every seal.


class Guard:
    """The route and socket handlers of a :class:`~smokeseal.browser.tab.Tab`, and how it
    refuses popups and what a page sends as it is left."""

    context: BrowserContext
    page: Page
    cdp: CDPSession | None
    sockets_offline: bool
    _let_through: list[str]
    visit: Visit
    reusable: bool
    held: int
    _closing: set[asyncio.Task[None]]

    async def guard_sockets(self, policy: ReadPolicy) -> None:
        """Worker sockets offline unless ``policy`` declares a socket read (the rule cannot
        spare the page's own)."""
        offline = not policy.declares_sockets
        if self.cdp is not None and offline != self.sockets_offline:
            await self.cdp.send("Network.emulateNetworkConditionsByRule",
                                SOCKETS_OFFLINE if offline else SOCKETS_ONLINE)
            self.sockets_offline = offline

    def _on_websocket(self, ws: Any) -> None:
        """A socket the browser opened past the route (see :meth:`_refuse_socket`): a
        worker's. It is listed as refused only once it failed before any connection; one
        that connected (its handshake answered, a frame either way, a close with no error)
        reached production, and is a write there unless it is a declared read."""
        visit = self.visit  # a late event belongs to this visit, not the tab's next
        if ws.url in self._let_through:
            self._let_through.remove(ws.url)
            # An open socket may redraw the page at any moment: the page is not quiet.
            visit.sockets_open.add(ws)
            ws.on("close", lambda *_: visit.sockets_open.discard(ws))
            return
        attempt = f"WEBSOCKET {ws.url} (worker)"
        if not self.sockets_offline and visit.policy.socket_read(ws.url) is not None:
            visit.reads.add(f"WEBSOCKET {path_of(ws.url)} (worker)")
            visit.sockets_open.add(ws)
            ws.on("close", lambda *_: visit.sockets_open.discard(ws))
            return
        visit.sockets_pending[ws] = attempt

        def refused(error: Any) -> None:
            if visit.sockets_pending.pop(ws, None) is None:
                return
            if str(error).startswith(_NEVER_CONNECTED):
                visit.refuse(attempt, "WEBSOCKET", ws.url)
            else:  # the handshake was answered: production heard it
                visit.reached.add(f"{attempt}: {shorten(str(error), 80)}")

        def connected(*_: Any) -> None:
            if visit.sockets_pending.pop(ws, None) is not None:
                visit.reached.add(attempt)

        ws.on("socketerror", refused)
        for event in ("framesent", "framereceived", "close"):
            ws.on(event, connected)

    async def settle_sockets(self, budget: float) -> None:
        """Wait a little (:data:`SOCKET_GRACE`, at most ``budget``) for workers' sockets
        whose outcome is unknown; any still unknown is counted as reached: it was not seen
        refused."""
        visit = self.visit
        end = time.monotonic() + min(SOCKET_GRACE, max(budget, 0))
        while visit.sockets_pending and time.monotonic() < end:
            await asyncio.sleep(0.02)
        for attempt in list(visit.sockets_pending.values()):
            visit.reached.add(f"{attempt}: not seen refused")
        visit.sockets_pending.clear()

    def _on_popup(self, page: Page) -> None:
        """A page the tab's page opened though popups are blocked (a browser that ignores the
        flag): closed at once, its requests refused by the route meanwhile (see
        :meth:`_guard`), noted, and the tab not reused."""
        if page == self.page:
            return
        self.reusable = False
        note_once(self.visit, f"page opened a popup ({shorten(page.url, 100)}): closed, as "
                               "smokeseal guards one page per check")
        task = asyncio.ensure_future(self._close_popup(page))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close_popup(page: Page) -> None:
        with contextlib.suppress(PlaywrightError, TimeoutError):
            await asyncio.wait_for(page.close(), CLOSE_TIMEOUT)

    def _on_held(self, event: dict[str, Any]) -> None:
        """A request paused by the wipe's interception: failed, whatever it is."""
        self.held += 1
        if self.cdp is not None:
            task = asyncio.ensure_future(self._fail_held(self.cdp, event["requestId"]))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _fail_held(cdp: CDPSession, request_id: str) -> None:
        with contextlib.suppress(PlaywrightError):
            await cdp.send("Fetch.failRequest", {"requestId": request_id,
                                                 "errorReason": "BlockedByClient"})

    async def _guard(self, route: Route) -> None:
        request = route.request
        if origin := origin_prefix(request.url):
            self.visit.origins.add(origin)
        # A tab closed under a pending request makes these raise; nothing is left to guard.
        with contextlib.suppress(PlaywrightError):
            frame = frame_of(request)
            if (page_of(frame) is not self.page) if frame is not None \
                    else request.is_navigation_request():
                # A popup's (see _on_popup; its first navigation has no frame yet): nothing
                # of it loads while it is being closed.
                await route.abort("blockedbyclient")
                return
            if request.method in READ_ONLY_METHODS:
                await self._read(route)
                return
            attempt = f"{request.method} {request.url}"
            read = self.visit.policy.http_read(request.method, request.url)
            if read is None:
                await self._abort(route, attempt)
                return
            label = f"{request.method} {path_of(request.url)}"
            if why := override_refusal(request.url, request.headers, request.post_data_buffer):
                await self._abort(route, f"{attempt} ({read}: {why})")
                return
            if read.kind == GRAPHQL:
                why = graphql_refusal(request.post_data_buffer,
                                      request.headers.get("content-type"), request.url)
                if why is not None:
                    await self._abort(route, f"{attempt} ({read}: {why})")
                    return
                label = f"{GRAPHQL} {path_of(request.url)}"
            await self._read_through(route, attempt, label)

    async def _abort(self, route: Route, attempt: str, visit: Visit | None = None) -> None:
        request = route.request
        # A late answer's check is the one whose visit it belongs to, not the tab's next.
        visit = visit or self.visit
        try:
            body, mime = request.post_data_buffer, request.headers.get("content-type")
        except PlaywrightError:
            body = mime = None
        visit.refuse(attempt, request.method, request.url, body, mime)
        visit.aborted.add(request)
        if request.resource_type in SCRIPTED:
            visit.unexplained_aborts.append((request.resource_type, attempt))
            if visit.own(request.url) and request.method in ("POST", "QUERY"):
                # Not known as a data channel, yet a script asked for it: a page that then
                # shows no content is told it may be one.
                visit.refused_scripted.setdefault(
                    f"{request.method} {path_of(request.url)}", attempt)
        await route.abort("blockedbyclient")

    async def _read_through(self, route: Route, attempt: str, label: str) -> None:
        """Send a declared read to the app, one hop: a 3xx answer is refused, not followed
        (the browser would repeat the POST where it points, past every route)."""
        visit = self.visit
        visit.reads.add(label)
        visit.reads_pending[route.request] = label
        try:
            await self._answer_read(route, attempt, label, visit)
        finally:
            visit.reads_pending.pop(route.request, None)

    async def _answer_read(self, route: Route, attempt: str, label: str, visit: Visit) -> None:
        response = await self._one_hop(route, visit, label)
        if response is None:
            return
        if 300 <= response.status < 400:
            with contextlib.suppress(PlaywrightError):
                await response.dispose()
            await self._abort(route, f"{attempt} redirected ({response.status}): a read "
                                     "must not redirect", visit)
            return
        if response.status >= 500:
            visit.read_failures.add(f"{label} answered {response.status}")
        elif label.startswith(GRAPHQL):
            with contextlib.suppress(PlaywrightError):
                failed, partial = graphql_errors(await response.body())
                if failed:
                    visit.read_failures.add(f"{label} answered errors and no data: "
                                            f"{shorten(failed, 120)}")
                elif partial:
                    visit.read_notes.add(f"{label} answered errors: {shorten(partial, 120)}")
        await route.fulfill(response=response)

    async def _one_hop(self, route: Route, visit: Visit,
                       label: str | None = None) -> APIResponse | None:
        """The app's answer to the request, its redirects not followed, with the configured
        headers when it goes to the app's origins; None (the request aborted) when
        production did not answer, which fails the page when the request was the read
        ``label``: a page may well catch the error and draw as if all were well."""
        request = route.request
        extra = visit.access.for_origin(request.url, with_cookies=False)
        try:
            return await route.fetch(max_redirects=0, timeout=visit.read_timeout_ms(),
                                     headers=self._with(request, extra) if extra else None)
        except PlaywrightError as exc:
            # Production did not answer: the page sees a network failure of the app's own.
            why = describe_error(exc)
            timed_out = "Timeout" in why
            # A read still open at the check's end (a long poll) is cut, not failed.
            if label is not None and not timed_out and why != BROWSER_GONE:
                visit.read_failures.add(f"{label} got no answer: {shorten(why, 120)}")
            with contextlib.suppress(PlaywrightError):
                await route.abort("timedout" if timed_out else "failed")
            return None

    async def _read(self, route: Route) -> None:
        """A GET or HEAD, with the configured headers when it goes to the app's origins.

        Playwright puts headers given to ``continue_`` on every redirect the request leads
        to, whatever its host. So a subresource is sent one hop and its answer fulfilled: a
        3xx is followed by the browser as a new request, which this guard judges again (and
        sends without them when it leaves the app). A navigation, and a stream (an
        EventSource, media, anything asking for ``text/event-stream``), is continued instead:
        a document fulfilled here counts as a public one and Chromium would then refuse its
        loads from private and loopback addresses, and a stream fetched whole never ends.
        Where its redirects go is looked at first (status and headers only), and it is sent
        with the headers only when every hop stays on the app's origins.
        """
        request = route.request
        visit = self.visit
        extra = visit.access.for_origin(request.url, with_cookies=False)
        if not extra:
            await route.continue_()
            return
        if not request.is_navigation_request() and not streams(request):
            response = await self._one_hop(route, visit)
            if response is not None:
                await route.fulfill(response=response)
            return
        if visit.probe is not None:
            from smokeseal.checks.http import leaves_app

            left = await leaves_app(visit.probe, request.method, request.url,
                                    access=visit.access, headers=request.headers)
            if left is not None:
                note_once(visit, f"{shorten(request.url, 100)} {left}: sent without the "
                                  "configured headers and basic auth")
                await route.continue_()
                return
        await route.continue_(headers=self._with(request, extra))

    def _with(self, request: Request, extra: dict[str, str]) -> dict[str, str]:
        """The request's headers with the configured ones in place of the page's own."""
        mine = {name.lower() for name in extra}
        replaced = sorted(name for name in extra
                          if request.headers.get(name.lower(), extra[name]) != extra[name])
        if replaced:
            note_once(self.visit, f"the page's own {', '.join(replaced)} header replaced by "
                                   "the configured one")
        kept = {k: v for k, v in request.headers.items() if k.lower() not in mine}
        return {**kept, **extra}

    async def _refuse_socket(self, ws: WebSocketRoute) -> None:
        if self.visit.policy.socket_read(ws.url) is not None:
            self.visit.reads.add(f"WEBSOCKET {path_of(ws.url)}")
            self._let_through.append(ws.url)
            # No handlers set: every message passes both ways as it is.
            ws.connect_to_server()
            return
        # Never connected to the server: the page sees a socket that closes at once.
        self.visit.refuse(f"WEBSOCKET {ws.url}", "WEBSOCKET", ws.url)
        await ws.close(code=1008, reason="smokeseal is read-only")
