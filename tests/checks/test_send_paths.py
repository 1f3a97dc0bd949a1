"""Browser features that send to production past every route, each switched off at launch.

Playwright's routes see what a page's frames and workers request. Chromium also sends on its
own: Reporting API and NEL reports (POSTed by the network service), ``fetchLater()`` (sent by
the browser), a speculation-rules prerender (another page). For each, a *control* shows it
firing on a plain Playwright launch of the same Chromium (and that a route did not see it), and
a real page check through smokeseal's :class:`BrowserSession` shows production receiving
nothing of it, on the full Chromium and on the headless shell alike.

Chromium's test switch ``--short-reporting-delay`` (reports go out within 100 ms instead of a
minute) is added to both launches here, never to smokeseal's own flags. The headless shell
queues a report and retries its delivery every 100 ms but never posts it (the full Chromium
does): there the control shows the report queued and its delivery attempted, as DevTools'
Reporting API domain tells, and the sealed run shows nothing queued at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from playwright.async_api import Browser, Route, async_playwright
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route as Endpoint
from starlette.types import ASGIApp, Receive, Scope, Send

from smokeseal.browser.launch import SEND_PATH_FEATURES, launch_args
from smokeseal.browser.session import BrowserSession
from smokeseal.checks.base import CheckResult
from smokeseal.checks.page import run_page_check
from smokeseal.config import Check, Expect
from smokeseal.servers import BackgroundServer
from smokeseal.trust import browser_trust_args

integration = pytest.mark.integration

FULL, SHELL = "/usr/lib/chromium/chromium", "/usr/lib/chromium/chromium-headless-shell"
BROWSERS = [pytest.param(path, id=name, marks=pytest.mark.skipif(
    not os.path.exists(path), reason=f"Debian's {name} is not installed"))
    for name, path in (("chromium", FULL), ("headless-shell", SHELL))]
#: Chromium's test switch: reports leave within 100 ms, not after a minute. Tests only.
SHORT_DELAY = "--short-reporting-delay"
#: How long a control may take to see its path fire, and a sealed page its last request.
WAIT = 15.0
#: The report types the ``reports`` page makes Chromium queue, by how it makes each.
REPORTS = {"csp-violation": "CSP report-to", "permissions-policy-violation": "Permissions-Policy",
           "deprecation": "a deprecated API", "network-error": "NEL"}

#: The pages whose requests the control waits for, and where those requests go.
FIRES = {"report-uri": ("uri",), "fetch-later": ("later",), "prerender": ("prerendered",),
         "prefetch": ("prefetched", "linked"), "sandbox": ("ara",)}
#: Shows the page's text, and fetches its sentinel, half a second after what it tries: by
#: then a report (100 ms) or a deferred fetch has long left in the control. (A fetch, as the
#: page's CSP refuses images.)
READY = ("<main id=m>Loading</main><script>setTimeout(() => {{ fetch('/s/{tok}/{name}')"
         ".catch(() => {{}}); m.textContent = 'Shop' }}, 500)</script>")
#: Page name: (response headers, body); ``{r}`` is where this run's reports go, ``{tok}`` it.
PAGES: dict[str, tuple[dict[str, str], str]] = {
    "reports": ({
        "Reporting-Endpoints": 'csp="{r}/csp", default="{r}/default"',
        "Content-Security-Policy": "img-src 'none'; report-to csp",
        "Permissions-Policy": "geolocation=()",
    }, "<img src='/pixel.png'><script>"
       "navigator.geolocation.getCurrentPosition(() => {{}}, () => {{}});"
       "const x = new XMLHttpRequest(); x.open('GET', '/sync', false); x.send()</script>"),
    # Its own page: with ``Reporting-Endpoints`` beside it, Chromium ignores ``Report-To``.
    # Every later request to the origin (the image, the sentinel) is reported.
    "nel": ({
        "NEL": '{{"report_to": "nel", "max_age": 60, "success_fraction": 1.0}}',
        "Report-To": '{{"group": "nel", "max_age": 60, "endpoints": [{{"url": "{r}/nel"}}]}}',
    }, "<img src='/pixel.png'>"),
    "report-uri": ({"Content-Security-Policy": "img-src 'none'; report-uri {r}/uri"},
                   "<img src='/pixel.png'>"),
    "fetch-later": ({}, "<script>if (window.fetchLater) fetchLater('{r}/later', "
                        "{{method: 'POST', body: 'x', activateAfter: 0}})</script>"),
    "prerender": ({}, '<script type=speculationrules>{{"prerender": [{{"source": "list", '
                      '"urls": ["{r}/prerendered"]}}]}}</script>'),
    "prefetch": ({}, '<script type=speculationrules>{{"prefetch": [{{"source": "list", '
                     '"urls": ["{r}/prefetched"]}}]}}</script><link rel=prefetch href={r}/linked>'),
    # The Privacy Sandbox's senders, one after another; the last request says how they went.
    "sandbox": ({}, "<script>(async () => {{ const seen = {{}};"
                    "await navigator.joinAdInterestGroup({{owner: location.origin, name: 'x', "
                    "biddingLogicURL: '{r}/bid'}}, 60).catch(() => {{}});"
                    "seen.auction = String(await navigator.runAdAuction({{seller: "
                    "location.origin, decisionLogicURL: '{r}/decide', interestGroupBuyers: "
                    "[location.origin]}}).catch(e => e.name));"
                    "seen.topics = await document.browsingTopics().then(() => 'ok', "
                    "e => e.name);"
                    "seen.sharedStorage = typeof window.sharedStorage;"
                    "fetch('{r}/ara?' + new URLSearchParams(seen), {{attributionReporting: "
                    "{{eventSourceEligible: true, triggerEligible: false}}}}) }})()</script>"),
}


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    #: A report upload's report types; ``Sec-Purpose`` of a prefetch.
    types: tuple[str, ...] = ()
    purpose: str = ""
    query: str = ""
    #: ``Attribution-Reporting-Eligible``: the browser would register an attribution.
    eligible: str = ""


@dataclass
class StandIn:
    """Production: records every request, and what each report upload carried."""

    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, tok: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if f"/{tok}/" in s.path]

    def app(self) -> ASGIApp:
        async def page(request: Request) -> Response:
            tok, name = request.path_params["tok"], request.path_params["name"]
            headers, body = PAGES.get(name, ({}, ""))
            fill = {"r": f"{self.url}/r/{tok}", "tok": tok}
            return HTMLResponse(body.format(**fill) + READY.format(tok=tok, name=name),
                                headers={k: v.format(**fill) for k, v in headers.items()})

        async def sink(request: Request) -> Response:
            body = await request.body()
            types: tuple[str, ...] = ()
            if request.headers.get("content-type") == "application/reports+json":
                types = tuple(report["type"] for report in json.loads(body))
            with self.lock:
                self.seen.append(Seen(request.method, request.url.path, types,
                                      request.headers.get("sec-purpose", ""), request.url.query,
                                      request.headers.get("attribution-reporting-eligible", "")))
            return HTMLResponse("<p>x</p>")

        async def recorded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and not scope["path"].startswith("/r/"):
                with self.lock:
                    self.seen.append(Seen(scope["method"], scope["path"]))
            await app(scope, receive, send)

        app = Starlette(routes=[
            Endpoint("/p/{tok}/{name}", page),
            Endpoint("/r/{tok}/{what}", sink, methods=["GET", "HEAD", "POST", "PUT", "OPTIONS"]),
            Endpoint("/{rest:path}", lambda request: Response(status_code=404)),
        ])
        return recorded


@dataclass
class Run:
    """What one launch of one browser did with every page, as production and DevTools saw it."""

    tok: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    #: The page checks' results (the sealed run only).
    results: dict[str, CheckResult] = field(default_factory=dict)
    #: Report type and status, as DevTools' Reporting API domain told them.
    queued: list[tuple[str, str]] = field(default_factory=list)
    #: Requests a route saw (the control only).
    routed: list[str] = field(default_factory=list)
    #: ``typeof fetchLater`` in a page of this browser.
    fetch_later: str = ""
    #: The browser process's ``--disable-features`` switches, in order.
    disabled: list[list[str]] = field(default_factory=list)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StandIn, tuple[str, ...]]]:
    """The stand-in over https (NEL and ``Report-To`` are honoured on https only), and the
    flag that makes the browser trust it."""
    import trustme

    folder = tmp_path_factory.mktemp("send-paths")
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    leaf.cert_chain_pems[0].write_to_path(str(folder / "leaf.pem"))
    leaf.private_key_pem.write_to_path(str(folder / "leaf.key"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    standin = StandIn()
    with BackgroundServer(standin.app(), certfile=str(folder / "leaf.pem"),
                          keyfile=str(folder / "leaf.key")) as server:
        standin.url = server.url
        yield standin, browser_trust_args(str(folder / "ca.pem"), [server.url])


async def within(condition: Callable[[], bool]) -> bool:
    """Wait for ``condition``, at most :data:`WAIT` seconds: whether it came."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(WAIT):
            while not condition():
                await asyncio.sleep(0.05)
    return condition()


def sentinel(standin: StandIn, run: Run, name: str) -> Callable[[], bool]:
    return lambda: any(s.path == f"/s/{run.tok}/{name}" for s in standin.of(run.tok))


def arrived(standin: StandIn, run: Run, what: str) -> list[Seen]:
    return [s for s in standin.of(run.tok) if s.path == f"/r/{run.tok}/{what}"]


def reached(standin: StandIn, run: Run, whats: tuple[str, ...]) -> Callable[[], bool]:
    return lambda: all(arrived(standin, run, what) for what in whats)


def settled(run: Run) -> bool:
    """Every report type delivered, or its delivery tried again (the headless shell)."""
    return all((kind, "Success") in run.queued or run.queued.count((kind, "Pending")) > 1
               for kind in REPORTS)


async def disabled_features(browser: Browser) -> list[list[str]]:
    """The ``--disable-features`` switches the browser process was started with, in order."""
    cdp = await browser.new_browser_cdp_session()
    processes = (await cdp.send("SystemInfo.getProcessInfo"))["processInfo"]
    [pid] = [p["id"] for p in processes if p["type"] == "browser"]
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return [arg.removeprefix("--disable-features=").split(",") for arg in argv
            if arg.startswith("--disable-features=")]


async def watch_reports(browser: Browser, standin: StandIn, run: Run,
                        done: Callable[[], bool]) -> None:
    """Open the ``nel`` and ``reports`` pages in a context of their own, DevTools telling
    every report the browser queues (into ``run.queued``), until ``done``; read ``typeof
    fetchLater`` there."""
    context = await browser.new_context()
    page = await context.new_page()
    cdp = await context.new_cdp_session(page)
    for event in ("Network.reportingApiReportAdded", "Network.reportingApiReportUpdated"):
        cdp.on(event, lambda e: run.queued.append((e["report"]["type"], e["report"]["status"])))
    await cdp.send("Network.enable")
    await cdp.send("Network.enableReportingApi", {"enable": True})
    for name in ("nel", "reports"):
        await page.goto(f"{standin.url}/p/{run.tok}/{name}")
        await within(sentinel(standin, run, name))
    await within(done)
    run.fetch_later = await page.evaluate("typeof fetchLater")
    await context.close()


async def sealed(executable: str, standin: StandIn, trust: tuple[str, ...]) -> Run:
    """Each page through a real page check of smokeseal's, then the reports page watched in
    the same browser."""
    run = Run()
    async with BrowserSession(executable, args=(*trust, SHORT_DELAY)) as session:
        pages = [name for name in PAGES if name != "sandbox"]  # a control of the build only
        session.plan(len(pages))
        for name in pages:
            check = Check(name=name, page=f"/p/{run.tok}/{name}", timeout=10,
                          expect=Expect(text="Shop"))
            run.results[name] = await run_page_check(session, check, standin.url)
            assert await within(sentinel(standin, run, name)), \
                f"{name}: the page stopped short: {run.results[name]}"
            if name == "prefetch":  # the reads that do leave: waited for, not raced
                await within(reached(standin, run, FIRES[name]))
        await session.settle()
        assert session.browser is not None
        await watch_reports(session.browser, standin, run, sentinel(standin, run, "reports"))
        assert sentinel(standin, run, "reports")(), "the reports pages stopped short"
        run.disabled = await disabled_features(session.browser)
    return run


async def control(executable: str, standin: StandIn, trust: tuple[str, ...]) -> Run:
    """Each page on a plain Playwright launch of the same browser, every request routed (and
    noted), until what it tries has fired or :data:`WAIT` is up."""
    run = Run()

    async def note(route: Route) -> None:
        run.routed.append(route.request.url)
        await route.continue_()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, headless=True,
                                                   args=[*trust, SHORT_DELAY])
        for name, whats in FIRES.items():
            context = await browser.new_context()
            await context.route("**/*", note)
            page = await context.new_page()
            await page.goto(f"{standin.url}/p/{run.tok}/{name}")
            await within(reached(standin, run, whats))
            await context.close()
        await watch_reports(browser, standin, run, lambda: settled(run))
        run.disabled = await disabled_features(browser)
        await browser.close()
    return run


@pytest.fixture(scope="module", params=BROWSERS)
def executable(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def sealed_run(executable: str, stand_in: tuple[StandIn, tuple[str, ...]]) -> Run:
    return asyncio.run(sealed(executable, *stand_in))


@pytest.fixture(scope="module")
def control_run(executable: str, stand_in: tuple[StandIn, tuple[str, ...]]) -> Run:
    return asyncio.run(control(executable, *stand_in))


def unrouted(run: Run, what: str) -> bool:
    return not any(url.endswith(f"/r/{run.tok}/{what}") for url in run.routed)


# --- the Reporting API and NEL ----------------------------------------------------------------

@integration
@pytest.mark.parametrize("kind", list(REPORTS))
def test_no_report_is_queued_or_sent_under_smokeseal(
        stand_in: tuple[StandIn, tuple[str, ...]], sealed_run: Run, kind: str) -> None:
    """CSP ``report-to``, Permissions-Policy, deprecation and NEL reports: the network service
    would POST them past every route; with ``Reporting`` and ``NetworkErrorLogging`` off the
    browser queues none."""
    standin, _ = stand_in
    for page in ("reports", "nel"):
        result = sealed_run.results[page]
        assert (result.ok, result.blocked_writes) == (True, []), result.detail
    assert [status for queued, status in sealed_run.queued if queued == kind] == []
    assert [s for s in standin.of(sealed_run.tok) if kind in s.types] == []


@integration
@pytest.mark.parametrize("kind", list(REPORTS))
def test_without_the_flags_a_report_is_sent_past_the_route(
        executable: str, stand_in: tuple[StandIn, tuple[str, ...]], control_run: Run,
        kind: str) -> None:
    """The control: the same page on a plain Playwright launch makes the browser queue the
    report and try to deliver it; the full Chromium posts it, unseen by the route. (The
    headless shell retries it every 100 ms and never posts it.)"""
    standin, _ = stand_in
    statuses = {status for queued, status in control_run.queued if queued == kind}
    posted = [s for s in standin.of(control_run.tok) if kind in s.types]
    if executable == FULL:
        assert posted, f"{REPORTS[kind]}: the full Chromium did not post it ({statuses})"
    else:
        assert "Pending" in statuses, f"{REPORTS[kind]}: the shell never tried ({statuses})"
    assert all(s.method == "POST" and unrouted(control_run, s.path.rsplit("/", 1)[1])
               for s in posted)


# --- fetchLater -------------------------------------------------------------------------------

@integration
def test_fetch_later_is_gone_under_smokeseal(stand_in: tuple[StandIn, tuple[str, ...]],
                                             sealed_run: Run) -> None:
    standin, _ = stand_in
    assert sealed_run.fetch_later == "undefined"
    assert sealed_run.results["fetch-later"].ok, sealed_run.results["fetch-later"].detail
    assert arrived(standin, sealed_run, "later") == []


@integration
def test_without_the_flags_fetch_later_posts_past_the_route(
        stand_in: tuple[StandIn, tuple[str, ...]], control_run: Run) -> None:
    standin, _ = stand_in
    assert control_run.fetch_later == "function"
    assert [s.method for s in arrived(standin, control_run, "later")] == ["POST"]
    assert unrouted(control_run, "later")


# --- speculation rules ------------------------------------------------------------------------

@integration
def test_a_speculation_rules_prerender_never_starts_under_smokeseal(
        stand_in: tuple[StandIn, tuple[str, ...]], sealed_run: Run) -> None:
    standin, _ = stand_in
    assert sealed_run.results["prerender"].ok, sealed_run.results["prerender"].detail
    assert arrived(standin, sealed_run, "prerendered") == []


@integration
def test_without_the_flags_a_prerender_loads_its_page_past_the_route(
        stand_in: tuple[StandIn, tuple[str, ...]], control_run: Run) -> None:
    standin, _ = stand_in
    seen = arrived(standin, control_run, "prerendered")
    assert seen, "no prerender"
    assert all(s.method == "GET" and "prerender" in s.purpose for s in seen), seen
    assert unrouted(control_run, "prerendered")


@integration
def test_a_speculation_rules_prefetch_still_leaves_unrouted_but_only_as_a_get(
        stand_in: tuple[StandIn, tuple[str, ...]], sealed_run: Run, control_run: Run) -> None:
    """A known gap, pinned: no launch switch of Chromium 156 turns speculation-rules prefetch
    off, and no route sees it. It is a GET marked ``Sec-Purpose: prefetch`` (a read), but the
    verdict does not see its answer. Should this change, the README says otherwise."""
    standin, _ = stand_in
    for run in (sealed_run, control_run):
        seen = arrived(standin, run, "prefetched")
        assert seen, "no prefetch"
        assert all((s.method, s.purpose) == ("GET", "prefetch") for s in seen), seen
    assert unrouted(control_run, "prefetched")
    assert sealed_run.results["prefetch"].ok, sealed_run.results["prefetch"].detail


# --- the Privacy Sandbox: silent on these builds --------------------------------------------

@integration
def test_the_privacy_sandbox_sends_nothing_on_this_build(
        stand_in: tuple[StandIn, tuple[str, ...]], control_run: Run) -> None:
    """Why no switch is added for them: without smokeseal's flags, an ad auction returns null
    without fetching its scripts, Topics and Shared Storage are gone, and a fetch asked to
    register an attribution source goes without ``Attribution-Reporting-Eligible`` (so no
    attribution, aggregate or debug report can follow). A build where this fails needs them
    switched off too."""
    standin, _ = stand_in
    [ara] = arrived(standin, control_run, "ara")
    assert dict(parse_qsl(ara.query)) == {"auction": "null", "topics": "NotSupportedError",
                                          "sharedStorage": "undefined"}
    assert ara.eligible == ""
    assert arrived(standin, control_run, "bid") == arrived(standin, control_run, "decide") == []


# --- what the route sees already ----------------------------------------------------------------

@integration
def test_a_csp_report_uri_post_is_refused_by_the_guard(stand_in: tuple[StandIn, tuple[str, ...]],
                                                      sealed_run: Run, control_run: Run) -> None:
    """The legacy ``report-uri`` is POSTed by the page's frame: the route sees it (the control),
    so the guard refuses and lists it; no flag is needed."""
    standin, _ = stand_in
    assert [s.method for s in arrived(standin, control_run, "uri")] == ["POST"]
    assert not unrouted(control_run, "uri")
    result = sealed_run.results["report-uri"]
    assert result.ok, result.detail
    assert [w for w in result.blocked_writes if w.startswith("POST ") and "/uri" in w], \
        result.blocked_writes
    assert arrived(standin, sealed_run, "uri") == []


@integration
def test_a_link_prefetch_passes_the_route(stand_in: tuple[StandIn, tuple[str, ...]],
                                          sealed_run: Run, control_run: Run) -> None:
    """``<link rel=prefetch>`` is fetched by the page's frame: the route sees it, a GET."""
    standin, _ = stand_in
    assert not unrouted(control_run, "linked")
    for run in (sealed_run, control_run):
        assert [s.method for s in arrived(standin, run, "linked")] == ["GET"]


# --- the whole run, and the flags as Chromium got them --------------------------------------

@integration
def test_production_got_nothing_but_reads_from_smokeseals_browser(
        stand_in: tuple[StandIn, tuple[str, ...]], sealed_run: Run) -> None:
    standin, _ = stand_in
    seen = standin.of(sealed_run.tok)
    assert [s for s in seen if s.method not in ("GET", "HEAD") or s.types] == []
    assert {s.path for s in seen if s.path.startswith("/r/")} == {
        f"/r/{sealed_run.tok}/prefetched",  # the pinned gap above, a GET
        f"/r/{sealed_run.tok}/linked"}  # through the route, a GET


@integration
def test_playwrights_disabled_features_survive_beside_smokeseals(sealed_run: Run,
                                                               control_run: Run) -> None:
    """Chromium honours only the last ``--disable-features``: smokeseal's comes after
    Playwright's, so it must hold Playwright's features too (as the installed Playwright passes
    them) and its own; that Chromium honours it is shown by ``fetchLater`` gone above."""
    [playwrights] = control_run.disabled
    last = set(sealed_run.disabled[-1])
    assert set(playwrights) <= last, set(playwrights) - last
    assert set(SEND_PATH_FEATURES) <= last


@integration
@pytest.mark.parametrize("executable", BROWSERS)
def test_chromium_honours_only_the_last_disable_features_switch(
        executable: str, stand_in: tuple[StandIn, tuple[str, ...]]) -> None:
    """Why smokeseal merges its features into one switch: a second one drops the first."""
    standin, trust = stand_in

    async def typeof_fetch_later(*switches: str) -> str:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=executable,
                                                       args=[*trust, *switches])
            page = await browser.new_page()
            await page.goto(f"{standin.url}/p/{uuid.uuid4().hex[:10]}/blank")
            kind = str(await page.evaluate("typeof fetchLater"))
            await browser.close()
            return kind

    assert asyncio.run(typeof_fetch_later("--disable-features=FetchLaterAPI",
                                          "--disable-features=PaintHolding")) == "function"


@pytest.mark.unit
def test_a_launch_has_one_disable_features_switch_holding_every_feature() -> None:
    """A flag of the caller's (a trust flag, a test's) that disables features too is merged,
    never given as a second switch that would drop the first."""
    args = launch_args(("--disable-features=Extra", "--mute-audio"))
    switches = [arg for arg in args if arg.startswith("--disable-features=")]
    assert switches == [args[-1]]
    features = set(args[-1].removeprefix("--disable-features=").split(","))
    assert {*SEND_PATH_FEATURES, "Extra", "HttpsUpgrades"} <= features
    assert "--mute-audio" in args
