"""Production at its worst: a stand-in that misbehaves on purpose, and one behind bad TLS.

Every request either receives is recorded; after each test, nothing but GET/HEAD may have
arrived (the read-only proof, as for the demo app and the edge server).
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from smokeseal.servers import BackgroundServer
from tests.conftest import Recorder, _read_only_proof

#: Text production controls, written to break out of every place smokeseal shows it.
HOSTILE = ("<script>alert('xss')</script><img src=x onerror=alert(1)> @everyone @here "
           "<@&42> ``` **bold** [click](https://evil.example) </textarea> "
           "<!-- /smokeseal:seal -->")
#: Long enough to break Discord's limits on its own.
LONG = "Ω" * 6000


@dataclass
class Hostile:
    url: str
    other_host_url: str  # the same server under another host name
    recorder: Recorder


def _hostile_app(port: list[int]) -> Starlette:
    async def home(request: Request) -> Response:
        # The title and an uncaught error both carry production's hostile text.
        page = (f"<!doctype html><title>{html.escape(HOSTILE)}</title><main>home</main>"
                f"<script>throw new Error({HOSTILE + LONG!r})</script>")
        return HTMLResponse(page)

    async def calm(request: Request) -> Response:
        return HTMLResponse("<!doctype html><title>Calm</title><main>calm</main>")

    async def header(request: Request) -> Response:
        return PlainTextResponse("ok", headers={"X-Hostile": HOSTILE.replace("\n", " ")})

    async def body(request: Request) -> Response:
        return PlainTextResponse(HOSTILE + LONG, status_code=500)

    async def away(request: Request) -> Response:
        return RedirectResponse(f"http://localhost:{port[0]}/landed", status_code=302)

    async def landed(request: Request) -> Response:
        return HTMLResponse("<!doctype html><title>Landed</title><main>landed</main>")

    async def never_loads(request: Request) -> Response:
        # The document arrives; the image it waits on never does, so `load` never fires.
        return HTMLResponse('<!doctype html><title>Slow</title><main>slow</main>'
                            '<img src="/hang.png">')

    async def hang(request: Request) -> Response:
        await asyncio.sleep(60)
        return PlainTextResponse("too late")

    return Starlette(routes=[
        Route("/", home), Route("/calm", calm), Route("/header", header), Route("/body", body),
        Route("/away", away), Route("/landed", landed), Route("/never-loads", never_loads),
        Route("/hang.png", hang), Route("/hang", hang),
        Route("/up", lambda request: PlainTextResponse("ok")),
    ])


@pytest.fixture(scope="session")
def _hostile_server() -> Iterator[tuple[BackgroundServer, Recorder]]:
    recorder = Recorder()
    port: list[int] = []
    with BackgroundServer(recorder.wrap(_hostile_app(port))) as server:
        port.append(server.port)
        yield server, recorder


@pytest.fixture
def hostile(_hostile_server: tuple[BackgroundServer, Recorder],
            request: pytest.FixtureRequest) -> Iterator[Hostile]:
    """Production at its worst, on 127.0.0.1; afterwards, it must have seen only GET/HEAD."""
    server, recorder = _hostile_server
    recorder.seen.clear()
    yield Hostile(server.url, f"http://localhost:{server.port}", recorder)
    _read_only_proof(request, list(recorder.seen), "the hostile stand-in")


@dataclass
class BadTLS:
    unknown_ca: str  # a certificate from a CA nobody trusts
    wrong_name: str  # a certificate for another host name
    expired: str
    ca_file: str  # the CA that issued all three, for a client told to trust it
    recorder: Recorder


@pytest.fixture(scope="session")
def _tls_servers(tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[tuple[dict[str, BackgroundServer], str, Recorder]]:
    import datetime

    import trustme

    folder: Path = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    now = datetime.datetime.now(datetime.UTC)
    certs = {
        "unknown_ca": ca.issue_cert("127.0.0.1"),
        "wrong_name": ca.issue_cert("somewhere-else.test"),
        "expired": ca.issue_cert("127.0.0.1", not_before=now - datetime.timedelta(days=30),
                                 not_after=now - datetime.timedelta(days=1)),
    }
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    recorder = Recorder()
    app = recorder.wrap(Starlette(routes=[
        Route("/", lambda request: HTMLResponse("<title>TLS</title><main>tls</main>")),
    ]))
    servers: dict[str, BackgroundServer] = {}
    try:
        for name, cert in certs.items():
            certfile, keyfile = folder / f"{name}.pem", folder / f"{name}.key"
            cert.cert_chain_pems[0].write_to_path(str(certfile))
            cert.private_key_pem.write_to_path(str(keyfile))
            servers[name] = BackgroundServer(app, certfile=str(certfile),
                                             keyfile=str(keyfile)).start()
        yield servers, str(ca_file), recorder
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture
def bad_tls(_tls_servers: tuple[dict[str, BackgroundServer], str, Recorder],
            request: pytest.FixtureRequest) -> Iterator[BadTLS]:
    servers, ca_file, recorder = _tls_servers
    recorder.seen.clear()
    yield BadTLS(servers["unknown_ca"].url, servers["wrong_name"].url, servers["expired"].url,
                 ca_file, recorder)
    _read_only_proof(request, list(recorder.seen), "the TLS stand-ins")
