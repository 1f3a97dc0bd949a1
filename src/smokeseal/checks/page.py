"""Judging one page check: load the page in a clean read-only tab, wait for what it should
show, and say what is wrong with it.

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
import hmac
import os
import re
import time
import unicodedata
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Response
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from smokeseal.access import Access
from smokeseal.browser.session import BrowserSession
from smokeseal.browser.tab import WATCH_KEY
from smokeseal.browser.visit import (
    BROWSER_GONE,
    DEFAULT_TIMEOUT,
    FRAME_TIMEOUT,
    MAX_NOTES,
    POLL,
    SCREENSHOT_TIMEOUT,
    STEP_GRACE,
    Visit,
    describe_error,
    html_answer,
    is_web_page,
)
from smokeseal.checks.base import (
    CheckResult,
    Stopwatch,
    header_failures,
    join_url,
    off_app,
    shorten,
    slug,
    status_failure,
)
from smokeseal.checks.http import browser_proxy
from smokeseal.checks.reads import Read, ReadPolicy
from smokeseal.checks.signin import signin_failure
from smokeseal.checks.trace import TRACE_FILE, access_values, start_trace, stop_trace
from smokeseal.checks.vitals import folded_errors, measure
from smokeseal.errors import BrowserError
from smokeseal.evidence import mark_run_folder
from smokeseal.secrets import scrub

if TYPE_CHECKING:
    from smokeseal.config import Check, Expect

__all__ = ["ERROR_SHELL_MAX_CHARS", "SETTLE_MS", "VISIBLE_TEXT", "evidence_name", "fold",
           "run_page_check", "tls_failure"]

T = TypeVar("T")

#: Lets the scripts queued by the load event run, so their errors are seen.
_SETTLE = "() => new Promise(r => requestAnimationFrame(() => setTimeout(r)))"
#: What a visitor can read in a frame: nothing in one drawn without a size (hidden, 0x0).
#: ``innerText`` leaves out what web components draw in their (open) shadow roots and what
#: form controls show (a button's value, a field's placeholder): those are read too.
VISIBLE_TEXT = """() => {
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
  const watch = window['__KEY__'];
  const read = root => {
    for (const el of root.querySelectorAll('*')) {
      // A closed root is read too: a visitor sees what it draws.
      const shadow = el.shadowRoot || (watch ? watch.closed(el) : null);
      if (shadow && drawn(el)) {
        const seen = getComputedStyle(el).visibility === 'visible';
        for (const node of shadow.childNodes) {
          if (node.nodeType === Node.TEXT_NODE) {
            if (seen) parts.push(node.data);
          } else if (node.nodeType === Node.ELEMENT_NODE && drawn(node)) {
            // innerText leaves out what is hidden in it; an SVG has no innerText.
            parts.push(node instanceof HTMLElement ? node.innerText : node.textContent);
          }
        }
        read(shadow);
      }
      if ((el.localName === 'input' || el.localName === 'textarea')
          && el.checkVisibility({visibilityProperty: true})) {
        parts.push(control(el));
      }
    }
  };
  read(document);
  return parts.join('\\n');
}""".replace("__KEY__", WATCH_KEY)
#: Whether the page is quiet (see :data:`smokeseal.browser.tab.WATCH_SCRIPT`): the time to
#: its next timer and since its content last changed, in ms.
_QUIET = f"() => window['{WATCH_KEY}'] ? window['{WATCH_KEY}'].quiet() : null"
#: The least a Playwright wait is given, seconds, even when the check's timeout is all but
#: spent: one real look at the page, not a give-up before asking it.
LAST_LOOK = 1.0
#: How Playwright says one of its own timeouts ran out.
_PLAYWRIGHT_TIMEOUT = re.compile(r"\bTimeout \d+(\.\d+)?ms exceeded")
#: The longest page (characters, whitespace collapsed) taken for an error shell when it
#: shows one of :data:`smokeseal.config.ERROR_SHELL_TEXTS`: a real page may mention them.
ERROR_SHELL_MAX_CHARS = 500
#: How long the verdict waits for declared reads already sent (see :func:`_settle_reads`).
READ_GRACE = 3.0
#: The least the verdict waits for a worker's socket to be refused, even past the timeout.
MIN_SOCKET_WAIT = 1.0
#: How long a page is watched after its content showed (``expect.settle_ms``'s default): a
#: page that crashes, swaps in an error boundary or loses its content a second after drawing
#: it is broken.
SETTLE_MS = 1500
#: A page is quiet, and its watch ends early, when nothing of it is in flight (no request,
#: no open socket), no timer of it is due within the watch, and its content has not changed
#: for this long: what would still break it has nothing left to run on.
QUIET_MS = 100
#: Content gone this long within the watch is lost, not redrawn.
LOST_MS = 400
#: Characters that a reader does not see: folded away with case and whitespace.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))


class _Stuck(Exception):
    """A step outlived the check's timeout and its grace: the page stopped answering."""


class _Budget:
    """The check's timeout, shared by every step of it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def left(self) -> float:
        return max(self._end - time.monotonic(), 0.0)

    def ms(self, at_least: float = 0.001) -> float:
        """What is left, for a Playwright timeout (where 0 would mean none), and at least
        ``at_least`` seconds."""
        return max(self.left(), at_least) * 1000

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
    visit: Visit
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
    #: What the page should show never showed, or went away.
    content_missing: bool = False
    #: What the page should show was seen (and not lost after).
    content_seen: bool = False


@dataclass
class _Shown:
    """What the selector wait and the text watch of one look tell each other."""

    visible: bool = False
    #: The selector wait ended (or there is none): no error shell can cut it short any more.
    settled: bool = True
    #: The page shows an error shell: the selector need not be waited for.
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    #: The expected text (or any text, where that matters) was seen.
    text: bool = False


async def run_page_check(session: BrowserSession, check: Check, base_url: str,
                         evidence_dir: Path | None = None, *,
                         app_urls: Sequence[str] = (),
                         reads: Sequence[Read] = (),
                         access: Access | None = None,
                         secrets: Sequence[str] = (),
                         trace: bool = True) -> CheckResult:
    """Open the check's page in a clean read-only tab and judge what rendered.

    ``app_urls`` are the app's other URLs (its canonical url and aliases): the page may end
    on their hosts as on ``base_url``'s, and their scripts and stylesheets are its own.
    ``reads`` are the app's declared reads; the check's own are added. They pass the guard
    only to the origin of ``base_url`` or of ``app_urls``.
    ``access``'s cookies are put in the tab's store for the app's origins only (the tab was
    wiped of the last check's), and its headers go with requests to those origins only.
    ``secrets`` never name the evidence's folder (see :func:`evidence_name`) and are taken
    out of its trace. With ``trace`` (and an ``evidence_dir``), the visit is traced and a
    failure keeps ``trace.zip`` beside the screenshot (see :mod:`smokeseal.checks.trace`).
    """
    url = join_url(base_url, check.target)
    budget = _Budget(check.timeout or DEFAULT_TIMEOUT)
    watch = Stopwatch()
    own = (base_url, *app_urls)
    policy = ReadPolicy.of((*reads, *check.parsed_reads), own)
    try:
        async with session.tab(budget.left() + STEP_GRACE, browser_proxy(url)) as tab:
            visit = tab.start(policy, budget.left(), access,
                              session.probe if access else None,
                              check.expect.allowed_failures())
            look = _Look(tab.page, check.expect, budget, visit, own, url)
            await budget.bound(tab.arm(policy))
            traced = trace and evidence_dir is not None and await start_trace(tab.context)
            if access and access.cookies:
                await budget.bound(tab.context.add_cookies(
                    access.browser_cookies()))  # type: ignore[arg-type]
            await _visit(look)
            # A worker's socket is judged by its outcome: refused, or it reached production.
            await budget.bound(tab.settle_sockets(max(budget.left(), MIN_SOCKET_WAIT)))
            if look.status is None or look.stuck:
                tab.reusable = False  # it never loaded, or stopped answering: do not trust it
            result = await _result(check, look, watch.ms(), evidence_dir, secrets)
            if traced:
                keep = Path(result.evidence) / TRACE_FILE if result.evidence else None
                if not await stop_trace(tab.context, keep, [*secrets, *access_values(access)],
                                        [name for name, _ in access.headers] if access else ()):
                    tab.reusable = False  # its tracing is in doubt
            return result
    except BrowserError as exc:
        return CheckResult(check.label, "page", False, f"could not load: {exc}", watch.ms(),
                           url=url)


async def _result(check: Check, look: _Look, ms: int, evidence_dir: Path | None,
                  secrets: Sequence[str] = ()) -> CheckResult:
    failures = look.failures
    visit = look.visit
    blocked = visit.blocked_list()
    notes = _capped_notes([*visit.notes, *look.notes])
    if check.expect.max_ms is not None and ms > check.expect.max_ms:
        failures.append(f"took {ms} ms, over max_ms {check.expect.max_ms}")
    if reached := visit.reached.listed():
        # Past the guard: a failure whatever no_writes says, never a blocked attempt.
        failures.append("a write reached production: " + ", ".join(
            shorten(entry, 120) for entry in reached[:3])
            + (f" (+{len(reached) - 3} more)" if len(reached) > 3 else ""))
    if blocked and check.expect.no_writes:
        failures.append(f"page tried to write: {_list_blocked(visit)}")
    evidence = None
    if failures and evidence_dir is not None:
        evidence = await _keep_evidence(look, evidence_dir / evidence_name(check.label, secrets),
                                        blocked, notes)
    if failures:
        detail = "; ".join(failures)
    else:
        detail = str(look.status)
        if count := visit.blocked_count:
            detail += f"; blocked {count} write attempt{'s' * (count > 1)}"
    return CheckResult(check.label, "page", not failures, detail, ms, url=look.final_url,
                       blocked_writes=blocked, evidence=evidence, notes=notes,
                       reads=visit.reads.listed(),
                       vitals=None if look.stuck or look.status is None else await measure(
                           look.page),
                       # Scrubbed before folding: a folded secret would no longer match.
                       console_errors=folded_errors(scrub(error, secrets) for error in (
                           *visit.page_errors, *visit.console_errors)))


#: Tells apart the folders of labels that differ only in their secrets; made afresh by each
#: process and never kept, so a folder's name is no hash a guess at a secret can be tried on.
_FOLDER_KEY = os.urandom(32)


def evidence_name(label: str, secrets: Sequence[str]) -> str:
    """The name of a check's evidence folder: the slug of its label once the config's
    secrets are taken out of it (the label of a check with no ``name:`` is its path, and
    ``page: /start?token=${TOKEN}`` or ``/t/${TOKEN}`` puts a secret there).

    It is the filter every shown text goes through, applied before the slug (which would
    lowercase a secret out of its reach). A label that held a secret also gets a tag, keyed
    by :data:`_FOLDER_KEY`, so that two checks differing only in their secrets do not
    share a folder.
    """
    scrubbed = scrub(label, secrets)
    if scrubbed == label:
        return slug(label)
    tag = hmac.new(_FOLDER_KEY, label.encode(), "sha256").hexdigest()[:8]
    return f"{slug(scrubbed)[:51]}-{tag}"


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
            look.failures.append(f"page did not answer within {budget.seconds:g} s"
                                 if _timed_out(exc) else
                                 f"page failed while checking: {describe_error(exc)}")
        look.final_url = look.page.url
    look.failures += _asset_failures(look)
    look.failures += _request_failures(look.visit)
    look.failures += [f"read {failure}" for failure in look.visit.read_failures.listed()]
    look.notes += [f"read {note}" for note in look.visit.read_notes.listed()]
    look.notes += look.visit.request_notes.listed()
    if errors := look.visit.page_errors:
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        look.failures.insert(0, f"uncaught page error: {shorten(errors[0])}{more}")
    if look.content_missing and not look.visit.needed and (hint := _maybe_needed(look.visit)):
        look.failures.append(hint)
    if needed := _needed_failure(look.visit, shown=look.content_seen):
        # First: it explains what follows (a page stuck on "Connecting…" with no text).
        look.failures.insert(0, needed)


def _needed_failure(visit: Visit, shown: bool = False) -> str | None:
    """The refused requests the page needed for its data, each with the ``reads:`` line that
    would let it through (see :func:`smokeseal.checks.reads.needed_read`). When the page
    showed its content all the same, the channel may be one it does without (a live
    notification socket): then ``allow_failing`` is offered first."""
    if not visit.needed:
        return None
    lines = list(visit.needed)
    attempts = ", ".join(shorten(visit.needed[line], 100) for line in lines[:3])
    more = f" (+{len(lines) - 3} more)" if len(lines) > 3 else ""
    declare = ", ".join(f'"{line}"' for line in lines)
    read = f"if it only reads, declare it: reads: [{declare}]"
    allow = f"if the page does without it, allow_failing: [{declare}]"
    if shown:
        return (f"the read-only guard refused a data channel of the page's: {attempts}{more}; "
                f"{allow}; {read}")
    return (f"the read-only guard refused what the page needs for its data: {attempts}{more}; "
            f"{read}; {allow}")


def _maybe_needed(visit: Visit) -> str | None:
    """For a page whose content never showed: the app's own POSTs by script that the guard
    refused and that are no known data channel (an RPC the framework reads by), with the
    line that would declare them if they only read."""
    if not visit.refused_scripted:
        return None
    lines = list(visit.refused_scripted)[:3]
    refused = ", ".join(shorten(visit.refused_scripted[line], 100) for line in lines)
    declare = ", ".join(f'"{line}"' for line in lines)
    return (f"the read-only guard refused {refused}: if the page reads its content through "
            f"it, declare it: reads: [{declare}]")


def _request_failures(visit: Visit) -> list[str]:
    """The app's own requests that failed (5xx, no answer, refused by the browser)."""
    failed = visit.failed.listed()
    if len(failed) > 3:
        failed[3:] = [f"+{visit.failed.total - 3} more of the app's requests failed"]
    return [f"request {entry}" for entry in failed]


def _timed_out(exc: BaseException) -> bool:
    """A Playwright timeout, whatever class it came as: its own text ("Timeout 1ms
    exceeded") names no check's timeout and is never shown."""
    return isinstance(exc, PlaywrightTimeoutError) or bool(
        _PLAYWRIGHT_TIMEOUT.search(describe_error(exc)))


def _load_failure(exc: BaseException, seconds: float) -> str:
    reason = describe_error(exc)
    if isinstance(exc, _Stuck) or _timed_out(exc):
        return f"page did not finish loading within {seconds:g} s"
    return tls_failure(reason) or reason


#: Chromium's TLS failures, and the https origin it names.
_TLS_FAILURE = re.compile(r"net::((?:ERR_CERT|ERR_SSL)_[A-Z0-9_]+) at (https://[^/?#\s]+)")
#: The ones a CA bundle fixes: the chain ends at a CA this browser does not trust.
_UNTRUSTED = frozenset({"ERR_CERT_AUTHORITY_INVALID", "ERR_CERT_INVALID"})


def tls_failure(reason: str) -> str | None:
    """``https://app.internal:8443: certificate not trusted (ERR_CERT_AUTHORITY_INVALID):
    set SSL_CERT_FILE or ca_file to your CA bundle`` for a TLS failure, else None."""
    from smokeseal.checks.http import TLS_FIX

    match = _TLS_FAILURE.search(reason)
    if match is None:
        return None
    code, origin = match.groups()
    if code in _UNTRUSTED:
        return f"{origin}: certificate not trusted ({code}): {TLS_FIX}"
    if code.startswith("ERR_CERT"):
        return f"{origin}: certificate rejected ({code})"
    return f"{origin}: TLS error ({code})"


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
               and not look.visit.broken.is_set() and not _own_asset_failed(look))
    blank_matters = look.status is not None and 200 <= look.status < 300
    if content:
        await _wait_for_content(look, blank_matters)
    elif look.visit.needed and not look.failures:
        # Refused before the wait began: one look tells whether the page showed its
        # content all the same, which decides what the failure offers first.
        look.content_seen = await _shows_now(look)
    await _settle(look)
    if content and not look.failures and not _interrupted(look):
        lost = await _watch_after_content(look, blank_matters)
        look.failures += lost
        look.content_missing |= bool(lost)
        look.content_seen &= not lost
    if content and not look.failures and _has_unwanted(look.expect):
        # An error shell drawn as the page settled.
        look.failures += _unwanted(look, await _rendered_text(look))
    if expect.title is not None:
        title = await look.budget.bound(page.title())
        if fold(expect.title) not in fold(title):
            look.failures.append(f"title {shorten(title, 60)!r} does not contain "
                                 f"{expect.title!r}")
    if expect.header is not None and document is not None:
        headers = await look.budget.bound(document.all_headers(),
                                          hung="the browser did not answer")
        look.failures += header_failures(expect.header, headers)
    await _settle_assets(look)
    # A script may still have sent the page elsewhere while it was being judged.
    if (left := off_app(page.url, look.app_urls, expect.redirect_to, asked=look.final_url)) \
            and left not in look.failures:
        look.failures.append(left)


def _judge_place_and_status(look: _Look) -> None:
    if left := off_app(look.page.url, look.app_urls, look.expect.redirect_to,
                       asked=look.final_url):
        look.failures.append(left)
    if look.status is None:
        look.failures.append("no response for the page")
    elif problem := (status_failure(look.expect.statuses(), look.status) or signin_failure(
            look.final_url, look.page.url, look.expect, look.visit.access)):
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
        # Each one's finding is kept even when the other raised: the text a page lacks is
        # worth saying beside a selector wait that ended in an error.
        outcomes = await asyncio.gather(*waits, return_exceptions=True)
    finally:
        for wait in waits:  # cancelled from outside: stop both
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, list):
            look.failures += outcome
            look.content_missing |= bool(outcome)
    # Seen or not, whatever cut the waits short: a refused channel is told apart by it.
    look.content_seen = shown.text and (look.expect.selector is None or shown.visible)
    if errors := [o for o in outcomes if isinstance(o, BaseException)]:
        raise errors[0]


async def _wait_selector(look: _Look, selector: str, shown: _Shown) -> list[str]:
    # A page that loaded as its timeout ran out still gets a real look: with what is left
    # (a few ms) Playwright gives up before asking the page, and a selector that is there
    # would be named as missing.
    wait = look.page.locator(selector).first.wait_for(state="visible",
                                                      timeout=look.budget.ms(LAST_LOOK))
    try:
        shown.visible = await _first_done(look.budget.bound(wait), look.visit.errored.wait(),
                                          look.visit.broken.wait(), shown.stop.wait())
    except PlaywrightError as exc:
        if _timed_out(exc):
            return [f"selector {selector!r} not visible within {look.budget.seconds:g} s"]
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
    wanted = fold(expect.text) if expect.text is not None else None
    while True:
        text = await _rendered_text(look)
        if unwanted := _unwanted(look, text):
            shown.stop.set()
            return unwanted
        # A visible selector counts as showing something: a canvas app has no text.
        blank = blank_matters and not text.everything and not shown.visible
        missing = wanted is not None and wanted not in text.folded
        # While the selector is awaited, an error shell may still be drawn instead.
        watching = not shown.settled and _has_unwanted(expect)
        if not (blank or missing or watching):
            shown.text = True
            return []
        if _interrupted(look):
            return []  # an uncaught error, or a request the page needed, decides on its own
        if look.budget.left() <= 0:
            break
        await asyncio.sleep(min(POLL, look.budget.left()))
    failures = []
    if missing:
        shows = (f"; page shows: {shorten(text.everything, 80)!r}" if text.everything else
                 "" if blank else "; page shows no text")
        failures.append(f"text {shorten(expect.text or '', 60)!r} not found within "
                        f"{look.budget.seconds:g} s{shows}")
    if blank:
        failures.append("page shows no visible text")
    return failures


async def _shows_now(look: _Look) -> bool:
    """Whether the page shows, at this moment, what the check expects of it."""
    expect = look.expect
    text = await _rendered_text(look)
    if expect.text is not None and fold(expect.text) not in text.folded:
        return False
    if expect.selector is not None:
        return bool(await look.budget.bound(
            look.page.locator(expect.selector).first.is_visible()))
    return bool(text.everything)


def _interrupted(look: _Look) -> bool:
    """Whether the check is decided whatever the page shows: an uncaught error, or a request
    the page needed failed or was refused."""
    return look.visit.errored.is_set() or look.visit.broken.is_set()


async def _watch_after_content(look: _Look, blank_matters: bool) -> list[str]:
    """Watch the page for ``settle_ms`` after its content showed: a crash (an uncaught error,
    a request it needed failing), an error shell drawn in its place, or the content lost,
    fails it. A quiet page (see :data:`QUIET_MS`) ends the watch early."""
    expect = look.expect
    ms = SETTLE_MS if expect.settle_ms is None else expect.settle_ms
    start = time.monotonic()
    end = start + min(ms / 1000, look.budget.left())
    wanted = fold(expect.text) if expect.text is not None else None
    #: Since when the content has been missing: a redraw that takes it away for a moment
    #: (a refetch's spinner) is no loss, one that lasts, or that the page rests on, is.
    gone_since: float | None = None
    while True:
        if _interrupted(look):
            return []  # named by the verdict on its own
        text = await _rendered_text(look)
        if unwanted := _unwanted(look, text):
            return unwanted
        lost = []
        if wanted is not None and wanted not in text.folded:
            lost.append(f"text {shorten(expect.text or '', 60)!r}")
        if expect.selector is not None and not await look.budget.bound(
                look.page.locator(expect.selector).first.is_visible()):
            lost.append(f"selector {expect.selector!r}")
        if blank_matters and not text.everything and expect.selector is None:
            lost.append("all its text")
        now = time.monotonic()
        gone_since = (gone_since or now) if lost else None
        # Content that went just as the window ends gets the same grace as any other.
        over = now >= end and (gone_since is None or now - gone_since >= LOST_MS / 1000
                               or look.budget.left() <= 0)
        if gone_since is not None and (over or now - gone_since >= LOST_MS / 1000
                                       or await _quiet(look, max(end - now, 0) * 1000)):
            shows = f"; page shows: {shorten(text.everything, 80)!r}" if text.everything \
                else "; page shows no text"
            return [f"page showed its content, then lost {' and '.join(lost)} within "
                    f"{ms:g} ms (settle_ms){shows}"]
        if over or (not lost and now >= end):
            return []
        if not lost and await _quiet(look, (end - now) * 1000):
            return []
        await asyncio.sleep(POLL if lost else min(POLL, max(end - now, 0)))


async def _quiet(look: _Look, left_ms: float) -> bool:
    """Nothing of the page in flight, no timer of it due within ``left_ms``, and its content
    unchanged for :data:`QUIET_MS`: what could still break it has nothing to run on."""
    visit = look.visit
    if visit.inflight or visit.reads_pending or visit.sockets_pending or visit.sockets_open:
        return False
    try:
        state = await look.budget.bound(look.page.evaluate(_QUIET))
    except PlaywrightError:
        return False
    if not isinstance(state, dict):
        return False
    return bool(state.get("timer", 0) > left_ms and state.get("still", 0) >= QUIET_MS)


def fold(text: str) -> str:
    """Text as a person reads it: case, whitespace, compatibility forms (``ﬁ``, full-width
    letters) and invisible characters folded away, so ``text-transform: uppercase`` or a
    non-breaking space never decide a check."""
    return " ".join(unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
                    .casefold().split())


@dataclass(frozen=True)
class _Text:
    """What a visitor can read, whitespace collapsed: in the page's own document, and in it
    with every frame drawn with a size."""

    page: str
    everything: str

    @property
    def folded(self) -> str:
        return fold(self.everything)


async def _rendered_text(look: _Look) -> _Text:
    """What a visitor can read (see :data:`VISIBLE_TEXT`) in the page and in every frame drawn
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
        return str(await frame.evaluate(VISIBLE_TEXT))
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
    folded = fold(text)
    return [absent for absent in look.expect.absent_texts() if fold(absent) in folded]


def _error_shell(text: str) -> str | None:
    """The error shell text a short page shows, if any: on a long page one is taken for a
    mention (a FAQ's "Something went wrong with my order?"). The page's own text only: a
    third-party chat frame's error is not the app's."""
    from smokeseal.config import ERROR_SHELL_TEXTS  # loaded by now: the check is one of it

    if len(text) >= ERROR_SHELL_MAX_CHARS:
        return None
    # Whole phrases: "Server errors in the last 24 h: 0" is no "Server Error".
    return next((shell for shell in ERROR_SHELL_TEXTS
                 if re.search(rf"(?<!\w){re.escape(shell)}(?!\w)", text, re.IGNORECASE)), None)


def _shows(present: list[str]) -> str:
    return "page shows " + ", ".join(repr(shorten(text, 60)) for text in present)


async def _settle_reads(look: _Look) -> None:
    """Wait a little (:data:`READ_GRACE`) for the declared reads already sent: a query that
    fails just after the text showed fails the page. Reads sent later (a page that polls)
    are not waited for, and one still unanswered is a note."""
    pending = look.visit.reads_pending
    waiting = dict(pending)
    end = time.monotonic() + min(READ_GRACE, max(look.budget.left(), 0))
    while any(request in pending for request in waiting) and time.monotonic() < end:
        await asyncio.sleep(0.05)
    for request, label in waiting.items():
        if request in pending:
            look.notes.append(f"read {label} still unanswered when the page was judged")


async def _settle_assets(look: _Look) -> None:
    """Wait, within the timeout, for the app's own scripts and stylesheets still loading:
    one that fails after the verdict must not pass unseen."""
    look.assets_waited = True
    await _settle_reads(look)
    while any(not a.done and _own(look, a.url) for a in look.visit.assets.values()):
        if look.budget.left() <= 0:
            return
        await asyncio.sleep(min(0.05, look.budget.left()))
    for asset in list(look.visit.assets.values()):
        if asset.html is not None and asset.problem is None:
            with contextlib.suppress(PlaywrightError, _Stuck):
                if is_web_page(await look.budget.bound(asset.html.body())):
                    asset.problem = html_answer(asset, asset.html)


def _own(look: _Look, url: str) -> bool:
    return off_app(url, look.app_urls) is None


def _own_asset_failed(look: _Look) -> bool:
    """One of the app's scripts or stylesheets has failed already (a 404 bundle): the check
    has failed, and content that bundle would have drawn is not worth waiting for."""
    return any(asset.failure is not None and _own(look, asset.url)
               and not look.visit.allowed("GET", asset.url)
               for asset in look.visit.assets.values())


def _asset_failures(look: _Look) -> list[str]:
    """The app's failed scripts and stylesheets; other hosts' go to the notes."""
    failures = []
    for asset in look.visit.assets.values():
        own = _own(look, asset.url)
        problem = asset.failure
        if problem is None and not asset.done and own and look.assets_waited:
            problem = f"did not finish loading within {look.budget.seconds:g} s"
        if problem is None:
            continue
        if own and look.visit.allowed("GET", asset.url):
            look.notes.append(f"{asset.kind} {_path(asset.url)} {problem} (allowed to fail)")
        elif own:
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


def _list_blocked(visit: Visit) -> str:
    first = list(visit.blocked.counts.items())[:3]
    shown = ", ".join(shorten(attempt, 80) + (f" ×{count}" if count > 1 else "")
                      for attempt, count in first)
    more = visit.blocked_count - sum(count for _, count in first)
    return shown + (f" (+{more} more)" if more > 0 else "")


async def _keep_evidence(look: _Look, folder: Path, blocked: list[str],
                         notes: list[str]) -> str | None:
    """Screenshot and log what the page showed; evidence is best-effort, never a failure."""
    try:
        mark_run_folder(folder.parent)  # the run's folder: only marked ones are ever pruned
        folder.mkdir(parents=True, exist_ok=True)
        log = ["url: " + look.page.url]
        log += [f"page error: {e}" for e in look.visit.page_errors]
        log += [f"console error: {e}" for e in look.visit.console_errors]
        log += [f"write reached production: {r}" for r in look.visit.reached.listed()]
        log += [f"blocked write: {b}" for b in blocked]
        log += [f"read let through: {r}" for r in look.visit.reads.listed()]
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
