"""docs/apps.md's recipes for apps that need no framework from PyPI, run against small
Starlette stand-ins: a server-rendered app, a single-page app, an app behind a sign-in. Each
recipe seals its stand-in green, and red once the stand-in breaks the way such apps break.
Every recipe of the doc is run by some test (this file's or test_realapps.py's)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from smokeseal.config import load_config
from smokeseal.runner import RunResult, run_app
from smokeseal.servers import BackgroundServer
from tests.realapps.conftest import KINDS
from tests.realapps.recipes import recipe_config, recipes

pytestmark = pytest.mark.integration
READ_ONLY = ("GET", "HEAD")


@dataclass
class StandIn:
    """A stand-in's URL, its fault switch and every request it received (method, path,
    headers)."""

    url: str = ""
    fault: str | None = None
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, request: Request) -> None:
        with self.lock:
            self.seen.append((request.method, request.url.path, dict(request.headers)))

    def writes(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path, _ in self.seen if method not in READ_ONLY]


@pytest.fixture(autouse=True)
def _browser(browser_executable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOKESEAL_BROWSER", browser_executable)


def serve(routes: list[Route], host: str = "127.0.0.1") -> Iterator[StandIn]:
    state = StandIn()

    async def recorded(request: Request) -> Response:
        state.record(request)
        for route in routes:
            match, scope = route.matches(request.scope)
            if match.name == "FULL":
                request.scope.update(scope)
                return await route.endpoint(request, state)  # type: ignore[no-any-return]
        return PlainTextResponse("not found", 404)

    app = Starlette(routes=[Route("/{path:path}", recorded, methods=["GET", "HEAD", "POST"])])
    with BackgroundServer(app, host) as server:
        state.url = server.url
        yield state
    # Production: nothing but GET and HEAD ever reached it.
    assert not state.writes(), f"the stand-in received writes: {state.writes()}"


def seal(name: str, stand_in: StandIn, where: Path, **options: object) -> RunResult:
    app, path = recipe_config(name, stand_in.url, where, **options)  # type: ignore[arg-type]
    return run_app(load_config(path), app)


def failed(run: RunResult) -> dict[str, str]:
    return {r.name: r.detail for r in run.failed}


# --- a server-rendered app ------------------------------------------------------------------

async def _shop_home(request: Request, state: StandIn) -> Response:
    if state.fault == "error_shell":
        return HTMLResponse("<title>Shop</title><h1>We're sorry, but something went wrong.</h1>")
    return HTMLResponse("<title>Shop</title><main><h1>Shop</h1><p>Spring sale</p></main>")


async def _shop_product(request: Request, state: StandIn) -> Response:
    return HTMLResponse("<title>Widget</title><main><h1>Widget</h1>"
                        "<form method=post action=/cart><button>Add to cart</button></form></main>")


async def _up(request: Request, state: StandIn) -> Response:
    return PlainTextResponse("ok")


async def _not_found(request: Request, state: StandIn) -> Response:
    if state.fault == "admin_open":
        return HTMLResponse("<h1>Admin</h1>")
    return PlainTextResponse("not found", 404)


@pytest.fixture
def shop() -> Iterator[StandIn]:
    yield from serve([Route("/", _shop_home), Route("/products/{id}", _shop_product),
                      Route("/up", _up), Route("/admin", _not_found)])


def test_the_server_rendered_recipe(shop: StandIn, tmp_path: Path) -> None:
    assert seal("server-rendered", shop, tmp_path / "green").passed
    shop.fault = "error_shell"
    red = seal("server-rendered", shop, tmp_path / "shell", retries=0)
    assert list(failed(red)) == ["home renders"]
    assert "error shell" in failed(red)["home renders"]
    shop.fault = "admin_open"
    red = seal("server-rendered", shop, tmp_path / "admin", retries=0)
    assert failed(red) == {"admin hidden": "expected 404, got 200"}


# --- a single-page app ----------------------------------------------------------------------

SPA_BUNDLE = """
const root = document.getElementById('root');
fetch('/api/projects').then(r => r.json()).then(projects => {
  const id = location.pathname.match(/^\\/projects\\/(\\d+)/);
  root.innerHTML = id ? `<h1>Project ${id[1]}</h1>`
                      : '<h1>Your projects</h1>' + projects.map(p => `<p>${p}</p>`).join('');
});
"""


async def _spa_shell(request: Request, state: StandIn) -> Response:
    # After a bad deploy the shell names a chunk the server no longer has.
    chunk = "app-0ld.js" if state.fault == "stale_chunk" else "app-3f2a9c.js"
    return HTMLResponse(f"<!doctype html><title>Studio</title><div id=root></div>"
                        f"<script src=/assets/{chunk}></script>")


async def _spa_bundle(request: Request, state: StandIn) -> Response:
    return Response(SPA_BUNDLE, media_type="text/javascript")


async def _spa_api(request: Request, state: StandIn) -> Response:
    return JSONResponse(["Apollo", "Gemini"])


@pytest.fixture
def studio() -> Iterator[StandIn]:
    # The catch-all answers every other path with the shell, as SPA hosting does.
    yield from serve([Route("/assets/app-3f2a9c.js", _spa_bundle),
                      Route("/api/projects", _spa_api), Route("/{path:path}", _spa_shell)])


def test_the_spa_recipe(studio: StandIn, tmp_path: Path) -> None:
    run = seal("spa", studio, tmp_path / "green")
    assert run.passed, failed(run)
    assert ("GET", "/projects/42") in [(m, p) for m, p, _ in studio.seen]
    studio.fault = "stale_chunk"
    red = seal("spa", studio, tmp_path / "stale", retries=0, timeout=5)
    assert set(failed(red)) == {"home renders", "deep link renders"}
    assert "/assets/app-0ld.js" in failed(red)["deep link renders"]


# --- behind a sign-in -----------------------------------------------------------------------

SECRETS = {"BACKOFFICE_PASSWORD": "pw-8c1f", "CF_ACCESS_ID": "id-22a0",
           "CF_ACCESS_SECRET": "secret-91bd", "SMOKE_SESSION": "session-5e77"}


def _signed_in(request: Request) -> bool:
    import base64

    basic = "Basic " + base64.b64encode(b"smoke:" + SECRETS["BACKOFFICE_PASSWORD"].encode()
                                        ).decode()
    return (request.headers.get("authorization") == basic
            and request.headers.get("cf-access-client-id") == SECRETS["CF_ACCESS_ID"]
            and request.headers.get("cf-access-client-secret") == SECRETS["CF_ACCESS_SECRET"]
            and request.cookies.get("session") == SECRETS["SMOKE_SESSION"])


@pytest.fixture
def cdn() -> Iterator[StandIn]:
    async def script(request: Request, state: StandIn) -> Response:
        return Response("document.body.dataset.cdn = 'yes'", media_type="text/javascript")

    # Another host, as a CDN is: a browser sends a host's cookies to each of its ports.
    yield from serve([Route("/widget.js", script)], host="127.0.0.2")


@pytest.fixture
def backoffice(cdn: StandIn) -> Iterator[StandIn]:
    async def orders(request: Request, state: StandIn) -> Response:
        if not _signed_in(request):
            return HTMLResponse("<title>Sign in</title><form><input name=user></form>", 401)
        return HTMLResponse(f"<title>Orders</title><main><p>Signed in as smoke</p></main>"
                            f"<script src={cdn.url}/widget.js></script>")

    async def up(request: Request, state: StandIn) -> Response:
        return PlainTextResponse(*("ok", 200) if _signed_in(request) else ("sign in", 401))

    yield from serve([Route("/orders", orders), Route("/up", up)])


def test_the_sign_in_recipe(backoffice: StandIn, cdn: StandIn, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    run = seal("sign-in", backoffice, tmp_path / "green")
    assert run.passed, failed(run)
    # The CDN's script was asked for, and it was given none of the credentials.
    assert [p for _, p, _ in cdn.seen] == ["/widget.js"]
    for _, _, headers in cdn.seen:
        sent = " ".join(f"{k}: {v}" for k, v in headers.items())
        for secret in SECRETS.values():
            assert secret not in sent
        assert "authorization" not in headers
    # A session that expired: the page is the sign-in form, and the seal says so.
    monkeypatch.setenv("SMOKE_SESSION", "expired")
    red = seal("sign-in", backoffice, tmp_path / "expired", retries=0, timeout=3)
    assert set(failed(red)) == {"orders render", "up"}
    for check in red.results:
        for secret in SECRETS.values():
            assert secret not in check.detail


def test_every_recipe_in_the_doc_is_run_by_a_test() -> None:
    run_here = {"server-rendered", "spa", "sign-in"}
    run_against_real_apps = set(KINDS)
    assert set(recipes()) == run_here | run_against_real_apps
