"""``page`` checks: a real headless Chromium through Playwright, unable to write.

One browser per run (:class:`BrowserSession`). Each page check gets a tab (a context with
one page) whose route guard aborts every request that is not GET or HEAD (a dedicated
worker's too), with service workers blocked, shared workers and WebSocketStream disabled (no
route sees their requests), popups refused by the browser (``--block-new-web-contents`` in the
headless shell, the popup blocker Playwright turns off turned back on in the full Chromium; one
that opens anyway is closed, its requests refused, noted, and its tab not reused) and
WebSockets refused: a page frame's by Playwright's socket route, a dedicated worker's (which
that route never sees) by a network rule on the page's target that takes ws: and wss: offline
(:data:`SOCKETS_OFFLINE`). That rule reaches the workers of the page's own frame only: a
frame's worker (same origin or not, in the page's process or not) and a worker's own workers
connect past it. So a worker's socket is listed as refused (``WEBSOCKET url (worker)``) only
once the browser said it never connected; one that connected (its handshake answered, a frame,
a close with no error, or no word by the verdict) is a write that reached production, and
fails the check whatever ``no_writes`` says: red, never a quiet green. A check that declares a
``WEBSOCKET`` read goes without the rule (it would refuse the declared socket too): a worker's
socket to a declared path is listed as a read, any other fails the check the same way.

Writes a page sends as it is left (a keepalive fetch, a beacon on pagehide) pass Playwright's
routes (it lets a request whose frame is gone through), so the wipe guards them itself: see
:meth:`Tab._wipe`. A tab whose page listens for being left, has frames, or ever had a popup is
closed, never wiped for reuse (closing a context runs no handler).

The guard's exceptions are the app's declared ``reads:`` (:mod:`smokeseal.checks.reads`): to the
app's own origin only, a GraphQL read only when it is a query, a let-through HTTP
read never redirected (Playwright does not route a redirect's hops, so a 307 would repeat
the POST elsewhere unseen: the guard fetches the read itself, one hop, and refuses a 3xx).
Blocked attempts and let-through reads are listed on the result, each distinct one once
with its count (the first :data:`MAX_BLOCKED`, then how many more); what the guard made the
page throw (a write's ``Failed to fetch`` left uncaught, a missing ``SharedWorker``) is a
note, not a page error.

A tab is reused by a later check only once it is wiped back to a new visitor's state
(cookies, storage and cache of every origin it saw, and a blank page): that saves starting
a renderer and a context per check, about half of what a page check costs. Measured with
``bench/reuse.py`` on the demo app (same counts before and after the wipe was hardened): its
three page checks one after another open 1 tab (2 reused), eight of its pages one after
another 1 tab (7 reused); run side by side, as ``prod-smoke`` starts them, each check has a
tab of its own (0 reused), so reuse only pays where checks outnumber the concurrency.

What a page check judges is in :mod:`smokeseal.checks.page`. This module imports
Playwright; the runner imports it only when a suite has page checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from playwright.async_api import (
    APIResponse,
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

from smokeseal.access import Access
from smokeseal.checks.base import (
    READ_ONLY_METHODS,
    Tally,
    shorten,
)
from smokeseal.checks.reads import (
    GRAPHQL,
    AllowFailing,
    ReadPolicy,
    graphql_errors,
    graphql_refusal,
    needed_read,
    origin_of,
    override_refusal,
    path_of,
)
from smokeseal.errors import BrowserError

if TYPE_CHECKING:
    import httpx

__all__ = ["BROWSER_GONE", "DEFAULT_TIMEOUT", "LAUNCH_ARGS", "SEND_PATH_FEATURES", "Asset",
           "BrowserSession", "Tab", "Visit", "describe_error", "find_browser", "launch_args"]

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
#: Playwright's own ``--disable-features`` (its ``chromiumSwitches``, 1.65): Chromium honours
#: only the last such switch, and Playwright's comes first, so smokeseal's repeats them.
PLAYWRIGHT_DISABLED_FEATURES = (
    "AvoidUnnecessaryBeforeUnloadCheckSync", "DestroyProfileOnBrowserClose", "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable", "LensOverlay", "MediaRouter", "PaintHolding",
    "ThirdPartyStoragePartitioning", "AvoidCorsURLLoaderRestartOnRedirect",
    "TcpPortRandomizationWin", "OptimizationHints", "NetworkTimeServiceQuerying", "AimEnabled",
    "PreconnectToSearch", "msForceBrowserSignIn", "msEdgeUpdateLaunchServicesPreferredVersion",
)
#: Chromium features that send to production past every route (Playwright's routes see
#: none of their requests), so the guard could neither refuse nor list them. Each is shown
#: firing without the flag and silent with it by tests/checks/test_send_paths.py.
SEND_PATH_FEATURES = (
    # The Reporting API: CSP ``report-to``, deprecation, intervention, Permissions-Policy,
    # COOP/COEP and crash reports, POSTed by the network service up to a minute later.
    "Reporting",
    # Network Error Logging (the ``NEL`` header): reports POSTed the same way.
    "NetworkErrorLogging",
    # ``fetchLater()``: the browser sends it, also after the page is gone.
    "FetchLaterAPI",
    # Speculation-rules prerender and the prefetch it starts with (another page, no route).
    "Prerender2",
    "Prerender2FallbackPrefetchSpecRules",
)
_DISABLE_FEATURES = "--disable-features="
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
    # A WebSocketStream is a socket no route sees, in pages and workers alike.
    "--disable-blink-features=WebSocketStream",
    # No popups (``window.open``, ``target=_blank``): a new page would get the route but
    # not the page target's socket rule. The headless shell honours this flag; the full
    # Chromium ignores it and blocks them by its popup blocker instead, which Playwright
    # turns off by default (see :data:`IGNORED_DEFAULT_ARGS`).
    "--block-new-web-contents",
    # One switch for every feature turned off: Chromium honours only the last one given.
    _DISABLE_FEATURES + ",".join((*PLAYWRIGHT_DISABLED_FEATURES, *SEND_PATH_FEATURES)),
)
#: Playwright's default flags taken back: with its popup blocker on, the full Chromium refuses
#: a popup no click opened (smokeseal never clicks).
IGNORED_DEFAULT_ARGS = ("--disable-popup-blocking",)
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
LEAVING_EVENTS = frozenset({"pagehide", "unload", "beforeunload", "visibilitychange",
                            "freeze", "pageswap"})
#: How Chromium says a WebSocket never got a connection (the socket rule's
#: ``net::ERR_INTERNET_DISCONNECTED``, or no server there): nothing reached production.
_NEVER_CONNECTED = "Error in connection establishment"
#: How long the verdict waits for the outcome of a worker's socket it has not heard of yet.
SOCKET_GRACE = 3.0
#: What one visit keeps on its result: a page firing beacons in a loop must not write
#: megabytes into every seal.
MAX_BLOCKED = 50
MAX_NOTES = 20
#: The console errors and page errors one visit keeps, and the most of each one.
MAX_CONSOLE_KEPT = 200
MAX_CONSOLE_CHARS = 2000
#: The least a let-through read is given to answer, even past the check's timeout: the
#: verdict is bounded by the check itself, and a read cut at once would only mislead.
MIN_READ_TIMEOUT = 1.0
#: A page trying to start the SharedWorker smokeseal took away: its doing, not the app's.
_SHARED_WORKER_ERROR = re.compile(
    r"(ReferenceError: SharedWorker is not defined|TypeError: .*\bSharedWorker is not a "
    r"constructor)$")
SHARED_WORKER_NOTE = ("page tried to start a SharedWorker: smokeseal disables them, as the "
                      "read-only guard cannot see their requests")
#: The other APIs smokeseal takes away (see :data:`LAUNCH_ARGS`), called by a page that did
#: not look for them first: its doing, not the app's.
_SWITCHED_OFF_ERROR = re.compile(
    r"(?:ReferenceError: |TypeError: .*\b)(fetchLater|WebSocketStream) is not "
    r"(?:defined|a function|a constructor)$")
#: How a request that failed on the network surfaces as an uncaught error: fetch (Chromium,
#: Firefox, Safari), a synchronous XHR, and the libraries that wrap them (axios's "Network
#: Error", whatwg-fetch's "Network request failed", superagent's "Request has been
#: terminated"). What a write the guard refused raises in a page that does not catch it.
_NETWORK_FAILURE = re.compile(
    r"TypeError: (?:Failed to fetch|NetworkError when attempting to fetch resource\.?|"
    r"Load failed|Network request failed)"
    r"|NetworkError: Failed to execute 'send' on 'XMLHttpRequest': .*"
    r"|(?:AxiosError|Error): Network Error|Error: Request has been terminated\b.*",
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


def launch_args(extra: Sequence[str] = ()) -> list[str]:
    """:data:`LAUNCH_ARGS`, then ``extra``, with every feature they disable in one
    ``--disable-features`` switch at the end (Chromium would drop all but the last)."""
    features: list[str] = []
    args: list[str] = []
    for arg in (*LAUNCH_ARGS, *extra):
        if arg.startswith(_DISABLE_FEATURES):
            features += arg.removeprefix(_DISABLE_FEATURES).split(",")
        else:
            args.append(arg)
    return [*args, _DISABLE_FEATURES + ",".join(dict.fromkeys(filter(None, features)))]


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


@dataclass(frozen=True)
class Refusal:
    """The browser refused a script or stylesheet it was answered (see :data:`WATCH_SCRIPT`)."""

    integrity: bool = False
    module: bool = False

    def why(self, kind: str, mime: str | None) -> str:
        if self.integrity:
            return "refused by the browser: it failed its integrity (SRI) check"
        if mime:
            return (f"refused by the browser: served as {mime}, which a "
                    f"{'module ' if self.module else ''}{kind} may not be")
        return "refused by the browser (a MIME type it may not run or apply, or a policy)"


@dataclass
class Asset:
    """One script or stylesheet the page asked for."""

    url: str
    kind: str
    problem: str | None = None
    done: bool = False
    #: A script answered as a web page: stale only if its body is one (see :func:`stale`).
    html: Response | None = None
    #: The MIME type it was served as: why the browser may have refused it.
    mime: str | None = None
    #: How the browser refused to run or apply it, though it was answered.
    refused: Refusal | None = None

    @property
    def failure(self) -> str | None:
        """What is wrong with it, if anything: how it answered, else its refusal."""
        if self.problem is not None:
            return self.problem
        return self.refused.why(self.kind, self.mime) if self.refused is not None else None


@dataclass
class Visit:
    """What one check's visit saw, collected by its tab's handlers."""

    #: The write attempts the guard blocked: :data:`MAX_BLOCKED` distinct ones kept.
    blocked: Tally = field(default_factory=lambda: Tally(MAX_BLOCKED))
    #: The declared reads the guard let through, by method (or GRAPHQL, WEBSOCKET) and path.
    reads: Tally = field(default_factory=lambda: Tally(MAX_BLOCKED))
    #: Declared reads production answered with an error (a Dash callback's 500, a GraphQL
    #: query answered with errors and no data): the app's own reads failed, so does the page.
    read_failures: Tally = field(default_factory=lambda: Tally(MAX_BLOCKED))
    #: A GraphQL answer with data and errors beside it: a partial answer, shown, not failed.
    read_notes: Tally = field(default_factory=lambda: Tally(MAX_NOTES))
    #: Declared reads sent and not yet answered, with their labels: the verdict waits a
    #: little for those already sent when the page showed what it should.
    reads_pending: dict[Request, str] = field(default_factory=dict)
    #: What this check lets through beyond GET and HEAD.
    policy: ReadPolicy = field(default_factory=ReadPolicy)
    #: When the check's timeout ends (monotonic clock): a let-through read's time.
    deadline: float = field(default_factory=lambda: time.monotonic() + DEFAULT_TIMEOUT)
    #: Writes by fetch or XHR the guard aborted whose failure no page error was put down to,
    #: oldest first: a page error they caused is a note naming the write.
    unexplained_aborts: list[tuple[str, str]] = field(default_factory=list)
    #: Same-origin requests whose failure (or refusal) the check accepts (``allow_failing``).
    allow: tuple[AllowFailing, ...] = ()
    #: The app's own requests that failed: answered 5xx, not answered, or refused by the
    #: browser. Each fails the page (see :meth:`fail`).
    failed: Tally = field(default_factory=lambda: Tally(MAX_BLOCKED))
    #: Failures the page may live with: a fetch answered 4xx, another host's request failing.
    request_notes: Tally = field(default_factory=lambda: Tally(MAX_NOTES))
    #: Set as soon as something fails the page whatever it shows (a request it needed failed
    #: or was refused): the waits for content stop at once.
    broken: asyncio.Event = field(default_factory=asyncio.Event)
    #: Requests sent and not yet answered (streams left out): a page with none, and no timer
    #: due, is quiet.
    inflight: set[Request] = field(default_factory=set)
    #: Declared sockets still open: what comes over them may redraw the page.
    sockets_open: set[Any] = field(default_factory=set)
    #: Fetches and XHRs that failed for another reason than the guard (a read whose host is
    #: down): while there are any, no network failure is blamed on the guard.
    other_failures: int = 0
    page_errors: list[str] = field(default_factory=list)
    #: Findings of the visit itself (page errors the guard caused), before the judging's.
    notes: list[str] = field(default_factory=list)
    #: Workers' sockets that were not refused (a socket rule that did not reach them): writes
    #: that may have reached production, each a failure of the check whatever ``no_writes``.
    reached: Tally = field(default_factory=lambda: Tally(MAX_BLOCKED))
    #: Same-origin requests the guard refused that the page needed for its data (see
    #: :func:`smokeseal.checks.reads.needed_read`): the ``reads:`` line that would declare
    #: each, with the first attempt it refused.
    needed: dict[str, str] = field(default_factory=dict)
    #: The app's own POSTs by a script that the guard refused, by the ``reads:`` line that
    #: would declare each: named when the page then shows no content.
    refused_scripted: dict[str, str] = field(default_factory=dict)
    #: Workers' sockets whose outcome (refused, or connected) is not known yet.
    sockets_pending: dict[Any, str] = field(default_factory=dict)
    console_errors: list[str] = field(default_factory=list)
    errored: asyncio.Event = field(default_factory=asyncio.Event)
    origins: set[str] = field(default_factory=set)
    assets: dict[Request, Asset] = field(default_factory=dict)
    #: Requests the guard aborted: their failure is ours, not production's.
    aborted: set[Request] = field(default_factory=set)
    #: The main frame's latest document answer: after a script redirect, the page that
    #: ended is not the one ``goto`` answered with.
    document: Response | None = None
    #: What requests to the app's origins carry (see :meth:`Tab._read`), and the client
    #: that looks where a navigation's redirects go before it is sent with them.
    access: Access = field(default_factory=Access)
    probe: httpx.AsyncClient | None = None

    @property
    def blocked_count(self) -> int:
        return self.blocked.total

    def block(self, attempt: str) -> None:
        self.blocked.add(attempt)

    def own(self, url: str) -> bool:
        """Whether ``url`` is on one of the app's origins."""
        return origin_of(url) in self.policy.origins

    def allowed(self, kind: str, url: str) -> bool:
        return any(entry.covers(kind, url) for entry in self.allow)

    def refuse(self, attempt: str, method: str, url: str, body: bytes | None = None,
               content_type: str | None = None) -> None:
        """A request the guard refused: listed, and kept as needed (failing the page) when
        it was the page's own data channel and the check does not allow it to fail."""
        self.block(attempt)
        # A declared read refused all the same (it redirected, it was no query) is no
        # undeclared need: how it was refused is said on the attempt.
        declared = (self.policy.socket_read(url) if method == "WEBSOCKET"
                    else self.policy.http_read(method, url)) is not None
        if not declared and self.own(url) \
                and (line := needed_read(method, url, body, content_type)) is not None:
            kind = line.split()[0]
            if not self.allowed("POST" if kind == GRAPHQL else kind, url):
                self.needed.setdefault(line, attempt)
                self.broken.set()

    def fail(self, kind: str, url: str, why: str) -> None:
        """One of the page's requests failed: the app's own fails the page (unless allowed),
        another host's is a note."""
        if self.own(url):
            if self.allowed(kind, url):
                self.request_notes.add(f"{kind} {path_of(url)} {why} (allowed to fail)")
                return
            self.failed.add(f"{kind} {shorten(path_of(url), 100)} {why}")
            self.broken.set()
        else:
            self.request_notes.add(f"third-party {kind} {shorten(url, 100)} {why}")

    def blocked_list(self) -> list[str]:
        """The attempts kept (``×N`` when repeated), and how many more there were."""
        return self.blocked.listed()

    def read_timeout_ms(self) -> float:
        return max(self.deadline - time.monotonic(), MIN_READ_TIMEOUT) * 1000

    def _explained_by(self, error: str) -> str:
        """The aborted write an error came from: a synchronous XHR throws at once (the latest
        XHR), a fetch's promise fails later (the oldest fetch)."""
        xhr = "XMLHttpRequest" in error
        kinds = [kind for kind, _ in self.unexplained_aborts]
        if xhr and "xhr" in kinds:
            index = len(kinds) - 1 - kinds[::-1].index("xhr")
        elif not xhr and "fetch" in kinds:
            index = kinds.index("fetch")
        else:
            index = 0
        return self.unexplained_aborts.pop(index)[1]

    def caused_by_guard(self, error: str) -> str | None:
        """The note for a page error that smokeseal's guard caused, else None."""
        if _SHARED_WORKER_ERROR.match(error):
            return SHARED_WORKER_NOTE
        if found := _SWITCHED_OFF_ERROR.match(error):
            return (f"page called {found.group(1)}, which smokeseal switches off: it sends "
                    "where the read-only guard cannot see")
        if self.unexplained_aborts and not self.other_failures \
                and _NETWORK_FAILURE.fullmatch(error):
            write = self._explained_by(error)
            return (f"uncaught page error: {shorten(error)} (raised because the read-only "
                    f"guard refused {shorten(write, 100)})")
        return None


def _origin(url: str) -> str | None:
    match = re.match(r"(https?://[^/?#]+)", url)
    return match.group(1) if match else None


class Tab:
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
            await _close(context)
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
        _note_once(self.visit, f"page opened a popup ({shorten(page.url, 100)}): closed, as "
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
        if origin := _origin(request.url):
            self.visit.origins.add(origin)
        # A tab closed under a pending request makes these raise; nothing is left to guard.
        with contextlib.suppress(PlaywrightError):
            frame = _frame_of(request)
            if (_page_of(frame) is not self.page) if frame is not None \
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
        if request.resource_type in _SCRIPTED:
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
        if not request.is_navigation_request() and not _streams(request):
            response = await self._one_hop(route, visit)
            if response is not None:
                await route.fulfill(response=response)
            return
        if visit.probe is not None:
            from smokeseal.checks.http import leaves_app

            left = await leaves_app(visit.probe, request.method, request.url,
                                    access=visit.access, headers=request.headers)
            if left is not None:
                _note_once(visit, f"{shorten(request.url, 100)} {left}: sent without the "
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
            _note_once(self.visit, f"the page's own {', '.join(replaced)} header replaced by "
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

    def _on_page_error(self, error: Any) -> None:
        text = _error_text(error)
        if note := self.visit.caused_by_guard(text):
            self.visit.notes.append(note)
            return
        if len(self.visit.page_errors) < MAX_CONSOLE_KEPT:
            self.visit.page_errors.append(text[:MAX_CONSOLE_CHARS])
        self.visit.errored.set()

    def _on_console(self, message: Any) -> None:
        # Kept up to a bound: a page that logs in a loop must not fill the memory.
        if message.type == "error" and len(self.visit.console_errors) < MAX_CONSOLE_KEPT:
            self.visit.console_errors.append(_printable(message.text[:MAX_CONSOLE_CHARS]))

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
        if not _streams(request):
            self.visit.inflight.add(request)
        # A worker's script is none of the page's bundle, and never reports finishing.
        if request.resource_type in ASSET_TYPES and _frame_of(request) is not None:
            self.visit.assets[request] = Asset(request.url, request.resource_type)
        if (hop := request.redirected_from) is not None and (asset := self.visit.assets.get(hop)):
            asset.done = True  # its redirect is followed by the request just made

    def _on_response(self, response: Response) -> None:
        request = response.request
        visit = self.visit
        asset = visit.assets.get(request)
        if asset is not None:
            asset.mime = _mime(response) or None
            if asset.problem is None:
                asset.problem = _asset_answer_problem(asset, response)
                if asset.problem is not None:
                    self._asset_failed(asset.url)
        elif request.method in READ_ONLY_METHODS and request not in visit.aborted:
            self._judge_answer(request, response)
        if request.is_navigation_request() and not 300 <= response.status < 400 \
                and _frame_of(request) == self.page.main_frame:
            self.visit.document = response

    def _judge_answer(self, request: Request, response: Response) -> None:
        """A GET or HEAD of the page's answered: the app's own 5xx fails the page (the page
        document's status is judged by ``expect.status``), a 4xx is a note (a fetch that
        finds nothing may be how the app asks)."""
        status = response.status
        if status < 400 or (request.is_navigation_request()
                            and _frame_of(request) == self.page.main_frame):
            return
        if _path_is(request.url, "/favicon.ico"):
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
        if request.resource_type in _SCRIPTED and request not in visit.aborted:
            visit.other_failures += 1
        failure = request.failure or "failed"
        # ERR_ABORTED is the browser cancelling (a navigation away, a script whose error
        # status was already recorded, a fetch the page aborted), not production failing.
        ours = request in visit.aborted or "ERR_ABORTED" in failure
        asset = visit.assets.get(request)
        if asset is None:
            # The page's own document failing is the load's failure, said on its own.
            document = request.is_navigation_request() \
                and _frame_of(request) == self.page.main_frame
            if ours or document or request.method not in READ_ONLY_METHODS \
                    or _streams(request) or _path_is(request.url, "/favicon.ico"):
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
        if len(self.page.frames) == 1 and (origin := _origin(self.page.url)):
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
        await _close(self.context)


def _note_once(visit: Visit, note: str) -> None:
    if note not in visit.notes:
        visit.notes.append(note)


def _streams(request: Request) -> bool:
    """A request whose answer may never end: an EventSource, audio or video, or a fetch
    asking for an event stream."""
    return request.resource_type in ("eventsource", "media") \
        or "text/event-stream" in request.headers.get("accept", "")


def _path_is(url: str, path: str) -> bool:
    return path_of(url) == path


def _mime(response: Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip().lower()


def _page_of(frame: Any) -> Any:
    """The page a frame belongs to, or None (never raises, as :func:`_frame_of`)."""
    try:
        return frame.page
    except Exception:
        return None


def _frame_of(request: Request) -> Any:
    """The frame that asked, or None (a service worker's request has none). Never raises: an
    event handler's exception would break Playwright's connection."""
    try:
        return request.frame
    except Exception:  # Playwright raises an Error, or asserts, when there is none
        return None


def _asset_answer_problem(asset: Asset, response: Response) -> str | None:
    """What is wrong with how a script or stylesheet answered: an error status, or a web page
    instead (an SPA's catch-all after a deploy renamed the bundle's chunks)."""
    # A 304 or an opaque 0 is not ``ok`` in Playwright's sense, yet the browser has what it
    # needs; a redirect's body is not the asset. Only a 2xx carries it.
    if response.status >= 400:
        return f"answered {response.status}"
    if 200 <= response.status < 300:
        mime = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if mime == "text/html":
            if asset.kind == "script":
                # Chromium runs a classic script served as text/html (a server-rendered
                # /env.js often is): only its body tells a stale chunk from a script.
                asset.html = response
                return None
            # A stylesheet served as a web page is never applied.
            return html_answer(asset, response)
    return None


def html_answer(asset: Asset, response: Response) -> str:
    return (f"answered HTML ({response.status} text/html), not a {asset.kind}: "
            "a stale bundle?")


def is_web_page(body: bytes) -> bool:
    """A body that is a web page (an SPA's index answered for a missing chunk), not code."""
    return body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


async def _close(context: BrowserContext) -> None:
    """Close a context, giving up after :data:`CLOSE_TIMEOUT` (the browser takes it along)."""
    with contextlib.suppress(PlaywrightError, TimeoutError):
        await asyncio.wait_for(context.close(), CLOSE_TIMEOUT)


class BrowserSession:
    """Playwright and one launched browser, for the length of an ``async with``."""

    def __init__(self, executable: str | None = None, *, args: tuple[str, ...] = (),
                 ca_file: str | None = None) -> None:
        self.executable = executable
        #: Launch flags beside :data:`LAUNCH_ARGS` (a private CA's, see
        #: :func:`smokeseal.trust.browser_trust_args`).
        self.args = args
        self.ca_file = ca_file
        self._probe: httpx.AsyncClient | None = None
        self._playwright: Playwright | None = None
        self.browser: Browser | None = None
        self._idle: list[Tab] = []
        self._recycling: set[asyncio.Task[None]] = set()
        #: Tabs (contexts) opened in this session; fewer than page checks means reuse.
        self.tabs_opened = 0
        #: Browsers launched in place of one that crashed (see :meth:`relaunch`).
        self.relaunches = 0
        #: Page checks still to come (see :meth:`plan`): a used tab is wiped for reuse only
        #: while some are.
        self._planned = 0

    @property
    def probe(self) -> httpx.AsyncClient:
        """The HTTP client that looks where a navigation's redirects go before it is sent
        with the app's headers (see :meth:`Tab._read`); made on first use."""
        if self._probe is None:
            from smokeseal.checks.http import read_only_client

            self._probe = read_only_client(self.ca_file)
        return self._probe

    def plan(self, checks: int) -> None:
        """``checks`` more page checks will ask for a tab in this session."""
        self._planned += checks

    @contextlib.asynccontextmanager
    async def tab(self, timeout: float = DEFAULT_TIMEOUT,
                  proxy: Mapping[str, str] | None = None) -> AsyncIterator[Tab]:
        """A wiped tab from the pool going out through ``proxy`` (see
        :func:`smokeseal.checks.http.browser_proxy`), or a new one opened within ``timeout``
        seconds (else :class:`BrowserError`); back to the pool once wiped."""
        assert self.browser is not None
        self._planned -= 1
        same = [index for index, idle in enumerate(self._idle) if idle.proxy == proxy]
        if same:
            tab = self._idle.pop(same[-1])
        else:
            try:
                tab = await asyncio.wait_for(Tab.open(self.browser, proxy), timeout)
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

    async def _recycle(self, tab: Tab) -> None:
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
                executable_path=executable, args=launch_args(self.args), headless=True,
                ignore_default_args=list(IGNORED_DEFAULT_ARGS), timeout=30_000
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
        if self._probe is not None:
            with contextlib.suppress(Exception):
                await self._probe.aclose()
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


def _error_text(error: Any) -> str:
    name = getattr(error, "name", "") or "Error"
    message = getattr(error, "message", "") or str(error)
    return _printable(f"{name}: {message}" if not message.startswith(name) else message)


def _printable(text: str) -> str:
    """Text a page wrote, safe to encode: a lone surrogate (``'\\ud800'`` in JavaScript) is
    spelled out, or writing it anywhere would fail in place of the check."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
