"""``smokeseal init``'s look in the browser: what the home page tries to read, and what it
draws once that data came.

What a server serves is often a frame: a ``<title>``, a static heading, "Loading…", drawn
whatever happens next. The page's data comes later, over requests its script makes, which
no GET of init's sees. So init opens the page in smokeseal's own guarded browser
(:class:`~smokeseal.browser.session.BrowserSession`), as a page check does, lets it settle,
and reads two things:

* **What it needed.** The guard refuses every request that is not GET or HEAD and keeps the
  ones that were the page's data channel (``Visit.needed``: a same-origin WebSocket, a
  GraphQL query POST, Engine.IO's long-polling POST, a framework's data POST), each with the
  ``reads:`` line that declares it. The page is visited again with those declared, until it
  needs nothing new (:data:`MAX_VISITS` visits at most). They are the app's ``reads:``.
* **What it drew with its data** (:func:`choose`): a short line of the last visit, a heading
  first, that the served HTML does not hold, that the first visit (its data channels
  refused) never drew while it was watched, and that is no loading or error message. A
  page whose data does not load does not show it, so a check expecting it is red then.
  The page is then visited once more as a check will visit it, and only a line shown on
  both visits is chosen: a headline that changes on every load (a quote of the day, a
  rotating banner) would make the check it wrote flap.

Read-only as a page check is: the first visit sends only GET and HEAD; later ones add only
the reads the first found, as the guard lets them through (to the app's origin, a GraphQL
read only as a query). Each visit is bounded (:data:`LOAD_TIMEOUT`, :data:`SETTLE_MAX`),
and so is the whole look (:data:`LOOK_TIMEOUT`): a page that hangs is said, not waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, TypeVar

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Request

from smokeseal.browser.launch import find_browser
from smokeseal.browser.session import BrowserSession
from smokeseal.browser.tab import Tab
from smokeseal.browser.visit import BROWSER_GONE, Visit, describe_error
from smokeseal.checks.base import off_app
from smokeseal.checks.http import browser_proxy
from smokeseal.checks.page import VISIBLE_TEXT
from smokeseal.checks.reads import ReadPolicy, parse_read
from smokeseal.errors import BrowserError

__all__ = ["LOOK_TIMEOUT", "MAX_VISITS", "Block", "Drawn", "Sight", "choose", "look"]

T = TypeVar("T")

#: Visits at most: the first with nothing declared, then one per round of new reads.
MAX_VISITS = 4
#: A visit's load event is waited for this long; the page is read even when it did not come.
LOAD_TIMEOUT = 10.0
#: After the load, the page is watched this long at most for its data to arrive.
SETTLE_MAX = 6.0
#: Settled: the text has not changed, no request has started and none is in flight, for this
#: long (see :func:`_settle`).
QUIET = 1.0
#: A request in flight longer than this is a long poll or a stream, not one to wait for.
LONG_REQUEST = 2.0
POLL = 0.2
#: Any one call into the page, and opening or closing a tab.
STEP = 5.0
#: The whole look, browser launch included.
LOOK_TIMEOUT = 75.0
#: The blocks of text read for :func:`choose`, and the longest one considered.
MAX_BLOCKS = 400
MAX_BLOCK_CHARS = 120
#: The most of a line written as ``text:``, cut at a word (see :func:`smokeseal.init.sanitize`).
TEXT_MAX = 60
#: What a page shows while its data is on the way or did not come: never the app's data.
_NOT_DATA = re.compile(
    r"\b(loading|connecting|reconnecting|please wait|waiting|initiali[sz]ing|error|errors|"
    r"failed|failure|fail|went wrong|try again|retry|retrying|not found|unavailable|"
    r"exception|traceback|offline|disconnected|connection lost|could not|couldn't|"
    r"unable to|timed out|timeout|denied|forbidden|unauthori[sz]ed|sign in|log in)\b",
    re.IGNORECASE)
#: A whole line that says the page is still loading: the page is not settled yet.
_LOADING_LINE = re.compile(r"^\W*(loading|connecting|please wait|initiali[sz]ing)\b.{0,30}$",
                           re.IGNORECASE)
#: The text of every drawn element that holds text of its own: its heading level (1-6, or
#: 0), whether it labels something, its text as in the DOM and as ``innerText`` shows it.
_BLOCKS = """([limit, longest]) => {
  const HEADING = 'h1,h2,h3,h4,h5,h6,[role=heading]';
  const LABEL = 'th,dt,label,legend,caption,summary';
  const SKIP = new Set(['script', 'style', 'noscript', 'template', 'title', 'textarea',
                        'option', 'select']);
  const squash = s => (s || '').replace(/\\s+/g, ' ').trim();
  const out = [];
  const seen = new Set();
  const level = el => {
    if (!el.matches(HEADING)) return 0;
    const tag = /^h([1-6])$/.exec(el.localName);
    return tag ? +tag[1] : Math.min(Math.max(+el.getAttribute('aria-level') || 2, 1), 6);
  };
  const read = root => {
    for (const el of root.querySelectorAll('*')) {
      if (out.length >= limit) return;
      if (el.shadowRoot) read(el.shadowRoot);
      if (SKIP.has(el.localName)) continue;
      if (![...el.childNodes].some(n => n.nodeType === Node.TEXT_NODE && n.data.trim())) continue;
      const block = el.closest(HEADING) || el;
      if (seen.has(block)) continue;
      seen.add(block);
      if (!block.checkVisibility({visibilityProperty: true, opacityProperty: true})) continue;
      const text = squash(block.textContent);
      if (!text || text.length > longest) continue;
      out.push([level(block), block.matches(LABEL),
                text, squash(block instanceof HTMLElement ? block.innerText : text)]);
    }
  };
  read(document);
  return out;
}"""


@dataclass(frozen=True)
class Block:
    """One drawn element's text: ``text`` as in the DOM (what ``text:`` is written with),
    ``shown`` as a visitor reads it (``text-transform`` applied); ``heading`` 1-6 for a
    heading, 0 otherwise; ``label`` for a table header, a term, a form label."""

    text: str
    shown: str
    heading: int = 0
    label: bool = False


@dataclass
class Sight:
    """What one visit saw."""

    #: The reads declared for it.
    declared: tuple[str, ...]
    #: What the guard refused that the page needed: ``reads:`` line -> first attempt.
    needed: dict[str, str] = field(default_factory=dict)
    #: Everything visible, as a page check reads it, whitespace collapsed.
    text: str = ""
    blocks: list[Block] = field(default_factory=list)
    #: Requests the page's script made for data (fetch, XHR, event streams), any origin.
    scripted: int = 0
    #: Why the page could not be read (it did not load, stopped answering, left the app).
    failure: str | None = None
    page_errors: list[str] = field(default_factory=list)
    read_failures: list[str] = field(default_factory=list)
    #: Every line the page showed while it was watched, whitespace collapsed.
    ever: str = ""
    #: A line saying the page was still loading when the watch ended.
    loading: str | None = None


@dataclass
class Drawn:
    """What the look found, for :mod:`smokeseal.init` to write."""

    sights: list[Sight] = field(default_factory=list)
    #: The visit made again, as the config's check will make it, once no new read was
    #: needed: a line shown then too is no line of one load only.
    again: Sight | None = None
    #: Why no browser could look (none found, or it would not start).
    unavailable: str | None = None
    #: Why the look ended early (a time limit, the browser failing).
    stopped: str | None = None
    chosen: Block | None = None

    @property
    def needed(self) -> dict[str, str]:
        """Every read a visit needed, in the order found, with its first refused attempt."""
        found: dict[str, str] = {}
        for sight in self.sights:
            for line, attempt in sight.needed.items():
                found.setdefault(line, attempt)
        return found

    @property
    def last(self) -> Sight | None:
        return self.sights[-1] if self.sights else None

    @property
    def exhausted(self) -> bool:
        """The last visit still needed reads it had not declared."""
        last = self.last
        return last is not None and any(line not in last.declared for line in last.needed)

    def unverified(self, drawn_by_script: bool = False) -> str | None:
        """Why the page's data could not be seen loading, or None when it was, or when the
        page loads no data by script (its text comes with its HTML). ``drawn_by_script``:
        the app is known to draw its page by script (a framework recognised over HTTP)."""
        if self.chosen is not None:
            return None
        if self.unavailable is not None:
            return f"no browser ({self.unavailable})"
        last = self.last
        if last is not None and last.failure is not None:
            return last.failure
        if self.stopped is not None:
            return self.stopped
        if last is None:
            return "the browser saw nothing"
        if self.exhausted:
            return (f"/ still needed more reads after {len(self.sights)} visits "
                    f"({', '.join(line for line in last.needed if line not in last.declared)})")
        if last.page_errors:
            return f"/ raised an uncaught error in the browser: {last.page_errors[0]}"
        if last.read_failures:
            return f"its read {last.read_failures[0]}"
        if last.loading is not None:
            return f"/ still showed {last.loading!r} after {LOAD_TIMEOUT + SETTLE_MAX:g} s"
        if not last.text:
            return "/ showed no text in the browser"
        if not (self.needs_data or drawn_by_script):
            return None
        return ("/ drew no text once its data had loaded that its served HTML does not hold "
                "and that it did not draw without its data")

    @property
    def needs_data(self) -> bool:
        """The page reads data by script: it fetched, or needed a read."""
        return any(sight.scripted or sight.needed for sight in self.sights)


def look(url: str, served: str, executable: str | None = None,
         ca_file: str | None = None) -> Drawn:
    """Open ``url`` (the app's home page, whose HTML as served is ``served``) in the guarded
    browser until it needs no new read, and choose the text it drew with its data. The
    browser trusts ``ca_file`` on ``url``'s host as a run's does (see :mod:`smokeseal.trust`)."""
    drawn = Drawn()
    try:
        executable = executable or find_browser()
    except BrowserError as exc:
        drawn.unavailable = str(exc)
        return drawn
    try:
        asyncio.run(asyncio.wait_for(_look(url, executable, drawn, ca_file), LOOK_TIMEOUT))
    except TimeoutError:
        drawn.stopped = f"the look in the browser did not end within {LOOK_TIMEOUT:g} s"
    except BrowserError as exc:
        # Only the launch raises it: no visit was made.
        drawn.unavailable = str(exc)
    except PlaywrightError as exc:
        drawn.stopped = f"the browser failed: {describe_error(exc)}"
    last = drawn.last
    if last is not None and last.failure is None and not drawn.exhausted:
        frame = drawn.sights[0] if len(drawn.sights) > 1 else None
        again = drawn.again if drawn.again is not None and drawn.again.failure is None \
            else None
        drawn.chosen = choose(last, frame, served, again)
    return drawn


async def _look(url: str, executable: str, drawn: Drawn, ca_file: str | None) -> None:
    from smokeseal.trust import browser_trust_args

    # Its handshakes (to see the leaf the host presents) are bounded, and off the loop.
    args = await asyncio.to_thread(browser_trust_args, ca_file, [url])
    async with BrowserSession(executable, args=args, ca_file=ca_file) as session:
        declared: dict[str, str] = {}
        while len(drawn.sights) < MAX_VISITS:
            sight = Sight(tuple(declared))
            drawn.sights.append(sight)
            await _visit(session, url, sight)
            new = {line: attempt for line, attempt in sight.needed.items()
                   if line not in declared}
            if sight.failure is not None:
                return
            if not new:
                # Once more, as the check will visit it: what it chooses must show twice.
                drawn.again = Sight(tuple(declared))
                await _visit(session, url, drawn.again)
                return
            declared.update(new)


class _Traffic:
    """The page's own requests: when the last started, which are in flight, and how many
    its script made for data."""

    def __init__(self) -> None:
        self.last_start = time.monotonic()
        self.flying: dict[Request, float] = {}
        self.scripted = 0

    def started(self, request: Request) -> None:
        self.last_start = time.monotonic()
        if request.resource_type in ("fetch", "xhr", "eventsource"):
            self.scripted += 1
            self.flying[request] = self.last_start

    def ended(self, request: Request) -> None:
        self.flying.pop(request, None)

    def quiet(self, now: float) -> bool:
        return now - self.last_start >= QUIET and not any(
            now - since < LONG_REQUEST for since in self.flying.values())


class _Hung(Exception):
    """The page stopped answering."""


async def _bounded(step: Awaitable[T], seconds: float = STEP) -> T:
    try:
        return await asyncio.wait_for(step, seconds)
    except TimeoutError:
        raise _Hung from None


async def _visit(session: BrowserSession, url: str, sight: Sight) -> None:
    policy = ReadPolicy.of([parse_read(line) for line in sight.declared], [url])
    try:
        async with session.tab(STEP, browser_proxy(url)) as tab:
            await _read_page(tab, policy, url, sight)
    except BrowserError as exc:
        sight.failure = f"the browser failed: {exc}"


async def _read_page(tab: Tab, policy: ReadPolicy, url: str, sight: Sight) -> None:
    tab.reusable = False  # one visit per tab: every visit is a new visitor's
    visit = tab.start(policy, LOAD_TIMEOUT + SETTLE_MAX)
    traffic = _Traffic()
    tab.page.on("request", traffic.started)
    tab.page.on("requestfinished", traffic.ended)
    tab.page.on("requestfailed", traffic.ended)
    try:
        await _bounded(tab.arm(policy))
        await _load(tab.page, url, sight)
        if sight.failure is None:
            await _settle(tab.page, visit, traffic, sight)
        if sight.failure is None and (left := off_app(tab.page.url, [url])):
            sight.failure = f"/ {left}"
        if sight.failure is None:
            raw = await _evaluate(tab.page, _BLOCKS, [MAX_BLOCKS, MAX_BLOCK_CHARS])
            sight.blocks = [Block(text, shown, level, label)
                            for level, label, text, shown in raw or []]
        # A worker's socket is known refused (and so needed) only once the browser says so.
        await _bounded(tab.settle_sockets(QUIET))
    except _Hung:
        sight.failure = "/ stopped answering (its script did not yield)"
    except PlaywrightError as exc:
        sight.failure = f"/ could not be read: {describe_error(exc)}"
    sight.needed = dict(visit.needed)
    sight.scripted = traffic.scripted
    sight.page_errors = list(visit.page_errors)
    sight.read_failures = visit.read_failures.listed()


async def _evaluate(page: Page, script: str, arg: object = None, tries: int = 3) -> Any:
    """``script``'s result in the page, or None when the page kept navigating (its document
    replaced under the call, ``tries`` times): it shows nothing at that moment."""
    for attempt in range(tries):
        if attempt:
            await asyncio.sleep(POLL)
        try:
            return await _bounded(page.evaluate(script, arg))
        except PlaywrightError as exc:
            if describe_error(exc) == BROWSER_GONE:
                raise
    return None


async def _load(page: Page, url: str, sight: Sight) -> None:
    try:
        response = await _bounded(page.goto(url, wait_until="load",
                                            timeout=LOAD_TIMEOUT * 1000), LOAD_TIMEOUT + STEP)
    except PlaywrightError as exc:
        why = describe_error(exc)
        if "Timeout" not in why:
            sight.failure = f"/ did not load: {why}"
        return  # a load event that never came: the page is read as it is
    if response is not None and not 200 <= response.status < 300:
        sight.failure = f"/ answered {response.status} in the browser"


async def _settle(page: Page, visit: Visit, traffic: _Traffic, sight: Sight) -> None:
    """Read the page until its text stopped changing, its requests went quiet and it no
    longer says it is loading (unless it needed a read that was refused: then it never
    will), or it raised; :data:`SETTLE_MAX` at most. Every line it showed meanwhile is kept:
    the first visit's are what the page draws without its data."""
    start = changed = time.monotonic()
    text = None
    seen: dict[str, None] = {}
    while True:
        shown = await _evaluate(page, VISIBLE_TEXT)
        now_text = _squash(str(shown or ""), lines=True)
        seen.update(dict.fromkeys(now_text.split("\n")))
        now = time.monotonic()
        if now_text != text:
            text, changed = now_text, now
        loading = any(map(_LOADING_LINE.match, text.split("\n")))
        if now - changed >= QUIET and (visit.page_errors or (
                traffic.quiet(now) and (visit.needed or not loading))):
            break
        if now - start >= SETTLE_MAX:
            break
        await asyncio.sleep(POLL)
    lines = (text or "").split("\n")
    sight.loading = next((line for line in lines if _LOADING_LINE.match(line)), None)
    sight.text = _squash(text or "")
    sight.ever = "\n".join(line for line in seen if line)


def choose(final: Sight, frame: Sight | None, served: str,
           again: Sight | None = None) -> Block | None:
    """The block of ``final`` a check should expect: drawn with the page's data, so absent
    when it does not load. It is visible as a page check reads the page (case and
    whitespace folded), on ``again`` too (the same visit made once more) when given; not in
    the served HTML (its text, scripts and attributes); never shown by ``frame``, the visit
    with the page's data channels refused, while it was watched; no loading or error
    message. Preferred: no digits (a count changes), a heading (a higher one first), a
    label, a short line, one shown as written (no ``text-transform``), the first."""
    shown = _fold(final.text)
    shown_again = _fold(again.text) if again is not None else shown
    unwanted = _served_texts(served) + (
        [_fold(frame.text), _fold(frame.ever)] if frame is not None else [])
    best: tuple[tuple[int, ...], Block] | None = None
    for order, block in enumerate(final.blocks):
        text = _cut(block.text)
        folded = _fold(text)
        if len(text) < 3 or not re.search(r"[^\W\d_]{2}", text) \
                or folded not in shown or folded not in shown_again \
                or any(folded in other for other in unwanted) or _NOT_DATA.search(text):
            continue
        rank = block.heading or (7 if block.label else 8)
        key = (bool(re.search(r"\d", text)), rank, len(text) > 40,
               _squash(text) not in final.text, order)
        if best is None or key < best[0]:
            best = (key, Block(text, block.shown, block.heading, block.label))
    return best[1] if best else None


def _cut(text: str) -> str:
    """At most :data:`TEXT_MAX` characters, cut at a word: still part of what is shown."""
    from smokeseal.init import sanitize

    return sanitize(text, TEXT_MAX)


def _served_texts(served: str) -> list[str]:
    """The served HTML as a check would compare text with it: as sent (entities decoded,
    so attributes and script strings count) and as its text reads (tags dropped)."""
    reader = _AllText()
    with contextlib.suppress(Exception):  # whatever production sent
        reader.feed(served)
        reader.close()
    return [_fold(html.unescape(served)), _fold(" ".join(reader.parts))]


class _AllText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _squash(text: str, lines: bool = False) -> str:
    if lines:
        return "\n".join(filter(None, (" ".join(line.split()) for line in text.splitlines())))
    return " ".join(text.split())


def _fold(text: str) -> str:
    return _squash(text).casefold()

