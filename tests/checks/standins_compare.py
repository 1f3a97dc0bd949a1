"""A stand-in whose speed and console change between releases: its page shows "Loading",
then fetches its content, which arrives ``delay`` seconds later, and logs ``console`` as a
console error when it has drawn it. A plain context manager; the test module wraps it in a
fixture that applies the read-only proof."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from smokeseal.servers import BackgroundServer
from tests.conftest import Recorder

_PAGE = """<!doctype html><title>Tasks</title><p>Loading</p><main id="tasks"></main>
<script>
fetch('/data').then(r => r.text()).then(html => {
  document.getElementById('tasks').innerHTML = html;
  const error = __CONSOLE__;
  if (error) console.error(error);
});
</script>"""
#: The content: large enough to be the page's largest paint.
_CONTENT = "<h1>Tasks</h1><p>" + "Every task of the team is listed here. " * 20 + "</p>"


@dataclass
class Tasks:
    url: str
    log: Recorder
    #: Seconds before the content answers.
    delay: float = 0.0
    #: What the page logs as a console error once its content is drawn (None: nothing).
    console: str | None = None


def _app(state: Tasks) -> Starlette:
    async def home(request: Request) -> Response:
        return HTMLResponse(_PAGE.replace("__CONSOLE__", json.dumps(state.console)))

    async def data(request: Request) -> Response:
        await asyncio.sleep(state.delay)
        return HTMLResponse(_CONTENT)

    async def up(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/", home), Route("/data", data), Route("/up", up)])


@contextmanager
def tasks_app() -> Iterator[Tasks]:
    state = Tasks("", Recorder())
    with BackgroundServer(state.log.wrap(_app(state))) as server:
        state.url = server.url
        yield state
