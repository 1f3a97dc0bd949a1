"""The command line: a thin layer that parses arguments, calls the library, and turns its
results and exceptions into output and exit codes, in one place (:func:`_run`).

Exit codes: 0 success, 1 a check failed, 2 bad usage or config, 3 could not record
(and, for any command, an unexpected internal error).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

from smokeseal import __version__
from smokeseal.errors import SmokesealError

if TYPE_CHECKING:
    from smokeseal.config import Config

__all__ = ["app", "main", "prod_smoke_main"]

app = typer.Typer(
    name="smokeseal",
    help="Seal every production release green or red with a read-only smoke suite.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
prod_smoke_app = typer.Typer(
    name="prod-smoke", add_completion=False, pretty_exceptions_enable=False,
    help="Run APP's read-only smoke suite against its production URL; record nothing.",
)

stdout = Console(highlight=False, soft_wrap=False)
stderr = Console(stderr=True, highlight=False)


@dataclass
class Globals:
    config: Path | None = None
    database_url: str | None = None
    debug: bool = False


_globals = Globals(debug=bool(os.environ.get("SMOKESEAL_DEBUG")))

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file [default: $SMOKESEAL_CONFIG, then "
                 "./smokeseal.yml]", show_default=False),
]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show tracebacks.")]


def _version(value: bool) -> None:
    if value:
        stdout.print(f"smokeseal {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    config: ConfigOption = None,
    database_url: Annotated[str | None, typer.Option(
        "--database-url", help="Ledger database [default: $SMOKESEAL_DATABASE_URL, then the "
        "config's, then sqlite:///smokeseal.db beside the config]", show_default=False)] = None,
    debug: DebugOption = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    _globals.config = config
    _globals.database_url = database_url
    _globals.debug = _globals.debug or debug


def _smoke(app_name: str, url: str | None, as_json: bool, junit: Path | None,
           no_browser: bool, config: Path | None, debug: bool) -> None:
    from smokeseal.config import find_config_path, load_config

    _globals.debug = _globals.debug or debug
    loaded = load_config(find_config_path(config or _globals.config))
    _smoke_and_show(loaded, app_name, url=url, as_json=as_json, junit=junit,
                    no_browser=no_browser)


def _smoke_and_show(config: Config, app_name: str, *, url: str | None = None,
                    as_json: bool = False, junit: Path | None = None,
                    no_browser: bool = False) -> NoReturn:
    from smokeseal.report import Progress, print_run, write_junit
    from smokeseal.runner import run_app
    from smokeseal.seal import seal_from_run

    checks = config.suite_for(app_name)
    target = url or config.app(app_name).url
    with Progress(stderr, len(checks), target) as progress:
        run = run_app(config, app_name, url=url, use_browser=not no_browser, on_result=progress)
    seal = seal_from_run(run)
    if junit is not None:
        write_junit(junit, app_name, run)
    if as_json:
        print(json.dumps({"app": app_name, **seal.to_dict()}, ensure_ascii=False, indent=2))
    else:
        print_run(stdout, app_name, run, seal)
    raise typer.Exit(0 if seal.green else 1)


AppArgument = Annotated[str, typer.Argument(metavar="APP", help="An app named in the config.",
                                            show_default=False)]
UrlOption = Annotated[str | None, typer.Option(
    "--url", help="Check this base URL instead of the app's canonical url.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the seal as JSON.")]
JunitOption = Annotated[Path | None, typer.Option("--junit", metavar="FILE",
                                                  help="Also write JUnit XML to FILE.")]
NoBrowserOption = Annotated[bool, typer.Option("--no-browser",
                                               help="Skip page checks (and say so).")]


@app.command("smoke")
def smoke_command(app_name: AppArgument, url: UrlOption = None, as_json: JsonOption = False,
                  junit: JunitOption = None, no_browser: NoBrowserOption = False,
                  config: ConfigOption = None, debug: DebugOption = False) -> None:
    """Run APP's suite against its production URL and record nothing (= prod-smoke APP).

    Exit 0 when every check passed, 1 when one failed, 2 for bad usage or config.
    """
    _smoke(app_name, url, as_json, junit, no_browser, config, debug)


prod_smoke_app.command(help=smoke_command.__doc__)(smoke_command)


@app.command("demo")
def demo_command(
    port: Annotated[int, typer.Option("--port", help="Port for the demo app (0: any free).")] = 0,
) -> None:
    """Start the bundled demo app and smoke it, printing the result."""
    import tempfile

    from smokeseal.config import load_config
    from smokeseal.demo import create_app, demo_config_yaml
    from smokeseal.servers import BackgroundServer

    # The demo writes nothing outside a temporary folder: its config and any evidence.
    with tempfile.TemporaryDirectory(prefix="smokeseal-demo-") as folder, \
            BackgroundServer(create_app(), port=port) as server:
        stderr.print(f"demo app serving on {server.url}")
        path = Path(folder) / "smokeseal.yml"
        path.write_text(demo_config_yaml(server.url), encoding="utf-8")
        _smoke_and_show(load_config(path), "demo")


def _fail(message: str, code: int) -> NoReturn:
    stderr.print(f"[bold red]error:[/] {message}", markup=True, highlight=False, soft_wrap=True)
    sys.exit(code)


def _run(typer_app: typer.Typer, argv: list[str] | None) -> None:
    """Every exception ends here, as one line and the exit code of its family."""
    if (argv is not None and "--debug" in argv) or "--debug" in sys.argv[1:]:
        _globals.debug = True
    try:
        typer_app(args=argv, prog_name=typer_app.info.name)
    except SmokesealError as exc:
        if _globals.debug:
            raise
        from rich.markup import escape

        _fail(escape(str(exc)), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:
        if _globals.debug:
            raise
        from rich.markup import escape

        _fail(escape(f"internal error: {type(exc).__name__}: {exc} "
                     "(run with --debug for the traceback)"), 3)


def main(argv: list[str] | None = None) -> None:
    _run(app, argv)


def prod_smoke_main(argv: list[str] | None = None) -> None:
    _run(prod_smoke_app, argv)
