"""Fixtures that start real servers: the demo app as production, and an edge-case server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

from smokeseal.config import Config, load_config
from smokeseal.demo import DemoState, create_app, demo_config_yaml
from smokeseal.ledger import Ledger
from smokeseal.servers import BackgroundServer
from smokeseal.ship import ShipResult, resolve_release, ship
from tests.standins import GITHUB_REPO, GITHUB_TOKEN


@dataclass
class Demo:
    url: str
    state: DemoState

    def config_yaml(self) -> str:
        return demo_config_yaml(self.url)


READ_ONLY = ("GET", "HEAD")


@pytest.fixture(scope="session")
def _demo_server() -> Iterator[tuple[BackgroundServer, DemoState]]:
    state = DemoState()
    with BackgroundServer(create_app(state)) as server:
        yield server, state
        # A write that arrived after its test ended (a keepalive fetch on unload, a worker
        # still running) is blamed on no test by the per-test proof: it fails the session.
        late = [(method, path) for method, path in state.requests if method not in READ_ONLY]
        assert not late, f"the demo app (production) received writes after a test: {late}"


@dataclass
class Recorder:
    """Every request a production stand-in received, as (method, path); a WebSocket as
    ``WEBSOCKET``. With ``with_query``, each path keeps its query string."""

    seen: list[tuple[str, str]] = field(default_factory=list)
    with_query: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def recorded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] in ("http", "websocket"):
                path = scope["path"]
                query = scope.get("query_string", b"").decode() if self.with_query else ""
                with self.lock:
                    self.seen.append((scope.get("method", "WEBSOCKET"),
                                      path + (f"?{query}" if query else "")))
            await app(scope, receive, send)

        return recorded

    def paths(self) -> list[str]:
        with self.lock:
            return [path for _, path in self.seen]

    def clear(self) -> None:
        with self.lock:
            self.seen.clear()


def _read_only_proof(request: pytest.FixtureRequest, seen: list[tuple[str, str]],
                     stand_in: str) -> None:
    """After every test that touched a production stand-in: nothing but GET/HEAD arrived."""
    if request.node.get_closest_marker("sends_writes"):
        return
    writes = [(method, path) for method, path in seen if method not in READ_ONLY]
    assert not writes, f"{stand_in} (production) received writes: {writes}"


@pytest.fixture
def demo(_demo_server: tuple[BackgroundServer, DemoState],
         request: pytest.FixtureRequest) -> Iterator[Demo]:
    """The bundled demo app, served on 127.0.0.1, with no faults and an empty request log.
    Afterwards it must have received nothing but GET and HEAD."""
    server, state = _demo_server
    state.reset()
    state.delay = 1.5
    yield Demo(server.url, state)
    seen = list(state.requests)
    state.reset()
    _read_only_proof(request, seen, "the demo app")


@pytest.fixture(scope="session")
def browser_executable() -> str:
    """A real Chromium; CI must have one, so there it is a failure, not a skip."""
    from smokeseal.browser.launch import find_browser
    from smokeseal.errors import BrowserError

    try:
        return find_browser()
    except BrowserError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs a browser: {exc}")
        pytest.skip(str(exc))


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str, name: str = "smokeseal.yml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Edge:
    url: str
    log: list[tuple[str, str]]


def _edge_app(log: list[tuple[str, str]]) -> Starlette:
    async def record(request: Request) -> None:
        log.append((request.method, request.url.path))

    async def ok(request: Request) -> Response:
        await record(request)
        return PlainTextResponse("hello from the edge", headers={"X-Edge": "yes; v=2"})

    async def redirect(request: Request) -> Response:
        await record(request)
        return RedirectResponse("/ok", status_code=int(request.query_params.get("code", 302)))

    async def loop(request: Request) -> Response:
        await record(request)
        return RedirectResponse("/loop", status_code=302)

    async def hang(request: Request) -> Response:
        await record(request)
        await asyncio.sleep(30)
        return PlainTextResponse("too late")

    async def trickle(request: Request) -> Response:
        await record(request)

        async def body() -> object:
            for _ in range(60):
                yield b"."
                await asyncio.sleep(0.5)

        return StreamingResponse(body())  # type: ignore[arg-type]

    async def big(request: Request) -> Response:
        await record(request)

        async def body() -> object:
            chunk = b"x" * 65536
            for _ in range(800):  # 50 MiB
                yield chunk

        return StreamingResponse(body())  # type: ignore[arg-type]

    async def slow(request: Request) -> Response:
        await record(request)
        await asyncio.sleep(float(request.query_params.get("s", "0.3")))
        return PlainTextResponse("slow")

    async def flaky(request: Request) -> Response:
        # Fails the first ``n`` times it is asked since the test began (the log is per test).
        await record(request)
        seen = sum(1 for _, path in log if path == "/flaky")
        if seen <= int(request.query_params.get("n", "2")):
            return PlainTextResponse("warming up", 503)
        return PlainTextResponse("ok")

    methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]
    return Starlette(routes=[
        Route("/ok", ok, methods=methods),
        Route("/redirect", redirect, methods=methods),
        Route("/loop", loop, methods=methods),
        Route("/hang", hang),
        Route("/trickle", trickle),
        Route("/big", big),
        Route("/slow", slow),
        Route("/flaky", flaky),
    ])


@pytest.fixture(scope="session")
def _edge_server() -> Iterator[tuple[BackgroundServer, list[tuple[str, str]]]]:
    log: list[tuple[str, str]] = []
    with BackgroundServer(_edge_app(log)) as server:
        yield server, log


@pytest.fixture
def edge(_edge_server: tuple[BackgroundServer, list[tuple[str, str]]],
         request: pytest.FixtureRequest) -> Iterator[Edge]:
    """A server for HTTP edge cases (redirects, hangs, trickles, huge bodies) that logs methods.
    Afterwards it must have received nothing but GET and HEAD."""
    server, log = _edge_server
    log.clear()
    yield Edge(server.url, log)
    _read_only_proof(request, list(log), "the edge server")


# --- ledgers: a real SQLite file and a real PostgreSQL database per test ------------------

POSTGRES_ADMIN_URL = os.environ.get(
    "SMOKESEAL_TEST_POSTGRES_URL", "postgresql+psycopg:///postgres?host=/var/run/postgresql")


@pytest.fixture(scope="session")
def _postgres_admin() -> Iterator[object]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs PostgreSQL at {POSTGRES_ADMIN_URL}: {exc}")
        pytest.skip(f"no PostgreSQL: {exc}")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(_postgres_admin: object) -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    import uuid

    from sqlalchemy import text
    from sqlalchemy.engine import Engine, make_url

    engine: Engine = _postgres_admin  # type: ignore[assignment]
    name = f"smokeseal_test_{uuid.uuid4().hex[:12]}"
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each ledger test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("postgres_url"))


#: pytest-timeout's limit for a ``slow`` test (pyproject's ``timeout`` is every other one's).
SLOW_TIMEOUT = 360


def _on_postgres(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("ledger_url") == "postgresql":
        return True
    return bool({"postgres_url", "_postgres_admin"} & set(getattr(item, "fixturenames", ())))


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks ``postgres`` every test that asks for a PostgreSQL database, so that
    ``make test-quick`` can run on SQLite alone; ``make test`` runs them all. Puts the tests
    of the real apps' fleet (tests/realapps/conftest.py, eight servers that take seconds to
    start) in one xdist group: on one worker, the fleet starts once, not once a worker. Gives
    ``slow`` tests a longer hang guard."""
    for item in items:
        if _on_postgres(item):
            item.add_marker(pytest.mark.postgres)
        if "realapps" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("realapps"))
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            # A soak takes a minute or two on a busy machine: the hang guard is not its bound.
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT))


# --- Discord and GitHub stand-ins ---------------------------------------------------------

@dataclass
class Api:
    url: str
    state: Any


@pytest.fixture(scope="session")
def _discord_server() -> Iterator[tuple[BackgroundServer, Any]]:
    from tests.standins import DiscordStandIn, discord_app

    state = DiscordStandIn()
    with BackgroundServer(discord_app(state)) as server:
        yield server, state


@pytest.fixture
def discord(_discord_server: tuple[BackgroundServer, Any]) -> Iterator[Api]:
    """A local server implementing Discord's webhook endpoints (execute, edit, 429s)."""
    server, state = _discord_server
    state.reset()
    yield Api(server.url, state)
    state.reset()


@pytest.fixture(scope="session")
def _github_server() -> Iterator[tuple[BackgroundServer, Any]]:
    from tests.standins import GithubStandIn, github_app

    state = GithubStandIn()
    with BackgroundServer(github_app(state)) as server:
        yield server, state


@pytest.fixture
def github(_github_server: tuple[BackgroundServer, Any]) -> Iterator[Api]:
    """A local server implementing GitHub's release and deployment endpoints."""
    server, state = _github_server
    state.reset()
    yield Api(server.url, state)
    state.reset()


@pytest.fixture(scope="session")
def _slack_server() -> Iterator[tuple[BackgroundServer, Any]]:
    from tests.standins import SlackStandIn, slack_app

    state = SlackStandIn()
    with BackgroundServer(slack_app(state)) as server:
        yield server, state


@pytest.fixture
def slack(_slack_server: tuple[BackgroundServer, Any]) -> Iterator[Api]:
    """A local server implementing Slack's chat.postMessage and chat.update."""
    server, state = _slack_server
    state.reset()
    yield Api(server.url, state)
    state.reset()


@pytest.fixture(scope="session")
def _webhook_server() -> Iterator[tuple[BackgroundServer, Any]]:
    from tests.standins import WebhookReceiver, webhook_app

    state = WebhookReceiver()
    with BackgroundServer(webhook_app(state)) as server:
        yield server, state


@pytest.fixture
def webhook(_webhook_server: tuple[BackgroundServer, Any]) -> Iterator[Api]:
    """A webhook receiver that verifies the signature and records delivery ids."""
    server, state = _webhook_server
    state.reset()
    yield Api(server.url, state)
    state.reset()


@pytest.fixture
def slack_env(slack: Api, webhook: Api, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The Slack bot token and the webhook's URL and secret, in the environment."""
    from tests.standins import SLACK_TOKEN, WEBHOOK_SECRET

    env = {"SLACK_BOT_TOKEN": SLACK_TOKEN,
           "SMOKESEAL_WEBHOOK_URL": webhook.state.url(webhook.url),
           "SMOKESEAL_WEBHOOK_SECRET": WEBHOOK_SECRET}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


# --- configs that notify Discord and GitHub (the stand-ins above) --------------------------

THREAD = "1234567890123"


def notify_yaml(discord: Api | None, github: Api | None, deployment_status: bool = False, *,
                slack: Api | None = None, webhook: Api | None = None,
                channel: str = "C0RELEASES1") -> str:
    out = "    notify:\n"
    if slack:
        out += (f"      slack: {{token: '${{SLACK_BOT_TOKEN}}', channel: {channel}, "
                f"operator: U0OPERATOR, api_url: '{slack.url}/api'}}\n")
    if webhook:
        out += ("      webhook: {url: '${SMOKESEAL_WEBHOOK_URL}', "
                "secret: '${SMOKESEAL_WEBHOOK_SECRET}'}\n")
    if discord:
        out += (f"      discord: {{webhook_url: '${{DISCORD_WEBHOOK_URL}}', thread_id: "
                f"'{THREAD}', operator: '<@111>'}}\n")
    if github:
        out += (f"      github_release: {{repo: {GITHUB_REPO}, token: ${{GITHUB_TOKEN}}, "
                f"api_url: '{github.url}', deployment_status: {str(deployment_status).lower()}}}\n")
    return out


@pytest.fixture
def secrets_env(discord: Api, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"DISCORD_WEBHOOK_URL": discord.state.webhook_url(discord.url),
           "GITHUB_TOKEN": GITHUB_TOKEN}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def make_config(demo: Demo, write_config: Callable[[str], Path], browser_executable: str,
                secrets_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
                ) -> Callable[..., Config]:
    monkeypatch.setenv("SMOKESEAL_BROWSER", browser_executable)

    def make(discord: Api | None = None, github: Api | None = None, *, suite: str | None = None,
             deployment_status: bool = False, slack: Api | None = None,
             webhook: Api | None = None) -> Config:
        text_ = demo.config_yaml().replace(
            "    suite: qa-readonly\n",
            f"    suite: {suite or 'qa-readonly'}\n    gate: {{timeout: 3, interval: 0.2}}\n"
            # The messages these tests read word for word must not depend on how fast a
            # busy machine drew the pages: comparisons are tested in tests/test_compare*.
            "    compare: {floor_ms: 600000}\n"
            + notify_yaml(discord, github, deployment_status, slack=slack, webhook=webhook))
        return load_config(write_config(text_))

    return make


def shipped(config: Config, ledger: Ledger, version: str,
            notes: str | None = "## Changes\n- faster tasks") -> ShipResult:
    release = resolve_release(ledger, config, "demo", version=version, sha="3f2a9c1dead",
                              notes=notes)
    return ship(config, ledger, release)


# --- one app reached by two names, one redirecting every path to the other -------------

@dataclass
class TwoNames:
    #: The name that redirects: http://localhost:PORT.
    apex: str
    #: The name that serves: http://127.0.0.1:PORT.
    www: str
    log: Recorder


def _two_names_app() -> Starlette:
    async def everything(request: Request) -> Response:
        if request.url.hostname == "localhost":
            # Every path, query and all, to the same place on the canonical name.
            query = f"?{request.url.query}" if request.url.query else ""
            return RedirectResponse(f"http://127.0.0.1:{request.url.port}{request.url.path}"
                                    f"{query}", status_code=301)
        if request.url.path == "/up":
            return PlainTextResponse("ok")
        return HTMLResponse("<title>Two Names</title><main><h1>Tasks</h1>"
                            "<p>every task in its place</p></main>")

    return Starlette(routes=[Route("/{path:path}", everything)])


@pytest.fixture(scope="module")
def _two_names_server() -> Iterator[tuple[BackgroundServer, Recorder]]:
    log = Recorder()
    with BackgroundServer(log.wrap(_two_names_app())) as server:
        yield server, log


@pytest.fixture
def two_names(_two_names_server: tuple[BackgroundServer, Recorder],
              request: pytest.FixtureRequest) -> Iterator[TwoNames]:
    """One app on two loopback names: ``localhost`` sends every path (query and all) to the
    same path on ``127.0.0.1``, as an apex domain sends every path to www. Afterwards it must
    have received nothing but GET and HEAD."""
    server, log = _two_names_server
    log.clear()
    yield TwoNames(f"http://localhost:{server.port}", f"http://127.0.0.1:{server.port}", log)
    _read_only_proof(request, list(log.seen), "the two-name app")


# --- a production stand-in that breaks the ways real releases break ----------------------

@dataclass
class Broken:
    """A production stand-in: healthy until a fault is set; serves ``revision`` on /version."""

    url: str
    log: list[tuple[str, str]]
    state: dict[str, Any]

    def fault(self, name: str | None) -> None:
        self.state["fault"] = name


HEALTHY_PAGE = ("<!doctype html><title>Studio</title><main id=root></main>"
                "<script src='/assets/app.js'></script>")
SPIN_PAGE = ("<!doctype html><title>Studio</title><main><h1>Studio</h1></main><script>"
             "addEventListener('load', () => setTimeout(() => { while (true) {} }, 0))"
             "</script>")
NUL_PAGE = ("<!doctype html><title>Studio</title><main><h1>Studio</h1></main><script>"
            "setTimeout(() => { throw new Error('bad\\u0000byte') }, 0)</script>")


def _broken_app(log: list[tuple[str, str]], state: dict[str, Any]) -> Starlette:
    from starlette.responses import HTMLResponse, JSONResponse

    async def home(request: Request) -> Response:
        log.append((request.method, request.url.path))
        fault = state.get("fault")
        if fault == "error_shell":
            return HTMLResponse("<!doctype html><title>Studio</title>"
                                "<h1>Something went wrong</h1><p>Please try again.</p>")
        if fault == "sso":
            return RedirectResponse(f"http://localhost:{request.url.port}/login", 302)
        if fault == "spin":
            return HTMLResponse(SPIN_PAGE)
        if fault == "nul_error":
            return HTMLResponse(NUL_PAGE)
        if fault == "flaky":
            state["home_hits"] = state.get("home_hits", 0) + 1
            if state["home_hits"] == 1:
                return HTMLResponse("<h1>warming up</h1>", 500)
        return HTMLResponse(HEALTHY_PAGE)

    async def bundle(request: Request) -> Response:
        log.append((request.method, request.url.path))
        if state.get("fault") == "blank":
            return PlainTextResponse("not found", 404)
        return Response("document.getElementById('root').innerHTML = '<h1>Studio</h1>'",
                        media_type="text/javascript")

    async def login(request: Request) -> Response:
        log.append((request.method, request.url.path))
        return HTMLResponse("<!doctype html><title>Sign in</title><form><input name=u></form>")

    async def up(request: Request) -> Response:
        log.append((request.method, request.url.path))
        return PlainTextResponse("ok")

    async def version(request: Request) -> Response:
        log.append((request.method, request.url.path))
        return JSONResponse({"sha": state["revision"]})

    return Starlette(routes=[Route("/", home), Route("/assets/app.js", bundle),
                             Route("/login", login), Route("/up", up),
                             Route("/version", version)])


@pytest.fixture(scope="session")
def _broken_server() -> Iterator[tuple[BackgroundServer, list[tuple[str, str]],
                                       dict[str, Any]]]:
    log: list[tuple[str, str]] = []
    state: dict[str, Any] = {}
    with BackgroundServer(_broken_app(log, state)) as server:
        yield server, log, state


@pytest.fixture
def broken(_broken_server: tuple[BackgroundServer, list[tuple[str, str]], dict[str, Any]],
           request: pytest.FixtureRequest) -> Iterator[Broken]:
    """A production stand-in with switchable breakages (blank page, error shell, SSO
    redirect, spinning script, flaky first answer, old build). Healthy to begin with,
    serving revision 3f2a9c1…; afterwards it must have received nothing but GET and HEAD."""
    server, log, state = _broken_server
    log.clear()
    state.clear()
    state["revision"] = "3f2a9c1b7d0e"
    yield Broken(server.url, log, state)
    _read_only_proof(request, list(log), "the broken stand-in")


@dataclass
class Served:
    """A stand-in served on 127.0.0.1, and what it received."""

    url: str
    recorder: Recorder


@pytest.fixture
def serve(request: pytest.FixtureRequest) -> Iterator[Callable[[ASGIApp], Served]]:
    """Serve stand-in apps for one test; afterwards each must have received nothing but GET
    and HEAD."""
    started: list[tuple[BackgroundServer, Recorder]] = []

    def start(app: ASGIApp) -> Served:
        recorder = Recorder(with_query=True)
        server = BackgroundServer(recorder.wrap(app)).start()
        started.append((server, recorder))
        return Served(server.url, recorder)

    yield start
    for server, recorder in started:
        server.stop()
        _read_only_proof(request, recorder.seen, f"the stand-in on {server.url}")


def meeting_point(expected: int, bound: float) -> tuple[Starlette, list[int]]:
    """A stand-in whose ``/slow`` answers once ``expected`` requests wait on it at once (or
    after ``bound`` seconds), and the most that ever waited together: proof that things ran
    side by side, with no fixed delay for a slow start to outlast. ``/up`` answers at once."""
    waiting, peak = [0], [0]
    all_here = asyncio.Event()

    async def slow(request: Request) -> Response:
        waiting[0] += 1
        peak[0] = max(peak[0], waiting[0])
        if waiting[0] >= expected:
            all_here.set()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_here.wait(), bound)
        finally:
            waiting[0] -= 1
        return HTMLResponse("<title>Slow</title><main>Answered together</main>")

    return Starlette(routes=[Route("/slow", slow),
                             Route("/up", lambda request: PlainTextResponse("ok"))]), peak
