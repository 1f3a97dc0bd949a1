"""Production stand-ins for ``smokeseal init``'s look in the browser: apps whose page is a
frame (a static ``<title>`` and ``<h1>``, then "Loading…") until its script draws the data
it reads through a channel the read-only guard refuses until it is declared.

* :func:`websocket_app`: the data arrives over a same-origin WebSocket (``/live``).
* :func:`graphql_app`: a GraphQL query POSTed to ``/api/graphql``; the server refuses GET
  queries, so no GET probe finds it. The page also POSTs a mutation (a view counter): a write
  that must never be declared nor reach the app.
* :func:`engineio_app`: Engine.IO 4 long-polling, as socket.io does before (or instead of)
  its socket: ``GET /socket.io/?EIO=4&transport=polling`` opens a session, the page joins
  the namespace by ``POST`` (``40``), the data comes back on the next poll as an event.

Each has a healthy and a broken mode (:attr:`DataApp.broken`, switched while it serves):
broken, the data handler raises, and the page keeps its loading text or shows an error,
while the frame and every GET answer as before. Each function returns the app's page (as
served) and its Starlette app.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

__all__ = ["CANVAS_PAGE", "DRAWN", "HEADLINES", "READS", "SPIN_PAGE", "DataApp", "canvas_app",
           "engineio_app", "graphql_app", "headline_app", "spin_app", "websocket_app"]


@dataclass
class DataApp:
    """What a stand-in serves and what it was sent."""

    page: str
    broken: bool = False
    #: Every GraphQL body that reached the app.
    graphql_bodies: list[bytes] = field(default_factory=list)


#: The read each stand-in's page needs, exactly as ``reads:`` declares it.
READS = {"websocket": "WEBSOCKET /live", "graphql": "GRAPHQL /api/graphql",
         "engineio": "POST /socket.io/"}
#: The heading each page draws from its data: what init's text check must expect.
DRAWN = {"websocket": "Trucks on the road", "graphql": "New this week",
         "engineio": "Berths in use"}

#: Draws ``{title, rows}`` into ``#app`` as a heading and a list.
_RENDER = ("const render = data => { app.replaceChildren(); const h = document.createElement("
           "'h2'); h.textContent = data.title; const list = document.createElement('ul');"
           "for (const row of data.rows) { const li = document.createElement('li');"
           "li.textContent = row; list.append(li) } app.append(h, list) };")


def _frame(name: str, waiting: str, script: str) -> str:
    return (f"<!doctype html><html><head><title>{name}</title></head><body><h1>{name}</h1>"
            f"<main id=app><p>{waiting}</p></main><script>{_RENDER}{script}</script>"
            "</body></html>")


# --- a WebSocket ---------------------------------------------------------------------------

WEBSOCKET_PAGE = _frame("Depot", "Connecting…", (
    "const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/live');"
    "ws.onmessage = event => render(JSON.parse(event.data));"
    "ws.onclose = () => { if (!app.querySelector('h2')) app.textContent = 'Connection lost' };"))
TRUCKS = {"title": DRAWN["websocket"], "rows": ["Truck 12 to Lyon", "Truck 7 to Turin"]}


def websocket_app() -> tuple[DataApp, Starlette]:
    app = DataApp(WEBSOCKET_PAGE)

    async def live(websocket: WebSocket) -> None:
        await websocket.accept()
        if app.broken:
            raise RuntimeError("fleet tracker unreachable")
        await websocket.send_text(json.dumps(TRUCKS))
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()

    return app, Starlette(routes=[Route("/", _page(app)), _health(),
                                  WebSocketRoute("/live", live)])


# --- GraphQL -------------------------------------------------------------------------------

GRAPHQL_PAGE = _frame("Library", "Loading…", (
    "const ask = query => fetch('/api/graphql', {method: 'POST', headers: "
    "{'content-type': 'application/json'}, body: JSON.stringify(query)});"
    "ask({query: 'query Shelf { shelf { title rows } }', operationName: 'Shelf'})"
    ".then(r => r.json()).then(answer => answer.errors ? "
    "(app.textContent = 'Error: ' + answer.errors[0].message) : render(answer.data.shelf))"
    ".catch(error => { app.textContent = 'Error: ' + error.message });"
    # A write beside the read: never declared, refused every time.
    "ask({query: 'mutation { countView }'}).catch(() => {});"))
SHELF = {"title": DRAWN["graphql"], "rows": ["Dune", "Emma", "Middlemarch"]}


def graphql_app() -> tuple[DataApp, Starlette]:
    app = DataApp(GRAPHQL_PAGE)

    async def graphql(request: Request) -> Response:
        if request.method != "POST":
            return JSONResponse({"errors": [{"message": "queries are POSTed"}]}, 405)
        body = await request.body()
        app.graphql_bodies.append(body)
        if app.broken:
            return JSONResponse({"data": None, "errors": [
                {"message": "catalogue database unreachable", "path": ["shelf"]}]})
        return JSONResponse({"data": {"shelf": SHELF}})

    return app, Starlette(routes=[Route("/", _page(app)), _health(),
                                  Route("/api/graphql", graphql, methods=["GET", "POST"])])


# --- Engine.IO long-polling ----------------------------------------------------------------

#: How socket.io's client speaks Engine.IO 4 over polling, cut down to what a page reading
#: one event needs: open, join the namespace (``40``), poll until the event (``42``) comes.
ENGINEIO_PAGE = _frame("Quay", "Loading…", (
    "const base = '/socket.io/?EIO=4&transport=polling';"
    "(async () => {"
    "  const opened = await (await fetch(base + '&t=' + Date.now())).text();"
    "  const url = base + '&sid=' + JSON.parse(opened.slice(1)).sid;"
    "  const joined = await fetch(url, {method: 'POST', headers: "
    "{'content-type': 'text/plain;charset=UTF-8'}, body: '40'});"
    "  if (!joined.ok) throw new Error('the server answered ' + joined.status);"
    "  for (;;) {"
    "    const packets = (await (await fetch(url + '&t=' + Date.now())).text()).split('\\x1e');"
    "    for (const packet of packets) {"
    "      if (packet.startsWith('42')) { const [name, data] = JSON.parse(packet.slice(2));"
    "        if (name === 'berths') render(data) }"
    "    }"
    "  }"
    "})().catch(error => { app.textContent = 'Could not connect: ' + error.message });"))
BERTHS = {"title": DRAWN["engineio"], "rows": ["Aurora at berth 3", "Borealis at berth 5"]}
#: How long a poll with nothing to say is held before it answers a noop (``6``).
HELD_POLL = 5.0


def engineio_app() -> tuple[DataApp, Starlette]:
    app = DataApp(ENGINEIO_PAGE)
    queues: dict[str, asyncio.Queue[str]] = {}

    async def polling(request: Request) -> Response:
        query = request.query_params
        if query.get("EIO") != "4" or query.get("transport") != "polling":
            return PlainTextResponse("unsupported transport", 400)
        sid = query.get("sid")
        if sid is None and request.method == "GET":
            sid = secrets.token_hex(8)
            queues[sid] = asyncio.Queue()
            return PlainTextResponse("0" + json.dumps({
                "sid": sid, "upgrades": [], "pingInterval": 25000, "pingTimeout": 20000,
                "maxPayload": 1000000}))
        queue = queues.get(sid or "")
        if queue is None:
            return PlainTextResponse('{"code":1,"message":"Session ID unknown"}', 400)
        if request.method == "POST":
            packets = (await request.body()).decode().split("\x1e")
            if "40" in packets:
                if app.broken:
                    raise RuntimeError("berth registry unreachable")
                queue.put_nowait("40" + json.dumps({"sid": secrets.token_hex(8)}))
                queue.put_nowait("42" + json.dumps(["berths", BERTHS]))
            return PlainTextResponse("ok")
        # Held until there is something to say, the visitor left, or HELD_POLL is up.
        end = time.monotonic() + HELD_POLL
        while queue.empty() and time.monotonic() < end and not await request.is_disconnected():
            with contextlib.suppress(TimeoutError):
                queue.put_nowait(await asyncio.wait_for(queue.get(), 0.1))
        packets = []
        while not queue.empty():
            packets.append(queue.get_nowait())
        return PlainTextResponse("\x1e".join(packets) or "6")

    return app, Starlette(routes=[Route("/", _page(app)), _health(),
                                  Route("/socket.io/", polling, methods=["GET", "POST"])])


# --- pages that give init nothing to verify ------------------------------------------------

#: A chart: its data is fetched and drawn on a canvas, so no text comes with it.
CANVAS_PAGE = ("<!doctype html><title>Tides</title><h1>Tides</h1><canvas id=chart width=200 "
               "height=80></canvas><script>fetch('/api/tides').then(r => r.json())"
               ".then(points => { const c = chart.getContext('2d'); c.beginPath();"
               "points.forEach((y, x) => c.lineTo(x * 20, 80 - y * 8)); c.stroke() })"
               "</script>")
#: A page whose script never yields once it loaded.
SPIN_PAGE = ("<!doctype html><title>Spin</title><h1>Spin</h1><script>addEventListener('load',"
             " () => setTimeout(() => { for (;;) {} }, 50))</script>")


def canvas_app() -> tuple[DataApp, Starlette]:
    app = DataApp(CANVAS_PAGE)

    async def tides(request: Request) -> Response:
        return JSONResponse([2, 5, 7, 6, 3, 1])

    return app, Starlette(routes=[Route("/", _page(app)), _health(),
                                  Route("/api/tides", tides)])


#: What :func:`headline_app` draws as its ``<h1>``, a different one on every load.
HEADLINES = ("Storm over the harbour", "Ferries back on time", "Market opens early",
             "Lighthouse repainted")
#: A front page that fetches its news (GET) and draws a headline that changes on every load
#: above a section title that does not.
HEADLINE_PAGE = ("<!doctype html><title>Gazette</title><main id=app>Loading…</main><script>"
                 "fetch('/api/news').then(r => r.json()).then(news => { app.innerHTML = '';"
                 "const h1 = document.createElement('h1'); h1.textContent = news.headline;"
                 "const h2 = document.createElement('h2'); h2.textContent = news.section;"
                 "app.append(h1, h2) })</script>")


def headline_app() -> tuple[DataApp, Starlette]:
    app = DataApp(HEADLINE_PAGE)
    loads = iter(range(1_000_000))

    async def news(request: Request) -> Response:
        if app.broken:
            return JSONResponse({"error": "down"}, status_code=500)
        return JSONResponse({"headline": HEADLINES[next(loads) % len(HEADLINES)],
                             "section": "Harbour news"})

    return app, Starlette(routes=[Route("/", _page(app)), _health(),
                                  Route("/api/news", news)])


def spin_app() -> tuple[DataApp, Starlette]:
    app = DataApp(SPIN_PAGE)
    return app, Starlette(routes=[Route("/", _page(app)), _health()])


def _page(app: DataApp) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        return HTMLResponse(app.page)

    return page


def _health() -> Route:
    return Route("/up", lambda request: PlainTextResponse("ok"))
