"""The console scripts' entry points: start-up trims, then :mod:`smokeseal.cli`.

A smoke run is often a few HTTP checks right after a deploy, so a tenth of a second of
imports is a large share of it (``bench/`` measures the whole process). The trims live here,
not in the library, so that code importing smokeseal keeps its own environment.
"""

from __future__ import annotations

import os
import sys
import types

# pydantic looks for plugins through every installed distribution's entry points on first
# use (~30 ms); smokeseal's command line uses none.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "1")


def _no_httpx_cli() -> None:
    raise SystemExit("httpx's own command line is not part of smokeseal")


# ``import httpx`` imports httpx's own command-line tool whenever click, rich and pygments
# are installed (they are: Typer and uvicorn bring them), ~60 ms of modules smokeseal never
# uses. A module in its place keeps ``httpx.main`` defined and skips that import.
if "httpx" not in sys.modules:
    _stand_in = types.ModuleType("httpx._main", "httpx's command line, not loaded")
    _stand_in.main = _no_httpx_cli  # type: ignore[attr-defined]
    sys.modules.setdefault("httpx._main", _stand_in)


def main() -> None:
    from smokeseal.cli import main as cli_main

    cli_main()


def prod_smoke_main() -> None:
    from smokeseal.cli import prod_smoke_main as cli_prod_smoke_main

    cli_prod_smoke_main()
