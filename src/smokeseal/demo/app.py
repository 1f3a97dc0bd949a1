"""A small real web app to seal: home, sign-in, a JavaScript-rendered task list, ``/up``,
hidden ``/devops`` routes, and switchable faults that a bad release would ship. ``/slow``
always takes ``delay`` seconds, for measuring how checks overlap.

It records every request it receives, so tests can prove smokeseal never wrote to it.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["FAULTS", "HOSTILE", "DemoState", "create_app"]

HERE = Path(__file__).parent
FAULTS = {
    "devops_exposed": "the hidden /devops and /devops/cycle routes answer 200",
    "tasks_js_error": "the tasks page throws a TypeError and never renders its list",
    "signin_500": "the sign-in page answers 500",
    "up_500": "the /up health endpoint answers 500",
    "sneaky_writes": "every page tries to write: beacon, fetch POST/DELETE, XHR PUT, "
                     "a service worker, a WebSocket, an auto-submitted form, a SharedWorker "
                     "and a dedicated worker that POST and open a WebSocket, and a keepalive "
                     "fetch on pagehide",
    "slow": "every page and endpoint waits `delay` seconds before answering",
    "hostile_text": "the home page's title and an uncaught error carry HTML, Markdown, a code "
                    "fence and @everyone",
}
#: What a compromised or careless production might put in front of smokeseal.
HOSTILE = ("@everyone <@&1> **pwned** ``` </script><img src=x onerror=alert(1)> "
           "[click](https://evil.example) # heading")
TASKS = [{"id": 1, "title": "Ship the release"}, {"id": 2, "title": "Read the seal"}]


@dataclass
class DemoState:
    """Faults to inject, and what the app saw. Shared with the thread that serves it."""

    faults: set[str] = field(default_factory=set)
    delay: float = 1.5
    version: str = "1.0.0"
    requests: list[tuple[str, str]] = field(default_factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def set_faults(self, *faults: str) -> None:
        unknown = set(faults) - FAULTS.keys()
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        self.faults = set(faults)

    def reset(self) -> None:
        with self._lock:
            self.faults = set()
            self.requests.clear()
            self.in_flight = self.peak_in_flight = 0

    def writes(self) -> list[tuple[str, str]]:
        """Every request that arrived with a method other than GET or HEAD."""
        with self._lock:
            return [(m, p) for m, p in self.requests if m not in ("GET", "HEAD")]

    def _enter(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


class _Recorder:
    """ASGI middleware: log every request (WebSockets included) before routing."""

    def __init__(self, app: ASGIApp, state: DemoState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "WEBSOCKET")
        self.state._enter(method, scope["path"])
        try:
            if "slow" in self.state.faults:
                await asyncio.sleep(self.state.delay)
            await self.app(scope, receive, send)
        finally:
            self.state._leave()


def create_app(state: DemoState | None = None) -> Starlette:
    state = state or DemoState()
    templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                            autoescape=select_autoescape(["html"]))

    def render(name: str, http_status: int = 200, **context: Any) -> HTMLResponse:
        html = templates.get_template(name).render(faults=state.faults, version=state.version,
                                                   hostile=HOSTILE, **context)
        return HTMLResponse(html, status_code=http_status)

    def not_found() -> HTMLResponse:
        return render("error.html", 404, status=404, message="Not found.")

    async def home(request: Request) -> Response:
        return render("home.html")

    async def signin(request: Request) -> Response:
        if "signin_500" in state.faults:
            return render("error.html", 500, status=500,
                          message="Something went wrong: ActiveRecord::ConnectionNotEstablished")
        return render("signin.html")

    async def session(request: Request) -> Response:
        return PlainTextResponse("signed in (a smoke check must never get here)", 303,
                                 headers={"Location": "/"})

    async def tasks_page(request: Request) -> Response:
        return render("tasks.html")

    async def tasks_api(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(TASKS)
        return JSONResponse({"written": True}, status_code=201)

    async def task_api(request: Request) -> Response:
        return JSONResponse({"written": True})

    async def up(request: Request) -> Response:
        if "up_500" in state.faults:
            return PlainTextResponse("database unreachable", 500)
        return PlainTextResponse("ok")

    async def devops(request: Request) -> Response:
        if "devops_exposed" in state.faults:
            return render("devops.html")
        return not_found()

    async def slow(request: Request) -> Response:
        await asyncio.sleep(state.delay)
        return render("slow.html", delay=state.delay)

    async def sink(request: Request) -> Response:
        return PlainTextResponse("accepted", 202)

    async def service_worker(request: Request) -> Response:
        return Response((HERE / "static" / "sw.js").read_bytes(),
                        media_type="application/javascript")

    async def missing(request: Request, exc: Exception) -> Response:
        return not_found()

    async def visitor(request: Request) -> Response:
        return render("visitor.html")

    routes = [
        Route("/", home),
        Route("/visitor", visitor),
        Route("/signin", signin),
        Route("/session", session, methods=["POST"]),
        Route("/tasks", tasks_page),
        Route("/api/tasks", tasks_api, methods=["GET", "POST"]),
        Route("/api/tasks/{task_id:int}", task_api, methods=["GET", "PUT", "DELETE"]),
        Route("/api/beacon", sink, methods=["POST"]),
        Route("/api/sw", sink, methods=["POST"]),
        Route("/up", up, methods=["GET", "HEAD"]),
        Route("/devops", devops),
        Route("/devops/cycle", devops),
        Route("/slow", slow),
        Route("/sw.js", service_worker),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={404: missing})
    app.state.demo = state
    app.add_middleware(_Recorder, state=state)
    return app
