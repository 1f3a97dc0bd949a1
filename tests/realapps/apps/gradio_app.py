"""A real Gradio Blocks app whose output is filled on load (``demo.load``). Broken
(``REALAPP_MODE=broken``): the load function raises and the output stays empty.

    python gradio_app.py PORT
"""

import os
import sys

import gradio as gr

BROKEN = os.environ.get("REALAPP_MODE") == "broken"


def forecast() -> str:
    if BROKEN:
        raise RuntimeError("forecast model unavailable")
    return "Tomorrow: sunny, 21 °C"


with gr.Blocks(title="Forecast") as demo:
    gr.Markdown("# Weather forecast")
    shown = gr.Markdown()
    demo.load(forecast, outputs=shown)

if __name__ == "__main__":
    demo.launch(server_name="127.0.0.1", server_port=int(sys.argv[1]), show_error=True,
                quiet=True)
