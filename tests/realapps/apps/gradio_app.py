"""A real Gradio Blocks app whose output is filled on load (``demo.load``). Broken
(``REALAPP_MODE=broken``): the load function raises and the output shows "Error". Its
session state (``gr.State``, as most Gradio apps keep) makes the page hold Gradio's heartbeat
open (a server-sent-events GET) for as long as it is shown.

    python gradio_app.py PORT
"""

import os
import sys

import gradio as gr

BROKEN = os.environ.get("REALAPP_MODE") == "broken"


def forecast(visits: int) -> tuple[str, int]:
    if BROKEN:
        raise RuntimeError("forecast model unavailable")
    return "Tomorrow: sunny, 21 °C", visits + 1


with gr.Blocks(title="Forecast") as demo:
    gr.Markdown("# Weather forecast")
    shown = gr.Markdown()
    visits = gr.State(0)
    demo.load(forecast, inputs=visits, outputs=[shown, visits])

if __name__ == "__main__":
    demo.launch(server_name="127.0.0.1", server_port=int(sys.argv[1]), show_error=True,
                quiet=True)
