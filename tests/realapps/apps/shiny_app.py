"""A real Shiny for Python app: the page is Shiny's frame (a title, an empty output), and
the server function renders the fleet into it over Shiny's WebSocket (``/websocket/``) once
the page has connected. Broken (``REALAPP_MODE=broken``): the render function raises, and
Shiny shows its sanitized error ("An error has occurred…") where the fleet should be, on a
page that answered 200.

    python shiny_app.py PORT
"""

import os
import sys

from shiny import App, Inputs, Outputs, Session, render, ui

BROKEN = os.environ.get("REALAPP_MODE") == "broken"

app_ui = ui.page_fluid(ui.h1("Fleet status"), ui.output_ui("fleet"), title="Fleet")


def server(input: Inputs, output: Outputs, session: Session) -> None:
    @render.ui
    def fleet() -> ui.Tag:
        if BROKEN:
            raise RuntimeError("telematics service unreachable")
        return ui.tags.ul(ui.tags.li("Trucks on the road: 12"),
                          ui.tags.li("Trucks in the depot: 3"))


app = App(app_ui, server)
# As a production app should: the visitor sees Shiny's generic message, not the exception.
app.sanitize_errors = True

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
