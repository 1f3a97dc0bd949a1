"""A production stand-in for page checks: pages that break the ways real releases do.

It serves on 127.0.0.1 and is reachable as ``localhost`` too: the same server under another
host name plays a third-party CDN, an SSO host or an alias. It records every request, and
after each test it must have received nothing but GET and HEAD.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from smokeseal.servers import BackgroundServer
from tests.checks.pages import SharedBrowser
from tests.checks.procs import running
from tests.conftest import Recorder, _read_only_proof

#: A 1x1 transparent PNG: a page that shows an image and no text.
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")

#: Writes sent as a page is left, by ``leave()``; the query names the page.
LEAVE_WRITES = ("const leave = () => {{ fetch('/api/beacon?{0}-keepalive', {{method: 'POST', "
                "keepalive: true, body: 'x'}}); navigator.sendBeacon('/api/beacon?{0}', 'x') }};")
#: Starts a worker (from a data: URL) whose WebSocket to 127.0.0.1's ``/ws/NAME`` writes.
WORKER_SOCKET = ("new Worker('data:text/javascript,' + encodeURIComponent(\"const ws = new "
                 "WebSocket('\" + location.origin.replace('http', 'ws').replace('localhost', "
                 "'127.0.0.1') + \"/ws/{0}'); ws.onopen = () => ws.send('written')\"))")

#: Page bodies by path; ``{other}`` is this server under its other host name.
PAGES = {
    # A 200 that is really a framework's error shell.
    "/": "<title>Shop</title><div id=__next><h2>Application error: a client-side exception "
         "has occurred</h2></div>",
    "/bundle": '<title>Shop</title><link rel=stylesheet href="/static/app.css">'
               '<script src="/static/app.js"></script><script src="/static/moved.js"></script>'
               "<main>Welcome to the shop</main>",
    "/bundle/missing-script": '<script src="/static/missing.js"></script><main>Shop</main>',
    "/bundle/broken-style": '<link rel=stylesheet href="/static/broken.css"><main>Shop</main>',
    "/bundle/cut-script": '<script src="/static/cut.js"></script><main>Shop</main>',
    "/bundle/not-modified": '<script src="/static/not-modified.js"></script><main>Shop</main>',
    # Requested as the load event fires: still in flight when the page has loaded.
    "/bundle/late-404": "<main>Shop</main><script>addEventListener('load', () => {"
                        "const s = document.createElement('script'); s.src = "
                        "'/static/slow-404.js'; document.head.append(s) })</script>",
    "/bundle/hanging": "<main>Shop</main><script>addEventListener('load', () => {"
                       "const s = document.createElement('script'); s.src = '/static/hang.js';"
                       " document.head.append(s) })</script>",
    "/bundle/third-party": '<link rel=stylesheet href="{other}/static/broken.css">'
                           '<script src="{other}/static/missing.js"></script><main>Shop</main>',
    "/writes": "<main>Shop</main><form id=f method=post action=/api/cart target=t></form>"
               "<iframe name=t hidden></iframe><script>"
               "fetch('/api/cart', {method: 'POST'}).catch(() => {});"
               "navigator.sendBeacon('/api/beacon', 'x'); f.submit()</script>",
    "/blank": "<!doctype html><title>Blank</title><body></body>",
    "/blank/hidden": '<div style="display:none">hidden text</div>'
                     '<div hidden><iframe srcdoc="<p>text in a hidden frame</p>"></iframe></div>',
    "/spa": "<div id=root></div><script>setTimeout(() => "
            "{ root.textContent = 'Rendered after load' }, 500)</script>",
    "/canvas": "<canvas width=200 height=100></canvas><script>"
               "document.querySelector('canvas').getContext('2d').fillRect(0, 0, 50, 50)</script>",
    "/image": '<img src="/static/pixel.png" width=100 height=100 alt="">',
    "/framed": '<iframe src="/framed/inner" width=400 height=200></iframe>',
    "/framed/inner": "<p>Inside the frame</p>",
    "/framed/empty": '<iframe src="/blank" width=400 height=200></iframe>',
    "/error-shell": "<main><h1>Something went wrong</h1><p>Please try again.</p></main>",
    "/late-error-shell": "<main id=m>Loading</main><script>addEventListener('load', () => "
                         "setTimeout(() => { m.textContent = 'Something went wrong' }, 300))"
                         "</script>",
    "/late-text": "<main id=m>Loading</main><script>addEventListener('load', () => "
                  "setTimeout(() => { m.textContent = 'Ready to ship' }, 100))</script>",
    # Sent away by script before the load event.
    "/js-away": "<script>location.href = '{other}/landed'</script><main>Redirecting</main>",
    # Sent away by script after the load event, as an SPA's auth guard does.
    "/js-away-late": "<main>Checking your session</main><script>addEventListener('load', () =>"
                     " setTimeout(() => { location.href = '{other}/landed' }, 300))</script>",
    # Sent away while its own script is still loading: the browser cancels that request.
    "/js-away-loading": "<script async src='/static/hang.js'></script>"
                        "<script>setTimeout(() => { location.href = '{other}/landed' }, 200)"
                        "</script><main>Redirecting</main>",
    # Sent by script to a sign-in page that is down.
    "/js-away-broken": "<script>location.href = '{other}/sso-down'</script>",
    "/landed": "<title>Sign in</title><main>Please sign in</main>",
    # A third-party embed whose script never yields, on a page that renders after load.
    "/embed-hangs": "<main id=m>Loading</main><iframe src='{other}/spin' width=300 height=100>"
                    "</iframe><script>addEventListener('load', () => setTimeout(() => "
                    "{ m.textContent = 'Shop front' }, 300))</script>",
    # Loads, then its script never yields again.
    "/spin": "<main>Spinning</main><script>addEventListener('load', () => "
             "setTimeout(() => { while (true) {} }))</script>",
    # A SharedWorker's requests pass no route: one that writes, and a harmless one.
    "/shared-worker": "<main>Shop</main><script>"
                      "new SharedWorker('/static/sync-worker.js').port.start()</script>",
    "/shared-worker/writes": "<main>Shop</main><script>"
                             "new SharedWorker('/static/writer-worker.js').port.start()</script>",
    # A dedicated worker that POSTs and opens a WebSocket: from a script, as a module, from a
    # blob: and from a data: URL. Routes see its POST, not its socket.
    # Each shows its text once its worker's socket is settled (refused or open), so the
    # verdict, which follows the text, comes after the browser told of the socket.
    "/worker/writes": "<main id=m>Starting</main><script>new Worker('/static/socket-worker.js')"
                      ".onmessage = () => { m.textContent = 'Shop' }</script>",
    "/worker/writes/module": "<main id=m>Starting</main><script>"
                             "new Worker('/static/socket-worker.js', {type: 'module'})"
                             ".onmessage = () => { m.textContent = 'Shop' }</script>",
    "/worker/writes/blob": "<main id=m>Starting</main><script>new Worker(URL.createObjectURL("
                           "new Blob([`const ws = new WebSocket('${location.origin.replace("
                           "'http', 'ws')}/ws/worker'); ws.onopen = () => { ws.send('written');"
                           " postMessage('open') }; ws.onerror = () => postMessage('refused')`]"
                           "))).onmessage = () => { m.textContent = 'Shop' }</script>",
    "/worker/writes/data": "<main id=m>Starting</main><script>new Worker('data:text/javascript,'"
                           " + encodeURIComponent(`const ws = new WebSocket('${location.origin"
                           ".replace('http', 'ws')}/ws/worker'); ws.onopen = ws.onerror = () =>"
                           " postMessage('settled')`)).onmessage = () => "
                           "{ m.textContent = 'Shop' }</script>",
    # Writes as the page goes away: a keepalive fetch on pagehide, beacons on pagehide and
    # unload. They outlive the page: the guard must still be there when they leave.
    "/leaving": "<main>Shop</main><script>addEventListener('pagehide', () => {"
                "fetch('/api/beacon?keepalive', {method: 'POST', keepalive: true, body: 'x'});"
                "navigator.sendBeacon('/api/beacon?pagehide', 'x') });"
                "addEventListener('unload', () => navigator.sendBeacon('/api/beacon?unload', 'x'))"
                "</script>",
    # A page that makes its leaving-listener appear only when the wipe asks for its storage
    # (``Storage.prototype.clear``), one that keeps adding and removing it, and one that
    # writes on ``pageswap``: each sends a keepalive fetch and a beacon as it is left.
    "/leaving/storage-trap": "<main>Shop</main><script>" + LEAVE_WRITES.format("trap")
                             + "Storage.prototype.clear = function () {"
                             "addEventListener('pagehide', leave) }</script>",
    "/leaving/toggling": "<main>Shop</main><script>" + LEAVE_WRITES.format("toggle")
                         + "let on = false; setInterval(() => { on ? removeEventListener("
                         "'pagehide', leave) : addEventListener('pagehide', leave); on = !on },"
                         " 1)</script>",
    "/leaving/pageswap": "<main>Shop</main><script>" + LEAVE_WRITES.format("swap")
                         + "addEventListener('pageswap', leave)</script>",
    # Popups: one at a URL whose page starts a writing worker, one left blank and scripted by
    # its opener to start such a worker itself.
    "/popup": "<main>Shop</main><script>window.open('/popup/child');"
              "const socket = location.origin.replace('http', 'ws') + '/ws/popup-blank';"
              "const blank = window.open(); if (blank) blank.eval(`new Worker('data:text/"
              "javascript,' + encodeURIComponent(\"const ws = new WebSocket('${socket}'); "
              "ws.onopen = () => ws.send('written')\"))`)</script>",
    # Its text comes a little after the popup, so the browser has told of it by the verdict.
    "/popup/url": "<main id=m>Opening</main><script>window.open('/popup/child');"
                  "setTimeout(() => { m.textContent = 'Shop' }, 500)</script>",
    "/popup/child": "<main>Popup</main><script>" + WORKER_SOCKET.format("popup")
                    + ";fetch('/api/orders', {method: 'POST', body: 'x'}).catch(() => {})"
                    "</script>",
    # A frame (of the app's origin, and of another) whose worker opens a WebSocket.
    "/framed/worker-socket": "<main>Shop</main><iframe src='/framed/socket-worker'></iframe>",
    "/framed/worker-socket/other": "<main>Shop</main>"
                                   "<iframe src='{other}/framed/socket-worker'></iframe>",
    "/framed/socket-worker": "<p>Frame</p><script>" + WORKER_SOCKET.format("frame-worker")
                             + "</script>",
    # After a deploy renamed the chunks, the SPA's catch-all answers the old names with itself.
    "/stale-bundle": '<link rel=stylesheet href="/_nuxt/entry.abc.css">'
                     '<script type=module src="/_nuxt/entry.abc.js"></script><main>Shop</main>',
    # From a CDN that allows CORS (else the browser blocks the page it answers unread).
    "/stale-bundle/third-party": '<link rel=stylesheet href="{other}/_nuxt/entry.abc.css" '
                                 'crossorigin><script type=module crossorigin '
                                 'src="{other}/_nuxt/entry.abc.js"></script><main>Shop</main>',
    # Scripts served loosely typed, as many servers do: the browser runs them.
    "/bundle/loosely-typed": '<script src="/static/plain.js"></script>'
                             '<script src="/static/untyped.js"></script>'
                             '<script src="/static/env-as-html.js"></script><main>Shop</main>',
    # A web-components app: all its text is in open shadow roots, one nested.
    "/shadow": "<shop-app></shop-app><script>"
               "customElements.define('shop-price', class extends HTMLElement { "
               "connectedCallback() { this.attachShadow({mode: 'open'}).innerHTML = "
               "'<b>12 EUR</b>' } });"
               "customElements.define('shop-app', class extends HTMLElement { "
               "connectedCallback() { this.attachShadow({mode: 'open'}).innerHTML = "
               "'<style>h1 { color: #123 }</style><h1>Dashboard</h1>"
               "<div style=display:contents><p>All systems normal</p></div>"
               "<shop-price></shop-price>' } })</script>",
    # The same text in shadow roots of hosts that are not drawn, or parts hidden in one.
    "/shadow/hidden": "<div hidden><shop-app></shop-app></div><shop-box></shop-box><script>"
                      "customElements.define('shop-app', class extends HTMLElement { "
                      "connectedCallback() { this.attachShadow({mode: 'open'}).innerHTML = "
                      "'Dashboard<p>All systems normal</p>' } });"
                      "customElements.define('shop-box', class extends HTMLElement { "
                      "connectedCallback() { this.attachShadow({mode: 'open'}).innerHTML = "
                      "'<p hidden>Dashboard</p><style>p { color: red }</style>' } })</script>",
    # A sign-in page of form controls and a logo: its only text is in the controls.
    "/sign-in-form": '<form><img src="/static/pixel.png" width=40 height=40 alt="">'
                     "<input name=email placeholder=Email>"
                     "<input type=password name=password placeholder=Password>"
                     '<input type=submit value="Sign in">'
                     '<button type=button><img src="/static/pixel.png" width=16 height=16 '
                     'alt=""></button></form>',
    # Controls that show nothing: hidden ones, an empty checkbox.
    "/sign-in-form/hidden": '<form><img src="/static/pixel.png" width=40 height=40 alt="">'
                            "<input type=hidden name=csrf value=token123>"
                            "<div hidden><input placeholder=Email></div>"
                            "<input style=visibility:hidden value=Invisible>"
                            "<input type=checkbox></form>",
    "/error-shell/shouting": "<h1>OOPS! SOMETHING WENT WRONG.</h1>",
    # A help page that mentions the words: long, so no error shell.
    # A short status page whose words only look like a shell's ("Server errors", not
    # "Server Error").
    "/error-shell/status": "<title>Status</title><main><h1>Status</h1>"
                           "<p>Server errors in the last 24 h: 0</p></main>",
    "/error-shell/faq": "<main><h1>Help</h1><h2>Something went wrong with my order?</h2><p>"
                        + "Write to us with your order number and we will sort it out. " * 10
                        + "</p></main>",
    # A third-party chat frame shows the error; the page itself is fine.
    "/error-shell/chat": "<main><h1>Shop</h1><p>Welcome back.</p></main>"
                         "<iframe src='{other}/chat-widget' width=300 height=200></iframe>",
    "/chat-widget": "<p>Something went wrong. Please try again.</p>",
    # A write sent and forgotten: the guard aborts it and the page leaves it uncaught.
    "/writes/uncaught": "<main>Shop</main><script>fetch('/api/cart', {method: 'DELETE'});"
                        "const x = new XMLHttpRequest(); x.open('POST', '/api/cart', false);"
                        " x.send()</script>",
    # The same, and a real bug after it.
    "/writes/and-a-bug": "<main>Shop</main><script>fetch('/api/cart', {method: 'DELETE'});"
                         "document.querySelector('#cart').textContent = 1</script>",
    # A beacon the guard blocks, and a read that fails on its own (a port no browser may
    # reach), uncaught: a failure of the app's, not the guard's.
    "/writes/and-a-failed-read": "<main>Shop</main><script>"
                                 "navigator.sendBeacon('/api/beacon', 'x');"
                                 "fetch('http://127.0.0.1:1/api/cart')</script>",
    # A write the guard blocks whose failure the page catches (telemetry), then a read that
    # fails on its own, uncaught: the app's failure, whatever the guard did before.
    "/writes/caught-and-a-failed-read": "<main>Shop</main><script>"
                                        "fetch('/api/cart', {method: 'POST'}).catch(() => {});"
                                        "fetch('http://127.0.0.1:1/api/cart')</script>",
    # An error message with a lone surrogate: text Python cannot encode as it is.
    "/surrogate": "<main>Shop</main><script>throw new Error('boom \\ud800 x')</script>",
    # A page that fires beacons in a loop and loads many third-party scripts that fail.
    "/noisy": "<main>Shop</main>"
              + "".join(f'<script src="{{other}}/static/missing.js?{n}"></script>'
                        for n in range(25))
              + "<script>for (let n = 0; n < 80; n++) "
                "fetch('/api/beacon?' + n, {method: 'POST'}).catch(() => {})</script>",
}


@dataclass
class Shop:
    url: str
    #: The same server as ``localhost``: another host, for the browser and for smokeseal.
    other_url: str
    seen: list[tuple[str, str]] = field(default_factory=list)


class _CutShort:
    """A script whose connection ends before its declared length: a network failure."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/javascript"),
                                (b"content-length", b"1000")]})
        # uvicorn refuses the short body and drops the connection: the point of it.
        with contextlib.suppress(RuntimeError):
            await send({"type": "http.response.body", "body": b"console.log(1)"})


def _js(body: str = "document.documentElement.dataset.js = 'ran'", status: int = 200,
        media_type: str | None = "text/javascript") -> Response:
    return Response(body, status, media_type=media_type)


#: A dedicated worker's script that writes: a POST the guard sees, and a WebSocket it may not.
SOCKET_WORKER = ("const ws = new WebSocket(location.origin.replace('http', 'ws') + '/ws/worker');"
                 "ws.onopen = () => { ws.send('written'); postMessage('open') };"
                 "ws.onerror = () => postMessage('refused');"
                 "fetch('/api/orders', {method: 'POST', body: 'x'}).catch(() => {})")


#: A SharedWorker's script that writes: were it to run, the proof would name its requests.
WRITER_WORKER = ("fetch('/api/orders', {method: 'DELETE'});"
                 "fetch('/api/orders', {method: 'POST', body: 'x'})")


def _shop_app(seen: list[tuple[str, str]]) -> ASGIApp:
    async def page(request: Request) -> Response:
        other = f"http://localhost:{request.url.port}"
        return HTMLResponse(PAGES[request.url.path].replace("{other}", other))

    async def slow_404(request: Request) -> Response:
        await asyncio.sleep(1.5)
        return _js("", 404)

    async def hang(request: Request) -> Response:
        await asyncio.sleep(30)
        return _js()

    async def away(request: Request) -> Response:
        return RedirectResponse(f"http://localhost:{request.url.port}/landed", 302)

    statics = [
        Route("/static/app.js", lambda request: _js()),
        Route("/static/app.css", lambda request: Response("main { color: #123 }",
                                                          media_type="text/css")),
        Route("/static/moved.js", lambda request: RedirectResponse("/static/app.js", 302)),
        Route("/static/missing.js", lambda request: _js("", 404)),
        Route("/static/broken.css", lambda request: Response("", 500, media_type="text/css")),
        Route("/static/not-modified.js", lambda request: Response(status_code=304)),
        Route("/static/pixel.png", lambda request: Response(PIXEL, media_type="image/png")),
        Route("/static/cut.js", _CutShort()),
        Route("/static/slow-404.js", slow_404),
        Route("/static/hang.js", hang),
        Route("/static/sync-worker.js",
              lambda request: _js("onconnect = e => e.ports[0].postMessage('hi')")),
        Route("/static/writer-worker.js", lambda request: _js(WRITER_WORKER)),
        Route("/static/socket-worker.js", lambda request: _js(SOCKET_WORKER)),
        Route("/static/plain.js", lambda request: _js(media_type="text/plain")),
        Route("/static/untyped.js", lambda request: _js(media_type=None)),
        # A server-rendered script view answering as text/html (Django's default): it runs.
        Route("/static/env-as-html.js", lambda request: _js(media_type="text/html")),
        # The SPA's catch-all: any path under it answers the app's page.
        Route("/_nuxt/{rest:path}", lambda request: HTMLResponse(
            PAGES["/"], headers={"access-control-allow-origin": "*"})),
    ]
    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()

    routes = [Route(path, page) for path in PAGES]
    routes += [WebSocketRoute("/ws/{name}", socket)]
    routes += [Route("/away", away),
               Route("/empty-404", lambda request: HTMLResponse("", 404)),
               Route("/sso-down", lambda request: HTMLResponse("<h1>Bad gateway</h1>", 502)),
               # The writes the guard must stop; were one to arrive, the proof names it.
               Route("/api/cart", lambda request: Response("ok"), methods=["GET", "POST"]),
               Route("/api/beacon", lambda request: Response("ok"), methods=["POST"]),
               Route("/api/orders", lambda request: Response("ok"),
                     methods=["GET", "POST", "DELETE"])]
    return Recorder(seen).wrap(Starlette(routes=routes + statics))


@pytest.fixture(scope="session")
def _shop_server() -> Iterator[tuple[BackgroundServer, list[tuple[str, str]]]]:
    seen: list[tuple[str, str]] = []
    with BackgroundServer(_shop_app(seen)) as server:
        yield server, seen


@pytest.fixture
def shop(_shop_server: tuple[BackgroundServer, list[tuple[str, str]]],
         request: pytest.FixtureRequest) -> Iterator[Shop]:
    """The stand-in production app on 127.0.0.1 (and as localhost), its request log empty.
    Afterwards it must have received nothing but GET and HEAD."""
    server, seen = _shop_server
    seen.clear()
    yield Shop(server.url, f"http://localhost:{server.port}", seen)
    _read_only_proof(request, list(seen), "the shop stand-in")


@pytest.fixture
def strays(tmp_path: Path) -> Iterator[Path]:
    """The test's folder, where commands started from tests.checks.procs.SPAWNER write their
    pids; whatever of them still runs afterwards (a test that failed) is killed, so a
    failure never leaves processes behind on a shared machine."""
    yield tmp_path
    for pids in tmp_path.rglob("pids.txt"):
        for pid in (int(p) for p in pids.read_text().split()):
            if running(pid):
                os.kill(pid, signal.SIGKILL)


# --- a production stand-in that reads through POST and a WebSocket ------------------------

#: Pages that read the ways Dash, GraphQL clients and Streamlit do; ``{other}`` is this server
#: under its other host name (another origin).
READ_PAGES = {
    # A Dash app: its text comes from callbacks, each a POST; nothing shows unless they pass.
    "/dash": "<main id=m>Loading…</main><script>"
             "const ask = () => fetch('/_dash-update-component', {method: 'POST', headers: "
             "{'content-type': 'application/json'}, body: JSON.stringify({output: 'm'})})"
             ".then(r => r.json());"
             "Promise.all([ask(), ask(), ask()]).then(answers => "
             "{ m.textContent = answers.map(a => a.text).join(' / ') }).catch(() => {})"
             "</script>",
    # A GraphQL client asking a query twice.
    "/graphql-query": "<main id=m>Loading…</main><script>"
                      "const q = () => fetch('/graphql', {method: 'POST', headers: "
                      "{'content-type': 'application/json'}, body: JSON.stringify("
                      "{query: 'query Greeting { greeting }', operationName: 'Greeting'})})"
                      ".then(r => r.json());"
                      "Promise.all([q(), q()]).then(([a, b]) => { m.textContent = "
                      "a.data.greeting + ' (twice: ' + (a.data.greeting === b.data.greeting)"
                      " + ')' }).catch(() => {})</script>",
    # Every way a page could slip a write into a GraphQL read; then it says it is done.
    "/graphql-writes": "<main id=m>Trying</main><script>"
                       "const post = (body, type = 'application/json') => fetch('/graphql', "
                       "{method: 'POST', headers: {'content-type': type}, body})"
                       ".catch(() => {});"
                       "const json = JSON.stringify;"
                       "Promise.all(["
                       "post(json({query: 'mutation Drop { dropTasks }'})),"
                       "post(json({query: 'query Safe { greeting } mutation Drop { dropTasks }',"
                       " operationName: 'Safe'})),"
                       "post(json([{query: '{ greeting }'}, {query: 'mutation { dropTasks }'}])),"
                       "post('mutation { dropTasks }', 'application/graphql'),"
                       "post(json({query: 'subscription { tasks }'})),"
                       "post(json({extensions: {persistedQuery: {sha256Hash: 'abc'}}})),"
                       "post('not json', 'text/plain'),"
                       # Python keeps the last copy of a key; a server may run the first.
                       "post('{\"query\": \"mutation { dropTasks }\", \"query\": "
                       "\"{ greeting }\"}'),"
                       "post(json({query: '{ greeting }', documentId: 'drop-tasks'})),"
                       # express-graphql and graphene-django read the query string first.
                       "fetch('/graphql?query=' + encodeURIComponent('mutation { dropTasks }'),"
                       " {method: 'POST', headers: {'content-type': 'application/json'},"
                       " body: json({query: '{ greeting }'})}).catch(() => {}),"
                       "fetch('/graphql', {method: 'POST', headers: {'content-type': "
                       "'application/json', 'x-http-method-override': 'DELETE'},"
                       " body: json({query: '{ greeting }'})}).catch(() => {}),"
                       "]).then(() => { m.textContent = 'Tried every write' })</script>",
    # A Streamlit app: its text arrives over its socket. It also tries a socket on another
    # path and one to another origin, which stay refused.
    "/socket": "<main><p id=m>Connecting…</p><p id=other></p></main><script>"
               "const ws = new WebSocket(location.origin.replace('http', 'ws') + '/ws');"
               "ws.onmessage = e => { m.textContent = e.data; ws.send('thanks') };"
               "const second = new WebSocket(location.origin.replace('http', 'ws') + '/ws-admin');"
               "const away = new WebSocket('{other}'.replace('http', 'ws') + '/ws');"
               "</script>",
    # A read path, but on another origin: a third party's, for the browser.
    "/third-party-read": "<main>Shop</main><script>"
                         "fetch('{other}/_dash-update-component', {method: 'POST', "
                         "mode: 'no-cors', body: 'x'}).catch(() => {})</script>",
    # A read the app answers with a 307 to another path: a repeat of the POST, never sent.
    "/redirected-read": "<main id=m>Loading…</main><script>"
                        "fetch('/_dash-update-component?moved=1', {method: 'POST', body: 'x'})"
                        ".then(r => r.text(), () => 'refused').then(t => { m.textContent = t })"
                        "</script>",
    # A read to the app's other origin (``?to=``, an alias), whose failure the page hides.
    "/hidden-read": "<main id=m>Loading…</main><script>"
                    "fetch(new URLSearchParams(location.search).get('to') + "
                    "'/_dash-update-component', {method: 'POST', body: 'x'})"
                    ".then(r => r.text(), () => 'All good').then(t => { m.textContent = t })"
                    "</script>",
    # Workers' sockets beside a declared one: to the declared path, and to another.
    "/socket/workers": "<main id=m>Starting</main><script>"
                       "const origin = location.origin.replace('http', 'ws'); let settled = 0;"
                       "for (const path of ['/ws', '/ws-admin']) new Worker('data:text/"
                       "javascript,' + encodeURIComponent(`const ws = new WebSocket('${origin}"
                       "${path}'); ws.onmessage = () => { ws.send('written'); "
                       "postMessage('spoke') }; ws.onerror = () => postMessage('refused')`))"
                       ".onmessage = () => { if (++settled === 2) m.textContent = 'Shop' }"
                       "</script>",
    # The same beacon, seven times.
    "/beacons": "<main>Shop</main><script>for (let n = 0; n < 7; n++) "
                "fetch('/api/beacon', {method: 'POST', body: 'x'}).catch(() => {})</script>",
}

#: What the stand-in answers a GraphQL query with.
GREETING = "Hello from GraphQL"
SOCKET_TEXT = "Streamed over the socket"


@dataclass
class Reader:
    """The reading stand-in: what it received, and every GraphQL body that reached it."""

    url: str
    other_url: str
    seen: list[tuple[str, str]]
    graphql_bodies: list[bytes]
    socket_messages: list[str]


def _reader_app(seen: list[tuple[str, str]], bodies: list[bytes],
                messages: list[str]) -> ASGIApp:
    from starlette.responses import JSONResponse

    async def page(request: Request) -> Response:
        other = f"http://localhost:{request.url.port}"
        return HTMLResponse(READ_PAGES[request.url.path].replace("{other}", other))

    async def dash(request: Request) -> Response:
        if "moved" in request.query_params:
            return RedirectResponse("/api/orders", 307)
        await request.body()
        return JSONResponse({"text": "Callback answered"})

    async def graphql(request: Request) -> Response:
        bodies.append(await request.body())
        return JSONResponse({"data": {"greeting": GREETING}})

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(SOCKET_TEXT)
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                messages.append(await websocket.receive_text())

    routes = [Route(path, page) for path in READ_PAGES]
    routes += [Route("/up", lambda request: Response("ok")),
               Route("/_dash-update-component", dash, methods=["POST"]),
               Route("/graphql", graphql, methods=["POST"]),
               WebSocketRoute("/ws", socket), WebSocketRoute("/ws-admin", socket),
               # Writes: were one to arrive, the proof names it.
               Route("/api/orders", lambda request: Response("ok"), methods=["POST"]),
               Route("/api/beacon", lambda request: Response("ok"), methods=["POST"])]
    return Recorder(seen).wrap(Starlette(routes=routes))


@pytest.fixture(scope="session")
def _reader_server() -> Iterator[tuple[BackgroundServer, Reader]]:
    seen: list[tuple[str, str]] = []
    bodies: list[bytes] = []
    messages: list[str] = []
    with BackgroundServer(_reader_app(seen, bodies, messages)) as server:
        yield server, Reader(server.url, f"http://localhost:{server.port}", seen, bodies,
                             messages)


#: What the reading stand-in may receive besides GET and HEAD: the reads tests declare.
DECLARED = {("POST", "/_dash-update-component"), ("POST", "/graphql"), ("WEBSOCKET", "/ws")}


@pytest.fixture
def reader(_reader_server: tuple[BackgroundServer, Reader],
           request: pytest.FixtureRequest) -> Iterator[Reader]:
    """A production stand-in that reads by POST, GraphQL and WebSocket. Afterwards it must
    have received nothing but GET, HEAD and declared reads, and no GraphQL body holding a
    mutation or subscription."""
    _, reader = _reader_server
    for log in (reader.seen, reader.graphql_bodies, reader.socket_messages):
        log.clear()
    yield reader
    if request.node.get_closest_marker("sends_writes"):
        return
    writes = [(method, path) for method, path in reader.seen
              if method not in ("GET", "HEAD") and (method, path) not in DECLARED]
    assert not writes, f"the reading stand-in (production) received writes: {writes}"
    # Judged apart from smokeseal's own judgement: any operation that is not a query.
    sneaked = [body for body in reader.graphql_bodies
               if b"mutation" in body or b"subscription" in body]
    assert not sneaked, f"GraphQL writes reached production: {sneaked}"


# --- the test session's browser -------------------------------------------------------------

@pytest.fixture(scope="session")
def shared_browser(browser_executable: str) -> Iterator[SharedBrowser]:
    """One browser for every page test of the session (per xdist worker), its tabs pooled
    and wiped by smokeseal itself (see :class:`tests.checks.pages.SharedBrowser`). A test
    that needs a browser of its own says why."""
    shared = SharedBrowser(browser_executable)
    yield shared
    shared.close()


# --- a page whose load ends when a test says ------------------------------------------------

@dataclass
class Held:
    """A page (``/late-load``) whose load event waits for an image held until ``release_at``
    (the monotonic clock): a load that ends as a check's timeout runs out."""

    url: str
    release_at: list[float]


@pytest.fixture(scope="session")
def held() -> Iterator[Held]:
    import time

    release_at = [0.0]

    async def image(request: Request) -> Response:
        await asyncio.sleep(max(release_at[0] - time.monotonic(), 0))
        return Response(PIXEL, media_type="image/png")

    page = HTMLResponse("<title>Late</title><main>Hello there</main>"
                        "<img src='/held.png' width=1 height=1 alt=''>")
    app = Starlette(routes=[Route("/late-load", lambda request: page),
                            Route("/held.png", image)])
    with BackgroundServer(app) as server:
        yield Held(server.url, release_at)


class Proxy:
    """A forward proxy on 127.0.0.1, as an egress proxy is: a plain-http request arrives
    with its absolute URL (``GET http://host/path``), an https one as ``CONNECT host:443``
    and is tunnelled. ``hosts`` maps a name the machine cannot resolve to where it really
    is, so a request that skips the proxy fails; every request line is kept in ``seen``."""

    def __init__(self) -> None:
        self.hosts: dict[str, tuple[str, int]] = {}
        self.seen: list[str] = []
        #: ``user:password`` the proxy asks for (a 407 without it), or None.
        self.credentials: str | None = None
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="proxy")

    def __enter__(self) -> Proxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        self._ready.set()
        self._loop.run_forever()
        server.close()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self._loop.run_until_complete(server.wait_closed())
        # Let the transports the cancelled tasks closed finish closing before the loop does.
        self._loop.run_until_complete(asyncio.sleep(0.05))
        self._loop.close()

    def _authorised(self, headers: str) -> bool:
        import base64

        expected = "Basic " + base64.b64encode((self.credentials or "").encode()).decode()
        return any(line.lower().startswith("proxy-authorization:")
                   and line.split(":", 1)[1].strip() == expected
                   for line in headers.split("\r\n"))

    def _where(self, authority: str, default_port: int) -> tuple[str, int]:
        host, _, port = authority.partition(":")
        return self.hosts.get(host, (host, int(port or default_port)))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers = [writer]
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            line, _, rest = head.partition("\r\n")
            method, target, version = line.split(" ")
            self.seen.append(f"{method} {target}")
            if self.credentials is not None and not self._authorised(rest):
                writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                             b"Proxy-Authenticate: Basic realm=\"egress\"\r\n"
                             b"Content-Length: 0\r\nConnection: close\r\n\r\n")
                self.seen[-1] += " (407)"
                return
            if method == "CONNECT":
                up_reader, up_writer = await asyncio.open_connection(*self._where(target, 443))
                writers.append(up_writer)
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                url = urlsplit(target)
                up_reader, up_writer = await asyncio.open_connection(*self._where(url.netloc, 80))
                writers.append(up_writer)
                # Sent on as the origin server expects it; one request per connection.
                headers = [h for h in rest.split("\r\n") if h and not h.lower().startswith(
                    ("connection:", "proxy-connection:", "proxy-authorization:"))]
                up_writer.write(f"{method} {url.path or '/'}{'?' if url.query else ''}"
                                f"{url.query} {version}\r\n".encode("latin-1"))
                up_writer.write("".join(f"{h}\r\n" for h in [*headers, "Connection: close"])
                                .encode("latin-1") + b"\r\n")
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            for each in writers:
                each.close()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    with contextlib.suppress(OSError):
        sink.close()


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    with Proxy() as running_proxy:
        yield running_proxy


# --- a production stand-in whose pages draw a frame first, their data after ---------------

@dataclass
class Frames:
    url: str
    #: The same server as ``localhost``: another host.
    other_url: str
    seen: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture(scope="session")
def _frames_server() -> Iterator[tuple[BackgroundServer, list[tuple[str, str]]]]:
    from tests.checks.standins_frames import frames_app

    seen: list[tuple[str, str]] = []
    with BackgroundServer(frames_app(seen)) as server:
        yield server, seen


@pytest.fixture
def frames(_frames_server: tuple[BackgroundServer, list[tuple[str, str]]],
           request: pytest.FixtureRequest) -> Iterator[Frames]:
    """Pages that draw ``Orders`` at once and their data after (see
    tests/checks/standins_frames.py); afterwards, nothing but GET and HEAD received."""
    server, seen = _frames_server
    seen.clear()
    yield Frames(server.url, f"http://localhost:{server.port}", seen)
    _read_only_proof(request, list(seen), "the frames stand-in")
