"""A real Panel app on the Bokeh server: the page is an empty frame whose document, the
heading included, arrives over Bokeh's WebSocket (``/ws``); the figures are read in an
``onload`` callback, once the page has connected. Broken (``REALAPP_MODE=broken``): that
callback raises after the page was served with 200, and the page stays on "Loading sales…",
while Panel's ``/liveness`` still answers 200.

    python panel_app.py PORT
"""

import os
import sys

import panel as pn

BROKEN = os.environ.get("REALAPP_MODE") == "broken"


def weekly_sales() -> str:
    if BROKEN:
        raise RuntimeError("sales warehouse unreachable")
    return "Revenue this week: $48,200\n\nOrders this week: 312"


def dashboard() -> pn.Column:
    figures = pn.pane.Markdown("Loading sales…")

    def load() -> None:
        figures.object = weekly_sales()

    pn.state.onload(load)
    return pn.Column(pn.pane.Markdown("# Sales dashboard"), figures)


if __name__ == "__main__":
    port = int(sys.argv[1])
    pn.serve({"/": dashboard}, port=port, address="127.0.0.1", show=False, title="Sales",
             liveness=True, allow_websocket_origin=[f"127.0.0.1:{port}"])
