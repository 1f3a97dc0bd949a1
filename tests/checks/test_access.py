"""Headers, cookies and basic auth reach the app's own origins, and nothing else.

Two real servers on 127.0.0.1: the app, which answers 401 without the right credential, and
another origin (addressed as ``localhost``: another host, so another cookie jar too) that
records every request's headers. Pages on the app load a script and an image from the
other origin and redirect to it; its record must never hold a credential.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from smokeseal.access import Access, origin_of
from smokeseal.config import load_config
from smokeseal.ledger import Ledger
from smokeseal.runner import run_app
from smokeseal.servers import BackgroundServer
from smokeseal.ship import record_shipped, seal_release

KEY = "k3y-for-the-waf-0042"
SESSION = "s3ss10n-cookie-0042"
USER, PASSWORD = "robot", "pa55-w0rd-0042"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
#: What the other origin must never see: any of the credentials' values.
CREDENTIALS = (KEY, SESSION, PASSWORD, BASIC.split()[1])


@dataclass
class HeaderLog:
    """Every request a server received: its path and its headers."""

    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def logged(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
                with self.lock:
                    self.seen.append((scope["path"], headers))
            await app(scope, receive, send)

        return logged

    def paths(self) -> list[str]:
        with self.lock:
            return [path for path, _ in self.seen]

    def leaked(self) -> list[str]:
        """Every credential value found in any header this server received."""
        with self.lock:
            return [f"{path}: {name}" for path, headers in self.seen
                    for name, value in headers.items()
                    if any(secret in value for secret in CREDENTIALS)]


def _signed_in(request: Request) -> bool:
    return (request.headers.get("x-api-key") == KEY
            or request.cookies.get("session") == SESSION
            or request.headers.get("authorization") == BASIC)


def _app(other: Callable[[], str]) -> Starlette:
    async def page(request: Request) -> Response:
        if not _signed_in(request):
            return PlainTextResponse("sign in first", status_code=401)
        return HTMLResponse(
            f'<title>In</title><main>signed in</main><script src="{other()}/lib.js"></script>'
            f'<img src="{other()}/pixel.png"><img src="{other()}/away">')

    async def echo(request: Request) -> Response:
        key = request.headers.get("x-api-key", "none")
        # What a careless app does: the credential it got, in its page, its errors and its
        # headers.
        return HTMLResponse(f"<main>your key is {key}</main>"
                            f"<script>throw new Error('bad key {key}')</script>",
                            headers={"X-Echo": key})

    async def hop(request: Request) -> Response:
        return RedirectResponse("/private", status_code=302)

    async def away(request: Request) -> Response:
        return RedirectResponse(f"{other()}/landing", status_code=302)

    async def reader(request: Request) -> Response:
        if not _signed_in(request):
            return PlainTextResponse("sign in first", status_code=401)
        # A Dash-style page: what it shows comes from a POST read.
        return HTMLResponse(
            "<main>loading</main><script>fetch('/api/search', {method: 'POST', body: '{}'})"
            ".then(r => r.text()).then(t => document.querySelector('main').textContent = t)"
            "</script>")

    async def search(request: Request) -> Response:
        if not _signed_in(request):
            return PlainTextResponse("sign in first", status_code=401)
        return PlainTextResponse("found 3 results")

    async def loads_away(request: Request) -> Response:
        # The app's own subresources, redirected by the app to another host.
        return HTMLResponse("<main>loads away</main><img src='/away'>"
                            "<script>fetch('/flip').catch(() => {})</script>")

    flips: list[int] = []

    async def flip(request: Request) -> Response:
        # Answers a second copy of the request differently: only one may be sent.
        flips.append(1)
        if len(flips) % 2 == 0:
            return RedirectResponse(f"{other()}/steal", status_code=302)
        return PlainTextResponse("ok")

    async def sse_page(request: Request) -> Response:
        return HTMLResponse("<main>waiting</main><script>new EventSource('/events').onmessage"
                            " = e => { document.querySelector('main').textContent = e.data }"
                            "</script>")

    async def events(request: Request) -> Response:
        if not _signed_in(request):
            return PlainTextResponse("sign in first", status_code=401)

        async def stream() -> AsyncIterator[bytes]:
            yield b"data: live stream OK\n\n"
            while not await request.is_disconnected():  # a stream that never ends
                await asyncio.sleep(0.2)

        return StreamingResponse(stream(), media_type="text/event-stream")

    return Starlette(routes=[Route("/sse", sse_page), Route("/events", events),
                             Route("/loads-away", loads_away), Route("/flip", flip),
                             Route("/private", page), Route("/echo", echo),
                             Route("/hop", hop), Route("/away", away),
                             Route("/reader", reader),
                             Route("/api/search", search, methods=["POST"])])


def _other_app() -> Starlette:
    async def anything(request: Request) -> Response:
        if request.url.path == "/lib.js":
            return Response("window.lib = 1", media_type="text/javascript")
        if request.url.path == "/away":
            return RedirectResponse("/landing", status_code=302)
        return HTMLResponse("<main>landed elsewhere</main>")

    return Starlette(routes=[Route("/{path:path}", anything)])


@dataclass
class Servers:
    app: str
    other: str  # another host (so another cookie jar), another port
    other_log: HeaderLog
    app_log: HeaderLog


@pytest.fixture(scope="module")
def _servers() -> Iterator[tuple[BackgroundServer, BackgroundServer, HeaderLog, HeaderLog]]:
    other_log, app_log = HeaderLog(), HeaderLog()
    with BackgroundServer(other_log.wrap(_other_app())) as other:
        other_url = f"http://localhost:{other.port}"
        with BackgroundServer(app_log.wrap(_app(lambda: other_url))) as app:
            yield app, other, other_log, app_log


@pytest.fixture
def servers(_servers: tuple[BackgroundServer, BackgroundServer, HeaderLog, HeaderLog]
            ) -> Servers:
    app, other, other_log, app_log = _servers
    other_log.seen.clear()
    app_log.seen.clear()
    return Servers(app.url, f"http://localhost:{other.port}", other_log, app_log)


CREDENTIAL_YAML = {
    "header": "    headers: {X-Api-Key: ${KEY}}\n",
    "cookie": "    cookies: {session: ${SESSION}}\n",
    "basic auth": "    basic_auth: {username: robot, password: ${PASSWORD}}\n",
    "none": "",
}


def _config(servers: Servers, write: Callable[[str], Path], credential: str,
            suite: str) -> Path:
    return write(f"apps:\n  app:\n    url: {servers.app}\n{CREDENTIAL_YAML[credential]}"
                 f"    suite:\n{suite}")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("KEY", KEY), ("SESSION", SESSION), ("PASSWORD", PASSWORD)):
        monkeypatch.setenv(name, value)


def _run(path: Path) -> dict[str, tuple[bool, str]]:
    run = run_app(load_config(path), "app")
    return {r.name: (r.ok, r.detail) for r in run.results}


GET_AND_PAGE = ("      - {name: get, get: /private, retries: 0}\n"
                "      - {name: page, page: /private, retries: 0, timeout: 10}\n")


@pytest.mark.integration
@pytest.mark.parametrize("credential", ["header", "cookie", "basic auth"])
def test_get_and_page_checks_get_in_with_the_credential_and_only_the_app_sees_it(
        servers: Servers, write_config: Callable[[str], Path], env: None,
        browser_executable: str, credential: str) -> None:
    results = _run(_config(servers, write_config, credential, GET_AND_PAGE))
    assert results == {"get": (True, "200"), "page": (True, "200")}
    # The page loaded the other origin's script and image, and followed its redirect
    # there: with none of the credentials.
    assert {"/lib.js", "/pixel.png", "/away", "/landing"} <= set(servers.other_log.paths())
    assert servers.other_log.leaked() == []


@pytest.mark.integration
def test_without_the_credential_both_checks_are_refused(
        servers: Servers, write_config: Callable[[str], Path], browser_executable: str
        ) -> None:
    results = _run(_config(servers, write_config, "none", GET_AND_PAGE))
    assert results == {"get": (False, "expected 2xx, got 401"),
                       "page": (False, "expected 2xx, got 401")}


@pytest.mark.integration
@pytest.mark.parametrize("credential", ["header", "basic auth"])
def test_a_declared_read_carries_the_credential_to_the_app(
        servers: Servers, write_config: Callable[[str], Path], env: None,
        browser_executable: str, credential: str) -> None:
    suite = ("      - {name: reader, page: /reader, retries: 0, timeout: 10,"
             " reads: ['POST /api/search'], expect: {text: found 3 results}}\n")
    run = run_app(load_config(_config(servers, write_config, credential, suite)), "app")
    [result] = run.results
    assert (result.ok, result.reads) == (True, ["POST /api/search"]), result.detail
    assert ("/api/search" in servers.app_log.paths()) and servers.other_log.leaked() == []


REDIRECTS = ("      - {name: get same host, get: /hop, retries: 0}\n"
             "      - {name: page same host, page: /hop, retries: 0, timeout: 10}\n"
             "      - {name: get off host, get: /away, retries: 0,"
             " expect: {redirect_to: localhost}}\n"
             "      - {name: page off host, page: /away, retries: 0, timeout: 10,"
             " expect: {redirect_to: localhost}}\n")


@pytest.mark.integration
@pytest.mark.parametrize("credential", ["header", "basic auth"])
def test_a_same_host_redirect_keeps_the_headers_and_one_to_another_host_drops_them(
        servers: Servers, write_config: Callable[[str], Path], env: None,
        browser_executable: str, credential: str) -> None:
    results = _run(_config(servers, write_config, credential, REDIRECTS))
    assert results["get same host"][0], results
    assert results["page same host"] == (True, "200")
    assert results["get off host"][0], results
    assert results["page off host"][0], results
    assert "/landing" in servers.other_log.paths()
    assert servers.other_log.leaked() == []
    # Playwright puts a routed request's headers on every redirect it leads to, whatever
    # the host: the guard sent /away without them, so this is not luck.
    away = [h for p, h in servers.app_log.seen if p == "/away"]
    assert away and all("x-api-key" not in h and "authorization" not in h for h in away[-1:])


@pytest.mark.integration
def test_the_page_does_not_get_the_header_through_a_redirect_of_its_own_script(
        servers: Servers, write_config: Callable[[str], Path], env: None,
        browser_executable: str) -> None:
    """/private loads <img src=other/away>, which redirects within the other host: the
    other host gets no header either way. (Its own redirect is not on the app.)"""
    results = _run(_config(servers, write_config, "header",
                           "      - {name: page, page: /private, retries: 0}\n"))
    assert results["page"] == (True, "200")
    assert servers.other_log.leaked() == []


@pytest.mark.integration
def test_the_apps_own_subresources_are_sent_once_and_their_redirects_drop_the_headers(
        servers: Servers, write_config: Callable[[str], Path], env: None,
        browser_executable: str) -> None:
    results = _run(_config(servers, write_config, "header",
                           "      - {name: page, page: /loads-away, retries: 0}\n"))
    assert results["page"] == (True, "200")
    sent = [(path, headers.get("x-api-key")) for path, headers in servers.app_log.seen]
    # Each subresource went once, with the header, so a server cannot answer a look and the
    # browser differently; only the navigation is looked at first (see Tab._read).
    assert sorted(sent) == sorted([("/loads-away", KEY), ("/loads-away", KEY), ("/away", KEY),
                                   ("/flip", KEY)])
    assert "/landing" in servers.other_log.paths()
    assert "/steal" not in servers.other_log.paths()
    assert servers.other_log.leaked() == []


@pytest.mark.integration
def test_a_stream_that_never_ends_still_gets_the_headers_and_shows(
        servers: Servers, write_config: Callable[[str], Path], env: None,
        browser_executable: str) -> None:
    results = _run(_config(servers, write_config, "header",
                           "      - {name: page, page: /sse, retries: 0, timeout: 8,"
                           " expect: {text: live stream OK}}\n"))
    assert results["page"] == (True, "200")
    assert ("/events", KEY) in [(p, h.get("x-api-key")) for p, h in servers.app_log.seen]


@pytest.mark.unit
def test_access_is_for_the_apps_origins_only() -> None:
    access = Access.build(["https://app.example.com", "https://example.com:8443"],
                          headers={"X-Api-Key": KEY}, cookies={"session": SESSION},
                          basic_auth=(USER, PASSWORD))
    assert access.for_origin("https://app.example.com/a?b") == {
        "X-Api-Key": KEY, "Authorization": BASIC, "Cookie": f"session={SESSION}"}
    assert access.for_origin("https://APP.example.com:443/") != {}
    assert access.for_origin("https://example.com:8443/x", with_cookies=False) == {
        "X-Api-Key": KEY, "Authorization": BASIC}
    for elsewhere in ("http://app.example.com/", "https://app.example.com:8443/",
                      "https://example.com/", "https://app.example.com.evil.io/",
                      "https://app.example.com@evil.io/", "wss://app.example.com/",
                      "data:text/plain,x"):
        assert access.for_origin(elsewhere) == {}, elsewhere
    assert origin_of("https://app.example.com") == ("https", "app.example.com", 443)
    merged = access.merged({"x-api-key": "other-key"}, {"theme": "dark"})
    assert merged.for_origin("https://app.example.com/") == {
        "Authorization": BASIC, "x-api-key": "other-key",
        "Cookie": f"session={SESSION}; theme=dark"}
    assert not Access.build(["https://app.example.com"])


TOKEN = "t0ken-in-the-query-0042"
ECHOES = ("      - {name: echo page, page: '/echo?token=${TOKEN}', retries: 0, timeout: 10,"
          " expect: {text: 'your key is'}}\n"
          "      - {name: echo get, get: '/echo?token=${TOKEN}', retries: 0,"
          " expect: {header: {X-Echo: nope}}}\n")


def _echo_config(servers: Servers, write: Callable[[str], Path]) -> Path:
    return write(f"evidence_dir: evidence\napps:\n  app:\n    url: {servers.app}\n"
                 f"{CREDENTIAL_YAML['header']}    suite:\n{ECHOES}")


def _assert_redacted(text: str) -> None:
    assert KEY not in text
    assert TOKEN not in text
    assert "***" in text


@pytest.mark.e2e
def test_a_secret_production_echoes_is_redacted_from_json_junit_and_the_terminal(
        servers: Servers, write_config: Callable[[str], Path], env: None,
        monkeypatch: pytest.MonkeyPatch, browser_executable: str) -> None:
    monkeypatch.setenv("TOKEN", TOKEN)
    path = _echo_config(servers, write_config)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SMOKESEAL_")}
    bin_dir = Path(sys.executable).parent

    def prod_smoke(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(bin_dir / "prod-smoke"), "--config", str(path), "app",
                               *args], capture_output=True, text=True, env=environ,
                              timeout=120, check=False)

    junit = path.parent / "results.xml"
    as_json = prod_smoke("--json", "--junit", str(junit))
    assert as_json.returncode == 1, as_json.stderr
    seal = json.loads(as_json.stdout)
    checks = {c["name"]: c for c in seal["checks"]}
    # Production echoed the key into the page's error and a header; the token is in the URL.
    assert checks["echo page"]["url"] == f"{servers.app}/echo?token=***"
    assert "uncaught page error: Error: bad key ***" in checks["echo page"]["detail"]
    assert checks["echo get"]["detail"].startswith("header X-Echo: expected 'nope', got '***'")
    for text in (as_json.stdout, junit.read_text(encoding="utf-8")):
        _assert_redacted(text)
    assert KEY not in as_json.stderr and TOKEN not in as_json.stderr
    evidence = Path(checks["echo page"]["evidence"]) / "console.txt"
    _assert_redacted(evidence.read_text(encoding="utf-8"))
    terminal = prod_smoke()
    assert terminal.returncode == 1
    _assert_redacted(terminal.stdout + terminal.stderr)
    assert "bad key ***" in terminal.stdout


@pytest.mark.integration
def test_the_sealed_record_in_the_ledger_holds_no_secret(
        servers: Servers, write_config: Callable[[str], Path], env: None,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, browser_executable: str) -> None:
    monkeypatch.setenv("TOKEN", TOKEN)
    config = load_config(_echo_config(servers, write_config))
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        release = record_shipped(config, ledger, "app", "v1", "3f2a9c1dead")
        seal, recorded = seal_release(config, ledger, release)
        assert not seal.green
        stored = json.dumps([recorded.smoke_seal, ledger.seals(release.id)])
    _assert_redacted(stored)
    assert f"{servers.app}/echo?token=***" in stored


@pytest.mark.component
def test_the_ship_gate_sends_the_credential_to_the_app_only(servers: Servers) -> None:
    from smokeseal.config import Gate
    from smokeseal.errors import ShipError
    from smokeseal.ship import wait_for_gate

    access = Access.build([servers.app], headers={"X-Api-Key": KEY})
    wait_for_gate(servers.app, Gate(path="/hop", timeout=5, interval=0.1), access=access)
    assert [p for p, h in servers.app_log.seen if h.get("x-api-key") == KEY] == [
        "/hop", "/private"]
    # The gate names its last answer: 2 s leave a busy machine time for one (0.3 s did not).
    with pytest.raises(ShipError, match="status 401"):
        wait_for_gate(servers.app, Gate(path="/private", timeout=2, interval=0.1))
    # Off the app, the gate stops before sending anything there, credential or not.
    with pytest.raises(ShipError, match="redirected off the app"):
        wait_for_gate(servers.app, Gate(path="/away", timeout=2, interval=0.1),
                      access=access)
    assert servers.other_log.seen == []


@pytest.mark.integration
def test_no_secret_names_an_evidence_folder(
        servers: Servers, write_config: Callable[[str], Path], env: None,
        monkeypatch: pytest.MonkeyPatch, browser_executable: str) -> None:
    """A check with no name: of its own is labelled by its path, which may hold a secret
    (in the query or in the path itself); its failed page's evidence folder, shown in
    --json and on the terminal and kept on disk, must not."""
    monkeypatch.setenv("TOKEN", TOKEN)
    suite = ("      - {page: '/echo?token=${TOKEN}', retries: 0, timeout: 10,"
             " expect: {text: nope}}\n"
             "      - {page: '/t/${TOKEN}', retries: 0, timeout: 10}\n"
             "      - {page: '/echo?token=${KEY}', retries: 0, timeout: 10,"
             " expect: {text: nope}}\n")
    path = write_config(f"evidence_dir: evidence\napps:\n  app:\n    url: {servers.app}\n"
                        f"{CREDENTIAL_YAML['header']}    suite:\n{suite}")
    run = run_app(load_config(path), "app")
    assert [r.name for r in run.results] == ["page /echo?token=***", "page /t/***",
                                             "page /echo?token=***"]
    folders = [r.evidence for r in run.results]
    assert all(folders) and len(set(folders)) == 3, folders  # no two share a folder
    assert [Path(f).name.rsplit("-", 1)[0] for f in folders if f] == [
        "page-echo-token", "page-t", "page-echo-token"]
    kept = [str(p) for p in (path.parent / "evidence").rglob("*")]
    assert kept and not [p for p in kept for secret in (TOKEN, KEY)
                         if secret.lower() in p.lower()]


@pytest.mark.integration
def test_a_secret_cut_short_in_a_note_leaves_nothing_of_it(
        servers: Servers, write_config: Callable[[str], Path], env: None,
        monkeypatch: pytest.MonkeyPatch, browser_executable: str) -> None:
    """The note of a request sent without the headers names its URL cut to 100 characters,
    before redaction: the cut falls inside the token, and what is left of it goes too."""
    monkeypatch.setenv("TOKEN", TOKEN)
    start = f"{servers.app}/away?pad="
    pad = "p" * (90 - len(start) - len("&token="))  # the token starts at 90, the cut at 99
    suite = (f"      - {{name: away, page: '/away?pad={pad}&token=${{TOKEN}}', retries: 0,"
             " timeout: 10, expect: {redirect_to: localhost}}\n")
    run = run_app(load_config(_config(servers, write_config, "header", suite)), "app")
    [result] = run.results
    assert result.ok, result.detail
    [note] = [n for n in result.notes if "sent without the configured headers" in n]
    assert f"{start}{pad}&token=***… redirects to" in note
    assert TOKEN[:4] not in note


@pytest.mark.unit
def test_redact_takes_secrets_out_of_every_text_of_a_result() -> None:
    from smokeseal.checks.base import CheckResult, shorten
    from smokeseal.checks.version import VersionCheckResult
    from smokeseal.runner import redact

    result = redact(CheckResult(f"page /t/{TOKEN}", "page", False,
                                shorten(f"got /x?token={TOKEN}", 25), 1,
                                url=f"https://app.example.com/x?t={TOKEN}",
                                notes=[f"from /a%20b?k={KEY}"],
                                reads=[f"POST /api/{TOKEN}"],
                                blocked_writes=[f"POST /w?{PASSWORD}"]), [TOKEN, KEY, PASSWORD])
    assert (result.name, result.detail, result.url, result.notes, result.reads,
            result.blocked_writes) == (
        "page /t/***", "got /x?token=***…", "https://app.example.com/x?t=***",
        ["from /a%20b?k=***"], ["POST /api/***"], ["POST /w?***"])
    version = redact(VersionCheckResult("version", "get", True, "ok", 1,
                                        revision=f"v1-{TOKEN}"), [TOKEN])
    assert isinstance(version, VersionCheckResult) and version.revision == "v1-***"
    from datetime import UTC, datetime

    from smokeseal.runner import RunResult
    from smokeseal.seal import seal_from_run

    run = RunResult("https://app.example.com", datetime.now(UTC), 1, [version],
                    revision=f"v2-{TOKEN}")
    assert seal_from_run(run, secrets=[TOKEN]).revision == "v2-***"
