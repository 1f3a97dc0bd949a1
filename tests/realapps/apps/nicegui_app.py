"""A real NiceGUI app: the page builder sends the frame (a heading and "Loading tickets…"),
waits for the browser's socket.io connection (``/_nicegui_ws/socket.io/``, a WebSocket, or
Engine.IO's long polling where that fails) and only then reads the queue and sends it over
that connection; ``/health`` is a plain FastAPI route beside it. Broken (``REALAPP_MODE=
broken``): the read raises after the page was served with 200, and the page stays on
"Loading tickets…".

    python nicegui_app.py PORT
"""

import os
import sys

from nicegui import app, ui

BROKEN = os.environ.get("REALAPP_MODE") == "broken"


def open_tickets() -> dict[str, int]:
    if BROKEN:
        raise RuntimeError("ticket database unreachable")
    return {"Open tickets": 31, "Waiting on customer": 8}


@app.get("/health")
def health() -> str:
    return "ok"


@ui.page("/")
async def index() -> None:
    ui.label("Support queue").classes("text-h4")
    loading = ui.label("Loading tickets…")
    await ui.context.client.connected()
    tickets = open_tickets()
    loading.delete()
    for name, count in tickets.items():
        ui.label(f"{name}: {count}")


if __name__ in {"__main__", "__mp_main__"}:
    ui.run(host="127.0.0.1", port=int(sys.argv[1]), title="Support", reload=False, show=False,
           uvicorn_logging_level="warning")
