"""The console scripts' entry points: start-up trims, then :mod:`smokeseal.cli`.

A smoke run is often a few HTTP checks right after a deploy, so a tenth of a second of
imports is a large share of it (``bench/`` measures the whole process). The trims live here,
not in the library, so that code importing smokeseal keeps its own environment.
"""

from __future__ import annotations

import os
import signal
import sys
import types

from smokeseal.childenv import set_for_startup

# pydantic looks for plugins through every installed distribution's entry points on first
# use (~30 ms); smokeseal's command line uses none.
# Set through set_for_startup: the commands smokeseal runs do not inherit it.
set_for_startup("PYDANTIC_DISABLE_PLUGINS", "1")


def _no_httpx_cli() -> None:
    raise SystemExit("httpx's own command line is not part of smokeseal")


# ``import httpx`` imports httpx's own command-line tool whenever click, rich and pygments
# are installed (they are: Typer and uvicorn bring them), ~60 ms of modules smokeseal never
# uses. A module in its place keeps ``httpx.main`` defined and skips that import.
if "httpx" not in sys.modules:
    _stand_in = types.ModuleType("httpx._main", "httpx's command line, not loaded")
    _stand_in.main = _no_httpx_cli  # type: ignore[attr-defined]
    sys.modules.setdefault("httpx._main", _stand_in)


# Node.js (Playwright's driver) keeps the code it compiled here, which takes a fifth off
# the driver's start on every run after the first (Node 22.1 and later; others ignore it).
set_for_startup("NODE_COMPILE_CACHE", os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "smokeseal", "node"))

#: Options of ``smoke`` (and the global ones) that take a value.
_VALUED = ("--config", "--url", "--junit", "--database-url", "--sha")


def _on_sigterm(signum: int, frame: types.FrameType | None) -> None:
    """SIGTERM (a cancelled CI job, ``docker stop``, systemd) ends a run as Ctrl-C does.

    It is handed to SIGINT's handler: during a suite run that is asyncio's, which cancels the
    run so every check cleans up (a command check stops its process group) before the CLI's
    KeyboardInterrupt path prints "interrupted" and exits 130; otherwise it is Python's,
    which raises KeyboardInterrupt. Raising here directly would land inside whichever task
    runs at that instant and could end it without its cleanup.
    """
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:  # SIGINT ignored (a background job) or default: SIGTERM must still end the run
        raise KeyboardInterrupt


def _end_on_sigterm() -> None:
    # Only the console scripts: code importing smokeseal keeps its own signal handling.
    signal.signal(signal.SIGTERM, _on_sigterm)


def main() -> None:
    _end_on_sigterm()
    found = _command(sys.argv[1:])
    if found is not None and found[0] in ("smoke", "seal"):
        command, args = found
        if command == "seal":
            args = _seal_as_smoke(args)
        _maybe_prelaunch(args)
    from smokeseal.cli import main as cli_main

    cli_main()


def prod_smoke_main() -> None:
    _end_on_sigterm()
    _maybe_prelaunch(sys.argv[1:])
    from smokeseal.cli import prod_smoke_main as cli_prod_smoke_main

    cli_prod_smoke_main()


def _positionals(args: list[str]) -> list[int]:
    """Where the arguments are that are neither options nor the values of options."""
    return [i for i, arg in enumerate(args)
            if not arg.startswith("-") and not (i > 0 and args[i - 1] in _VALUED)]


def _command(args: list[str]) -> tuple[str, list[str]] | None:
    """``smokeseal [global options] COMMAND ARGS``: COMMAND, and the options with ARGS."""
    found = _positionals(args)
    if not found:
        return None
    i = found[0]
    return args[i], args[:i] + args[i + 1:]


def _seal_as_smoke(args: list[str]) -> list[str]:
    """``seal APP@VERSION`` and ``seal APP --current`` smoke APP; ``seal ID`` names no app
    before the ledger is read, so it counts as every app."""
    found = _command(args)
    if found is None:
        return args
    release, rest = found
    named = "@" in release or "--current" in rest
    return [*rest, release.split("@", 1)[0]] if named else [*rest, "--all"]


def _maybe_prelaunch(args: list[str]) -> None:
    """Start the browser before the imports, when this run will probably open pages.

    The guess reads only the YAML; the config proper is read and validated later, and a
    wrong guess costs a little CPU, never a result.
    """
    try:
        wanted = _pages_likely(args)
    except Exception:  # a guess never fails the run
        wanted = False
    if wanted:
        from smokeseal.browser.thread import prelaunch

        prelaunch()


def _pages_likely(args: list[str]) -> bool:
    if any(a in ("--no-browser", "--help", "-h", "--version") for a in args):
        return False
    config: str | None = None
    for i, arg in enumerate(args):
        if arg.startswith("--config="):
            config = arg.split("=", 1)[1]
        elif arg == "--config" and i + 1 < len(args):
            config = args[i + 1]
    positional = [args[i] for i in _positionals(args)]
    path = config or os.environ.get("SMOKESEAL_CONFIG") or "smokeseal.yml"
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return False  # the run will stop at the config
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return True  # ${VAR}s in flow style, say: the config proper knows
    apps = data.get("apps") or {}
    names = list(apps) if "--all" in args else positional[:1]
    suites = data.get("suites") or {}
    for name in names:
        if not isinstance(apps.get(name), dict):
            continue  # the run will stop at the app's name
        suite = apps[name].get("suite", "health")
        checks = suites.get(suite, []) if isinstance(suite, str) else suite
        if suite == "health" or any(isinstance(c, dict) and "page" in c for c in checks):
            return True
    return False
