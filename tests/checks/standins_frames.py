"""A production stand-in whose pages draw a frame first and their data after: each breaks
(or stays healthy) the way a real app does after its frame is drawn. Every page shows the
heading ``Orders`` at once; its data (``Widget``) comes later, or never."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp
from starlette.websockets import WebSocket

from tests.checks.conftest import _CutShort
from tests.conftest import Recorder

APP_JS = "document.documentElement.dataset.js = 'ran'"
WRONG_DIGEST = base64.b64encode(hashlib.sha256(b"another script").digest()).decode()

#: Fetches ``{0}`` and draws its rows; "Loading…" until then, the error if it fails.
_DRAW = ("<h1>Orders</h1><ul id=rows><li>Loading…</li></ul><script>"
         "fetch('{0}').then(r => {{ if (!r.ok) throw new Error('HTTP ' + r.status); "
         "return r.json() }}).then(rows => {{ document.getElementById('rows').innerHTML = "
         "rows.map(r => '<li>' + r + '</li>').join('') }}).catch(e => {{ "
         "document.getElementById('rows').innerHTML = '<li>Error: ' + e.message + '</li>' }})"
         "</script>")

PAGES = {
    "/orders": _DRAW.format("/api/orders"),
    "/orders/500": _DRAW.format("/api/orders-500"),
    "/orders/404": "<h1>Orders</h1><p>Widget</p><script>fetch('/api/nothing')</script>",
    "/orders/cut": _DRAW.format("/api/cut"),
    "/orders/third-party": "<h1>Orders</h1><p>Widget</p>"
                           "<script>fetch('{other}/api/orders-500').catch(() => {})</script>",
    "/orders/aborted": "<h1>Orders</h1><p>Widget</p><script>const c = new AbortController();"
                       "fetch('/api/slow', {signal: c.signal}).catch(() => {});"
                       "setTimeout(() => c.abort(), 50)</script>",
    # Draws its content, then breaks: a crash, an error boundary, the content gone.
    "/later/crash": "<h1>Orders</h1><p>Widget</p><script>setTimeout(() => "
                    "{ throw new Error('boom after drawing') }, 700)</script>",
    "/later/boundary": "<main><h1>Orders</h1><p>Widget</p></main><script>setTimeout(() => "
                       "{ document.body.innerHTML = '<h2>Something went wrong</h2>' }, 800)"
                       "</script>",
    "/later/interval": "<main><h1>Orders</h1><p>Widget</p></main><script>let n = 0;"
                       "setInterval(() => { if (++n === 7) document.body.innerHTML = "
                       "'<h2>Something went wrong</h2>' }, 100)</script>",
    "/broken/own-failed-to-fetch": "<h1>Orders</h1><p>Widget</p><script>"
                                   "navigator.sendBeacon('/collect', 'x');"
                                   "fetch('/collect', {method: 'POST'}).catch(() => {});"
                                   "setTimeout(() => { throw new Error('Failed to fetch orders: "
                                   "HTTP 404') }, 200)</script>",
    "/optional-script": "<h1>Orders</h1><p>Widget</p><script src=/static/optional.js></script>",
    "/later/blank": "<main><h1>Orders</h1><p>Widget</p></main><script>setTimeout(() => "
                    "{ document.body.innerHTML = '' }, 600)</script>",
    # A lazy chunk that a deploy renamed: the content it would draw never comes.
    "/lazy/404": "<h1>Orders</h1><div id=app>Loading…</div><script type=module>"
                 "import('/static/chunk-404.js').then(() => { app.textContent = 'Widget' })"
                 "</script>",
    # Busy for ever, and healthy: a ticking clock and a stream that never ends.
    "/busy": "<h1>Orders</h1><p>Widget</p><p id=tick></p><script>setInterval(() => "
             "{ tick.textContent = Date.now() }, 50); new EventSource('/stream')</script>",
    # Scripts and stylesheets the browser refuses though they were answered 200.
    "/refused/nosniff-script": "<h1>Orders</h1><script src=/static/plain.js></script>",
    "/refused/nosniff-style": "<h1>Orders</h1><link rel=stylesheet href=/static/plain.css>",
    "/refused/integrity": "<h1>Orders</h1><script src=/static/app.js integrity='sha256-"
                          + WRONG_DIGEST + "'></script>",
    "/refused/module": "<h1>Orders</h1><script type=module src=/static/octet.js></script>",
    # Data over channels the guard refuses unless declared.
    "/channel/socket": "<h1>Orders</h1><p id=rows>Connecting…</p><script>"
                       "const ws = new WebSocket(location.origin.replace('http', 'ws') + "
                       "'/ws/data'); ws.onmessage = e => { rows.textContent = e.data }"
                       "</script>",
    "/channel/graphql": "<h1>Orders</h1><p id=rows>Loading…</p><script>fetch('/graphql', "
                        "{method: 'POST', headers: {'content-type': 'application/json'}, "
                        "body: JSON.stringify({query: '{ orders }'})}).then(r => r.json())"
                        ".then(a => { rows.textContent = a.data.orders })"
                        ".catch(e => { rows.textContent = 'Error: ' + e.message })</script>",
    "/channel/engineio": "<h1>Orders</h1><p id=rows>Connecting…</p><script>"
                         "fetch('/socket.io/?EIO=4&transport=polling').then(r => r.text())"
                         ".then(() => fetch('/socket.io/?EIO=4&transport=polling&sid=s1', "
                         "{method: 'POST', body: '40'})).then(() => "
                         "{ rows.textContent = 'Widget' }).catch(e => "
                         "{ rows.textContent = 'Error: ' + e.message })</script>",
    # An RPC read by POST that no rule knows for a data channel (as Mesop's /__ui__).
    "/channel/rpc": "<h1>Orders</h1><p id=rows>Loading…</p><script>fetch('/__ui__', "
                    "{method: 'POST', body: new Uint8Array([8, 1])}).then(r => r.text())"
                    ".then(t => { rows.textContent = t }).catch(() => {})</script>",
    # Healthy pages that a strict reading takes for broken.
    "/healthy/refetch": "<main id=m><h1>Orders</h1><p>Widget</p></main><script>"
                        "const drawn = m.innerHTML;"
                        "setTimeout(() => { m.innerHTML = '<p>Refreshing…</p>' }, 300);"
                        "setTimeout(() => { m.innerHTML = drawn }, 500)</script>",
    "/healthy/fetch-later": "<h1>Orders</h1><p>Widget</p><script>"
                            "fetchLater('/collect', {method: 'POST', body: 'x'})</script>",
    "/healthy/uppercase": "<h1 style='text-transform: uppercase'>Orders</h1>"
                          "<p>Widget&nbsp;list</p>",
    "/healthy/closed-shadow": "<order-list></order-list><script>customElements.define("
                              "'order-list', class extends HTMLElement { constructor() "
                              "{ super(); this.attachShadow({mode: 'closed'}).innerHTML = "
                              "'<h1>Orders</h1><p>Widget list</p>' } })</script>",
    # An analytics library that leaves its refused POST's failure uncaught, as axios does.
    "/healthy/analytics": "<h1>Orders</h1><p>Widget</p><script>new Promise((_, reject) => "
                          "{ const x = new XMLHttpRequest(); x.open('POST', '/collect'); "
                          "x.onerror = () => { const e = new Error('Network Error'); "
                          "e.name = 'AxiosError'; reject(e) }; x.send('v=1') })</script>",
}


def frames_app(seen: list[tuple[str, str]]) -> ASGIApp:
    async def page(request: Request) -> Response:
        other = f"http://localhost:{request.url.port}"
        return HTMLResponse(PAGES[request.url.path].replace("{other}", other))

    async def csp_image(request: Request) -> Response:
        return HTMLResponse("<h1>Orders</h1><p>Widget</p><img src=/static/pixel.png>",
                            headers={"content-security-policy": "img-src 'none'"})

    async def slow(request: Request) -> Response:
        await asyncio.sleep(5)
        return JSONResponse(["Widget"])

    async def stream(request: Request) -> Response:
        async def events():  # type: ignore[no-untyped-def]
            for n in range(600):
                yield f"data: {n}\n\n"
                await asyncio.sleep(0.1)

        return StreamingResponse(events(), media_type="text/event-stream")

    async def graphql(request: Request) -> Response:
        return JSONResponse({"data": {"orders": "Widget"}})

    async def engineio(request: Request) -> Response:
        if request.method == "POST":
            return Response("ok", media_type="text/plain")
        return Response('0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000}',
                        media_type="text/plain")

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("Widget")
        await websocket.close()

    def nosniff(body: str, mime: str) -> Response:
        return Response(body, media_type=mime, headers={"x-content-type-options": "nosniff"})

    routes = [Route(path, page) for path in PAGES] + [
        Route("/healthy/csp-image", csp_image),
        Route("/api/orders", lambda r: JSONResponse(["Widget"])),
        Route("/api/orders-500", lambda r: Response("Internal Server Error", 500)),
        Route("/api/nothing", lambda r: JSONResponse({"error": "not found"}, 404)),
        Route("/api/cut", _CutShort()),
        Route("/api/slow", slow),
        Route("/stream", stream),
        Route("/graphql", graphql, methods=["POST"]),
        Route("/socket.io/", engineio, methods=["GET", "POST"]),
        Route("/collect", lambda r: Response(status_code=204), methods=["POST"]),
        Route("/__ui__", lambda r: Response("Widget", media_type="text/plain"),
              methods=["POST"]),
        Route("/static/app.js", lambda r: Response(APP_JS, media_type="text/javascript")),
        Route("/static/chunk-404.js", lambda r: Response("", 404, media_type="text/plain")),
        Route("/static/plain.js", lambda r: nosniff(APP_JS, "text/plain")),
        Route("/static/plain.css", lambda r: nosniff("h1 { color: red }", "text/plain")),
        Route("/static/octet.js", lambda r: Response(APP_JS,
                                                      media_type="application/octet-stream")),
        WebSocketRoute("/ws/data", socket),
    ]
    return Recorder(seen).wrap(Starlette(routes=routes))


__all__ = ["PAGES", "frames_app", "json"]
