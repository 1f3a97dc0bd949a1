"""What one page visit saw, collected by its tab (:mod:`smokeseal.browser.tab`) and its
guard (:mod:`smokeseal.browser.guard`), for the verdict of :mod:`smokeseal.checks.page`.

This module does not import Playwright at run time: the objects it holds are Playwright's,
handled as they come.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smokeseal.access import Access
from smokeseal.checks.base import Tally, shorten
from smokeseal.checks.reads import (
    GRAPHQL,
    AllowFailing,
    ReadPolicy,
    needed_read,
    origin_of,
    path_of,
)

if TYPE_CHECKING:
    import httpx
    from playwright.async_api import Request, Response

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
SCRIPTED = frozenset({"fetch", "xhr"})


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


def origin_prefix(url: str) -> str | None:
    match = re.match(r"(https?://[^/?#]+)", url)
    return match.group(1) if match else None



def note_once(visit: Visit, note: str) -> None:
    if note not in visit.notes:
        visit.notes.append(note)


def streams(request: Request) -> bool:
    """A request whose answer may never end: an EventSource, audio or video, or a fetch
    asking for an event stream."""
    return request.resource_type in ("eventsource", "media") \
        or "text/event-stream" in request.headers.get("accept", "")


def path_is(url: str, path: str) -> bool:
    return path_of(url) == path


def mime_of(response: Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip().lower()


def page_of(frame: Any) -> Any:
    """The page a frame belongs to, or None (never raises, as :func:`_frame_of`)."""
    try:
        return frame.page
    except Exception:
        return None


def frame_of(request: Request) -> Any:
    """The frame that asked, or None (a service worker's request has none). Never raises: an
    event handler's exception would break Playwright's connection."""
    try:
        return request.frame
    except Exception:  # Playwright raises an Error, or asserts, when there is none
        return None


def asset_answer_problem(asset: Asset, response: Response) -> str | None:
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


_GONE = ("Target page, context or browser has been closed", "Browser has been closed",
         "Target closed", "Browser closed")
BROWSER_GONE = "the browser closed mid-check (crashed or killed)"


def describe_error(exc: BaseException) -> str:
    """One line for a Playwright error: what happened, not the call log."""
    line = first_line(exc)
    return BROWSER_GONE if any(gone in line for gone in _GONE) else line


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    # Playwright appends a call log and ANSI boxes; the first line says what happened.
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    line = text.splitlines()[0] if text else type(exc).__name__
    return re.sub(r"^[A-Za-z]+\.[A-Za-z_]+: ", "", line)  # "Page.goto: " names our call


def error_text(error: Any) -> str:
    name = getattr(error, "name", "") or "Error"
    message = getattr(error, "message", "") or str(error)
    return printable(f"{name}: {message}" if not message.startswith(name) else message)


def printable(text: str) -> str:
    """Text a page wrote, safe to encode: a lone surrogate (``'\\ud800'`` in JavaScript) is
    spelled out, or writing it anywhere would fail in place of the check."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
