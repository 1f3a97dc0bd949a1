"""A real Dash app whose visible content is filled by a callback on load (``POST
/_dash-update-component``). Broken (``REALAPP_MODE=broken``): the callback raises, Dash
answers it 500 and the page shows no orders.

    python dash_app.py PORT
"""

import os
import sys

from dash import Dash, Input, Output, html

BROKEN = os.environ.get("REALAPP_MODE") == "broken"

app = Dash(__name__, health_endpoint="health")
app.layout = html.Div([
    html.H1("Orders", id="title"),
    html.Div(id="summary"),
])


@app.callback(Output("summary", "children"), Input("title", "children"))
def summary(title: str) -> list[html.P]:
    if BROKEN:
        raise RuntimeError("orders service unreachable")
    return [html.P("Open orders: 17"), html.P("Shipped today: 42")]


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), debug=False)
