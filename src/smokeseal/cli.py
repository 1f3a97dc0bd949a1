"""The command line: a thin layer that parses arguments, calls the library, and turns its
results and exceptions into output and exit codes, in one place (:func:`_run`).

Exit codes: 0 success, 1 a check failed, 2 bad usage or config, 3 could not record
(and, for any command, an unexpected internal error).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from smokeseal import __version__
from smokeseal.errors import ConfigError, SmokesealError, UsageError

if TYPE_CHECKING:
    from smokeseal.config import Config
    from smokeseal.github_actions import Subject
    from smokeseal.ledger import Ledger, Release
    from smokeseal.seal import Seal

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
    if database_url:
        from smokeseal.secrets import database_url_given

        database_url_given(database_url)
    _globals.debug = _globals.debug or debug


@dataclass
class GitHub:
    """What a run tells GitHub Actions: a job summary appended to ``summary``, and, with
    ``annotate``, one workflow command per failed or flaky check (on stderr with ``--json``,
    whose stdout is the JSON alone)."""

    summary: Path | None = None
    annotate: bool = False
    as_json: bool = False

    @classmethod
    def from_env(cls, summary: bool | None, as_json: bool) -> GitHub:
        path = os.environ.get("GITHUB_STEP_SUMMARY") or None
        if summary and path is None:
            raise UsageError("--github-summary: GITHUB_STEP_SUMMARY is not set (GitHub Actions "
                             "sets it in every step)")
        return cls(Path(path) if path and summary is not False else None,
                   os.environ.get("GITHUB_ACTIONS") == "true", as_json)

    @contextlib.contextmanager
    def commands_paused(self) -> Iterator[None]:
        """The runner obeys no workflow command while production's text is shown as is."""
        if not self.annotate or self.as_json:
            yield
            return
        from smokeseal.github_actions import resume_commands, stop_commands, stop_token

        token = stop_token()
        print(stop_commands(token), flush=True)
        try:
            yield
        finally:
            print(resume_commands(token), flush=True)

    def tell(self, results: list[tuple[Subject, Seal]]) -> None:
        from smokeseal.github_actions import SUMMARY_BYTES, annotation_lines, summary_markdown

        if self.annotate:
            stream = sys.stderr if self.as_json else sys.stdout
            for subject, seal in results:
                for line in annotation_lines(subject, seal):
                    print(line, file=stream)
            stream.flush()
        if self.summary is not None:
            share = SUMMARY_BYTES // max(len(results), 1)
            text = "".join(summary_markdown(subject, seal, share) for subject, seal in results)
            try:
                with self.summary.open("a", encoding="utf-8") as handle:
                    handle.write(text)
            except OSError as exc:
                # A side output, like --junit: the verdict stands and is still exited with.
                stderr.print(f"[yellow]warning:[/] --github-summary: cannot write "
                             f"{escape(str(self.summary))}: {escape(exc.strerror or str(exc))}")


def _smoke(app_name: str | None, every_app: bool, url: str | None, as_json: bool,
           junit: Path | None, no_browser: bool, config: Path | None, debug: bool,
           sha: str | None = None, github_summary: bool | None = None) -> None:
    from smokeseal.config import find_config_path, load_config

    _globals.debug = _globals.debug or debug
    github = GitHub.from_env(github_summary, as_json)
    if every_app == (app_name is not None):
        raise UsageError("give APP, or --all for every app in the config")
    if every_app and url is not None:
        raise UsageError("--url: checks one app; it cannot go with --all")
    if every_app and sha is not None:
        raise UsageError("--sha: names one app's release; it cannot go with --all")
    if sha is not None and not re.fullmatch(r"[0-9a-fA-F]{7,64}", sha):
        raise UsageError(f"--sha: {sha!r} is not a commit sha (7 to 64 hex digits)")
    loaded = load_config(find_config_path(config or _globals.config))
    if app_name is None:
        _smoke_fleet(loaded, as_json=as_json, junit=junit, no_browser=no_browser,
                     github=github)
    if sha is not None and loaded.app(app_name).version is None:
        raise UsageError(f"--sha: app {app_name!r} has no 'version:' in the config, so the "
                         "revision production serves cannot be read")
    _smoke_and_show(loaded, app_name, url=url, as_json=as_json, junit=junit,
                    no_browser=no_browser, sha=sha, github=github)


def _smoke_fleet(config: Config, *, as_json: bool, junit: Path | None,
                 no_browser: bool, github: GitHub) -> NoReturn:
    """Every app at once, one browser: one result per app; exit 1 if any is red."""
    import time

    from smokeseal.report import Progress, print_fleet
    from smokeseal.runner import RunResult, run_fleet
    from smokeseal.seal import seal_from_run

    started = time.perf_counter()
    with Progress(stderr, len(config.apps), f"{len(config.apps)} apps",
                  unit="apps") as progress:
        def done(name: str, run: RunResult) -> None:
            progress.count(run.passed)

        runs = run_fleet(config, use_browser=not no_browser, on_app=done)
    seconds = time.perf_counter() - started
    from smokeseal.compare import apply_budgets
    from smokeseal.secrets import secrets_of

    secrets = secrets_of(config)
    for name, run in runs.items():
        apply_budgets(run.results, config.budgets_for(name), None)
    seals = {name: seal_from_run(run, secrets=secrets) for name, run in runs.items()}
    if junit is not None:
        _write_junit(junit, list(seals.items()))
    if as_json:
        _print_json({"apps": {name: seal.to_dict() for name, seal in seals.items()},
                     "green": sum(seal.green for seal in seals.values()),
                     "red": sum(not seal.green for seal in seals.values()),
                     "duration_ms": round(seconds * 1000)})
    else:
        with github.commands_paused():
            print_fleet(stdout, seals, seconds)
    from smokeseal.github_actions import Subject

    github.tell([(Subject(name), seal) for name, seal in seals.items()])
    _prune_quietly(config)
    raise typer.Exit(0 if all(seal.green for seal in seals.values()) else 1)


def _smoke_and_show(config: Config, app_name: str, *, url: str | None = None,
                    as_json: bool = False, junit: Path | None = None,
                    no_browser: bool = False, sha: str | None = None,
                    github: GitHub | None = None) -> NoReturn:
    from smokeseal.report import Progress, print_run
    from smokeseal.runner import run_app
    from smokeseal.seal import seal_from_run

    target = url or config.app(app_name).url
    with Progress(stderr, _check_count(config, app_name), target) as progress:
        run = run_app(config, app_name, url=url, use_browser=not no_browser, on_result=progress,
                      expected_sha=sha)
    from smokeseal.compare import apply_budgets
    from smokeseal.secrets import secrets_of

    # No ledger here: what a budget says of the figures themselves, not of a regression.
    apply_budgets(run.results, config.budgets_for(app_name), None)
    seal = seal_from_run(run, expected_sha=sha, secrets=secrets_of(config))
    if junit is not None:
        _write_junit(junit, [(app_name, seal)])
    github = github or GitHub()
    if as_json:
        _print_json({"app": app_name, **seal.to_dict()})
    else:
        with github.commands_paused():
            print_run(stdout, app_name, run, seal)
    from smokeseal.github_actions import Subject

    github.tell([(Subject(app_name, sha=sha), seal)])
    _prune_quietly(config)
    raise typer.Exit(0 if seal.green else 1)


def _check_count(config: Config, app_name: str) -> int:
    """Checks a run of the app shows: its suite, and the version check where it has one."""
    return len(config.suite_for(app_name)) + int(config.app(app_name).version is not None)


AppArgument = Annotated[str, typer.Argument(metavar="APP", help="An app named in the config.",
                                            show_default=False)]
MaybeAppArgument = Annotated[str | None, typer.Argument(
    metavar="[APP]", help="An app named in the config (or --all).", show_default=False)]
AllOption = Annotated[bool, typer.Option(
    "--all", help="Every app in the config at once, sharing one browser; exit 1 if any "
    "app is red.")]
UrlOption = Annotated[str | None, typer.Option(
    "--url", help="Check this base URL instead of the app's canonical url.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the seal as JSON.")]
JunitOption = Annotated[Path | None, typer.Option("--junit", metavar="FILE",
                                                  help="Also write JUnit XML to FILE.")]
NoBrowserOption = Annotated[bool, typer.Option(
    "--no-browser", help="Skip page checks (and say so): the result is then red, since "
    "they went unverified.")]
ShaOption = Annotated[str | None, typer.Option(
    "--sha", help="The commit production must serve (needs the app's 'version:'); another "
    "revision answering is a failed version check.")]
GithubSummaryOption = Annotated[bool | None, typer.Option(
    "--github-summary/--no-github-summary", show_default=False,
    help="Append a Markdown job summary (verdict, checks, rollback) to $GITHUB_STEP_SUMMARY "
    "[default: on when it is set]. Under GitHub Actions, failed checks are also annotated.")]


@app.command("smoke")
def smoke_command(app_name: MaybeAppArgument = None, every_app: AllOption = False,
                  url: UrlOption = None, as_json: JsonOption = False,
                  junit: JunitOption = None, no_browser: NoBrowserOption = False,
                  sha: ShaOption = None, github_summary: GithubSummaryOption = None,
                  config: ConfigOption = None, debug: DebugOption = False) -> None:
    """Run APP's suite (or every app's, with --all) against its production URL and record
    nothing (= prod-smoke APP).

    Exit 0 when every check passed, 1 when one failed, 2 for bad usage or config.
    """
    _smoke(app_name, every_app, url, as_json, junit, no_browser, config, debug, sha,
           github_summary)


prod_smoke_app.command(help=smoke_command.__doc__)(smoke_command)


@app.command("demo")
def demo_command(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port for the board "
                                      "(0: any free port).")] = 8000,
    no_browser: NoBrowserOption = False,
) -> None:
    """The embedded default, end to end: ship the bundled demo app twice, once sealed green
    and once with an injected fault sealed red, then serve the board until Ctrl-C.

    Everything (config, SQLite ledger, evidence) lives in a temporary folder, removed on exit.
    """
    import tempfile

    from smokeseal.config import load_config
    from smokeseal.demo import DemoState, create_app, demo_config_yaml
    from smokeseal.ledger import Ledger
    from smokeseal.servers import BackgroundServer

    state = DemoState()
    with tempfile.TemporaryDirectory(prefix="smokeseal-demo-") as folder, \
            BackgroundServer(create_app(state)) as server:
        stderr.print(f"demo app (production, for this demo) on {server.url}; "
                     f"working in {folder}", highlight=False, soft_wrap=True)
        path = Path(folder) / "smokeseal.yml"
        deploy = 'echo "deploy: $SMOKESEAL_APP $SMOKESEAL_VERSION ($SMOKESEAL_SHA) is live"'
        path.write_text(demo_config_yaml(server.url, deploy=deploy), encoding="utf-8")
        config = load_config(path)
        with Ledger(f"sqlite:///{Path(folder) / 'smokeseal.db'}") as ledger:
            for version, sha, fault, notes in (
                    ("v1.0.0", "1a2b3c4d5e", None, "Tasks page; faster sign-in."),
                    ("v1.1.0", "3f2a9c1b7d", "devops_exposed tasks_js_error",
                     "New /devops dashboard (meant to stay internal); tasks page rewrite.")):
                state.set_faults(*(fault.split() if fault else []))
                stdout.rule(f"ship demo {version}" + (f" with faults: {fault}" if fault else ""),
                            style="dim")
                release = ledger.create_release("demo", version, sha, notes=notes,
                                                release_branch="main")
                _ship(config, ledger, release, no_browser=no_browser)
            stdout.rule(style="dim")
            _serve_board(ledger, "127.0.0.1", _free_or(port), None, config.evidence_root,
                         ready="The demo's ")


def _free_or(port: int) -> int:
    """``port`` if nothing listens there, else any free port: the demo should just work."""
    import socket

    if port == 0:
        return 0
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            stderr.print(f"port {port} is taken; using a free one", style="dim")
            return 0
    return port


# --- the ledger ---------------------------------------------------------------------------

release_app = typer.Typer(help="Create, read and abandon releases in the ledger.",
                          no_args_is_help=True)
db_app = typer.Typer(help="The ledger database.", no_args_is_help=True)
app.add_typer(release_app, name="release")
app.add_typer(db_app, name="db")

ReleaseArgument = Annotated[str, typer.Argument(metavar="RELEASE",
                                                help="A release id or APP@VERSION.")]
NotesOption = Annotated[Path | None, typer.Option("--notes-file", metavar="F",
                                                  help="Release notes (Markdown).")]


def _config(required: bool = True) -> Config | None:
    from smokeseal.config import find_config_path, load_config

    path = find_config_path(_globals.config)
    explicit = _globals.config is not None or "SMOKESEAL_CONFIG" in os.environ
    if not required and not explicit and not path.exists():
        return None
    return load_config(path)


def _ledger(config: Config | None) -> Ledger:
    from smokeseal.ledger import Ledger, database_url_for

    return Ledger(database_url_for(
        _globals.database_url, os.environ.get("SMOKESEAL_DATABASE_URL"),
        config.database_url if config else None,
        config.base_dir if config else Path.cwd()))


def _read_notes(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        notes = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--notes-file: cannot read {path}: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
    if "\x00" in notes:
        raise UsageError(f"--notes-file: {path} contains a NUL byte; release notes are text")
    return notes


def _print_json(data: object) -> None:
    from smokeseal.github_actions import json_safe

    # The same value, with nothing a GitHub runner would read as a workflow command.
    print(json_safe(json.dumps(data, ensure_ascii=False, indent=2)))


@release_app.command("create")
def release_create(
    app_name: AppArgument,
    version: Annotated[str, typer.Option("--version", help="The release's tag.")],
    sha: Annotated[str, typer.Option("--sha", help="The merge commit on the release branch.")],
    notes_file: NotesOption = None,
    shipped: Annotated[bool, typer.Option(
        "--shipped", help="Your pipeline already deployed it: record it shipped and post its "
        "notes (then `smokeseal seal APP@VERSION`). Re-running with the same sha is a "
        "no-op.")] = False,
) -> None:
    """Add an assembled (or, with --shipped, shipped) release; print its id."""
    config = _config()
    assert config is not None
    notes = _read_notes(notes_file)
    branch = config.app(app_name).release_branch
    with _ledger(config) as ledger:
        if shipped:
            from smokeseal.outbox import deliver_quietly
            from smokeseal.ship import record_shipped

            release = record_shipped(config, ledger, app_name, version, sha, notes=notes)
            for warning in deliver_quietly(config, ledger):
                stderr.print(f"[yellow]warning:[/] {escape(warning)}")
        else:
            release = ledger.create_release(app_name, version, sha, notes=notes,
                                            release_branch=branch)
    stderr.print(f"release {release.id}: {release.ref} ({release.short_sha}), {release.state}",
                 markup=False, highlight=False)
    print(release.id)


#: Seal runs ``release show`` lists (the latest); older ones are counted.
SEALS_LISTED = 50


@release_app.command("show")
def release_show(ref: ReleaseArgument, as_json: JsonOption = False) -> None:
    """Show a release, its seal and its rollback commands."""
    from smokeseal.report import print_release

    with _ledger(_config(required=False)) as ledger:
        release = ledger.release(ref)
        # The latest runs in brief, oldest first; a release re-sealed by cron has thousands.
        history, older = ledger.recent_seals(release.id, SEALS_LISTED)
    if as_json:
        _print_json({**release.to_dict(), "seals": history, "seals_not_listed": older})
    else:
        with GitHub.from_env(False, as_json).commands_paused():
            print_release(stdout, release, history, older)


@release_app.command("list")
def release_list(
    app_name: Annotated[str | None, typer.Argument(metavar="[APP]", show_default=False,
                                                   help="Only this app's releases.")] = None,
    as_json: JsonOption = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
) -> None:
    """List releases, newest first, with their seals."""
    from smokeseal.report import print_releases

    with _ledger(_config(required=False)) as ledger:
        releases = ledger.releases(app_name, limit=limit)
    if as_json:
        _print_json([r.to_dict() for r in releases])
    else:
        with GitHub.from_env(False, as_json).commands_paused():
            print_releases(stdout, releases)


@release_app.command("abandon")
def release_abandon(ref: ReleaseArgument) -> None:
    """Mark a release abandoned: the bookkeeping step of a rollback. Runs nothing else."""
    from pathlib import Path

    from smokeseal.rollback import ReleaseFacts, default_commands

    config = _config(required=False)
    with _ledger(config) as ledger:
        release = ledger.abandon(ref)
    reverts = default_commands(ReleaseFacts(release.id, release.sha, release.version),
                               release.release_branch,
                               config.base_dir if config else Path.cwd())[1:]
    stdout.print(f"abandoned release {release.id} ({release.ref}); smokeseal ran nothing else. "
                 "To undo the code:", highlight=False, markup=False)
    for command in reverts:
        stdout.print(f"  {command}", highlight=False, markup=False)
    stdout.print(f"{release.app} shows as rolled back until a release of it is shipped again.",
                 highlight=False, markup=False)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the ledger's migrations (they are also applied on first use)."""
    from smokeseal.ledger import HEAD_REVISION

    with _ledger(_config(required=False)) as ledger:
        revision = ledger.revision()
        stdout.print(f"ledger {ledger.display_url} is at revision {revision}"
                     f"{' (current)' if revision == HEAD_REVISION else ''}",
                     highlight=False, markup=False)


# --- the outbox -------------------------------------------------------------------------

outbox_app = typer.Typer(help="Messages to Discord and GitHub that are not delivered yet.",
                         no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")


@outbox_app.command("flush")
def outbox_flush(budget: Annotated[float, typer.Option(
        "--budget", help="Seconds to keep trying.", min=1)] = 60.0) -> None:
    """Deliver every pending message now. Exit 1 while some are still pending."""
    from smokeseal.outbox import deliver

    config = _config()
    assert config is not None
    with _ledger(config) as ledger:
        report = deliver(config, ledger, budget=budget, due_only=False)
    for error in report.errors:
        stderr.print(f"[yellow]warning:[/] {escape(error)}")
    stdout.print(f"delivered {len(report.delivered)}, still pending {report.pending}, "
                 f"failed for good {report.failed}", markup=False, highlight=False)
    raise typer.Exit(1 if report.pending else 0)


@outbox_app.command("list")
def outbox_list(as_json: JsonOption = False) -> None:
    """List pending and failed messages. Exit 1 while some are pending."""
    with _ledger(_config(required=False)) as ledger:
        messages = ledger.messages(("pending", "failed"))
    if as_json:
        _print_json([{"id": m.id, "release_id": m.release_id, "app": m.app, "sink": m.sink,
                      "kind": m.kind, "key": m.key, "status": m.status,
                      "attempts": m.attempts, "last_error": m.last_error,
                      "next_attempt_at": m.next_attempt_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
                     for m in messages])
    else:
        from smokeseal.report import print_messages

        print_messages(stdout, messages)
    raise typer.Exit(1 if any(m.status == "pending" for m in messages) else 0)


# --- first run ------------------------------------------------------------------------

@app.command("init")
def init_command(
    url: Annotated[str | None, typer.Argument(metavar="[URL]", show_default=False,
                                              help="The app's production URL.")] = None,
    app_name: Annotated[str | None, typer.Option(
        "--app", help="The app's name in the config [default: from the URL's host].",
        show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    no_browser: Annotated[bool, typer.Option(
        "--no-browser", help="Look over HTTP only (and say so): the home check then cannot "
        "tell whether the page's data loads.")] = False,
) -> None:
    """Write a commented smokeseal.yml that fits the app at URL.

    Looks at the app read-only (one GET per path, bounded, with the checks' own client):
    the canonical host (when every path is sent to one other host, that one is url: and the
    given one an alias), its health path, whether every path answers 200, what / shows, a
    sign-in (and how to give the suite a session), and Streamlit, Dash, Gradio or GraphQL
    (their reads:). Then opens / in the guarded browser: the reads its data needs, and a
    text it draws once that data loaded, for the home check. Trusts the replaced config's
    ca_file, else $SSL_CERT_FILE. Says what it found and what the suite would find. Exit 0
    written, 2 bad URL or the file already exists.
    """
    from smokeseal.config import find_config_path, normalise_url, parse_config
    from smokeseal.init import app_name_for, config_text, survey, trust_for

    if url is not None:
        try:
            url = normalise_url(url)
        except ValueError as exc:
            raise UsageError(f"URL: {exc}") from None
    name = app_name or app_name_for(url)
    path = find_config_path(_globals.config)
    if path.exists() and not force:
        raise UsageError(f"{path} already exists; pass --force to overwrite it")
    # A bad --app is refused before production is looked at, and nothing is written.
    parse_config(config_text(url, name), source=str(path), environ={})
    found = None
    if url is not None:
        # The CA file the suite will trust: the replaced config's ca_file, else the
        # environment's.
        trust, problem = trust_for(path if path.exists() else None, os.environ)
        if problem is not None:
            stderr.print(f"! {problem}", markup=False, highlight=False, soft_wrap=True)
        with stderr.status(f"looking at {url}…") if stderr.is_terminal \
                else contextlib.nullcontext():
            found = survey(url, browser=not no_browser, trust=trust)
    text = config_text(url, name, found)
    try:
        parse_config(text, source=str(path), environ={})
    except ConfigError as exc:
        # What production said made an invalid file: the generic one is still a start.
        stderr.print(f"! what {url} serves did not fit a config ({exc}); wrote the generic "
                     "suite", markup=False, highlight=False, soft_wrap=True)
        text = config_text(url, name)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--config: cannot write {path}: {exc.strerror or exc}") from None
    stderr.print(f"wrote {path} for app {name!r}", markup=False, highlight=False,
                 soft_wrap=True)
    if found is None:
        stderr.print("edit its url:, then run `smokeseal doctor`", markup=False)
        return
    marks = {True: "[green]✓[/]", False: "[yellow]![/]", None: "[dim]·[/]"}
    for note in found.notes:
        stderr.print(f"{marks[note.ok]} {escape(note.text)}", highlight=False, soft_wrap=True)
    for probe in found.probes:
        want = " or ".join(map(str, probe.want))
        stderr.print(f"{marks[probe.ok]} {escape(probe.path)} {escape(probe.detail)} "
                     f"(the suite expects {want})", highlight=False, soft_wrap=True)
    stderr.print(f"next: smokeseal doctor, then prod-smoke {name}", markup=False,
                 highlight=False)


@app.command("doctor")
def doctor_command() -> None:
    """Check the config, ${VAR}s, browser, ledger, and every app's URL, gate and aliases.

    Reads only: nothing is created or migrated. Exit 0 healthy, 1 problems (each with a fix).
    """
    from rich.text import Text

    from smokeseal.config import find_config_path
    from smokeseal.doctor import diagnose

    path = find_config_path(_globals.config)
    with stderr.status("checking…") if stderr.is_terminal else contextlib.nullcontext():
        findings = diagnose(path, _globals.database_url)
    width = max(len(f.area) for f in findings)
    for finding in findings:
        mark = Text("✓ ", style="green") if finding.ok else Text("✗ ", style="bold red")
        stdout.print(Text.assemble(mark, (finding.area.ljust(width), "bold"), "  ",
                                   finding.message), soft_wrap=True)
        if finding.fix:
            stdout.print(Text.assemble(" " * (width + 4), ("fix: ", "yellow"), finding.fix),
                         soft_wrap=True)
    problems = sum(not f.ok for f in findings)
    if problems:
        stdout.print(Text(f"{problems} problem{'s' * (problems > 1)}", style="bold red"))
        raise typer.Exit(1)
    stdout.print(Text("healthy", style="bold green"))


# --- the board ---------------------------------------------------------------------------

@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535,
                                      help="Port to listen on (0: any free port).")] = 8000,
    ledger_timeout: Annotated[float, typer.Option(
        "--ledger-timeout", min=0.1, max=3600,
        help="Seconds a page waits for the ledger (a lock, a slow database) before it "
             "answers 503.")] = 5.0,  # board.READ_TIMEOUT, not imported before serving
) -> None:
    """Serve the /deployments board, its JSON API and /metrics (read-only).

    Set SMOKESEAL_BOARD_TOKEN to require `Authorization: Bearer <token>` (or `?token=` once
    in a browser, which sets a cookie) on every route but /up. SMOKESEAL_METRICS_TOKEN, when
    set, is the only token /metrics takes (as a bearer token). `badges: public` in the
    config, or SMOKESEAL_PUBLIC_BADGES=1, serves /badge/APP.svg without a token.
    """
    config = _config(required=False)
    token = os.environ.get("SMOKESEAL_BOARD_TOKEN") or None
    metrics_token = os.environ.get("SMOKESEAL_METRICS_TOKEN") or None
    public_badges = _public_badges(config)
    with _ledger(config) as ledger:
        _serve_board(ledger, host, port, token, config.evidence_root if config else None,
                     read_timeout=ledger_timeout, metrics_token=metrics_token,
                     public_badges=public_badges)


_YES, _NO = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def _public_badges(config: Config | None) -> bool:
    """``$SMOKESEAL_PUBLIC_BADGES`` when set (1 or 0), else the config's ``badges:``."""
    value = os.environ.get("SMOKESEAL_PUBLIC_BADGES")
    if value is None:
        return config is not None and config.badges == "public"
    if value.strip().lower() in _YES:
        return True
    if value.strip().lower() in _NO:
        return False
    raise UsageError(f"SMOKESEAL_PUBLIC_BADGES: expected 1 or 0, got {value!r}")


def _serve_board(ledger: Ledger, host: str, port: int, token: str | None,
                 evidence_root: Path | None, *, ready: str = "",
                 read_timeout: float | None = None, metrics_token: str | None = None,
                 public_badges: bool = False) -> None:
    import logging
    import socket

    import uvicorn

    from smokeseal.board import READ_TIMEOUT, create_app

    board = create_app(ledger, token=token, evidence_root=evidence_root,
                       read_timeout=read_timeout or READ_TIMEOUT, metrics_token=metrics_token,
                       public_badges=public_badges)
    try:
        listener = socket.create_server((host, port), reuse_port=False)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise UsageError(f"--host/--port: cannot listen on {host}:{port}: {reason}") from None
    bound = listener.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}/deployments"
    # soft_wrap: the URL stays on one line, whatever the terminal's width.
    stderr.print(f"{ready}board on [bold]{url}[/] · ledger {escape(ledger.display_url)}",
                 highlight=False, soft_wrap=True)
    if token is None:
        stderr.print("[yellow]open board:[/] anyone who can reach it can read it; "
                     "set SMOKESEAL_BOARD_TOKEN to require a token", highlight=False,
                     soft_wrap=True)
    elif public_badges:
        stderr.print("public badges: /badge/APP.svg answers without the token; nothing else "
                     "does", highlight=False, soft_wrap=True)
    if metrics_token is not None:
        stderr.print("/metrics takes only SMOKESEAL_METRICS_TOKEN (Authorization: Bearer)",
                     highlight=False, soft_wrap=True)
    stderr.print("Ctrl-C stops it.", style="dim")
    # Our own access log (path only: a query string may carry ?token=); uvicorn's is off.
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("smokeseal.board.access").setLevel(logging.INFO)
    server = uvicorn.Server(uvicorn.Config(board, log_level="warning", access_log=False,
                                           lifespan="off", timeout_graceful_shutdown=2))
    # uvicorn re-raises Ctrl-C after its graceful shutdown: here, a normal way to stop.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[listener])
    stderr.print("board stopped", style="dim")


# --- evidence -----------------------------------------------------------------------------

evidence_app = typer.Typer(help="Evidence kept by failed page checks.", no_args_is_help=True)
app.add_typer(evidence_app, name="evidence")


def _days(value: str | None, default: int) -> int:
    if value is None:
        return default
    if not re.fullmatch(r"\s*\d+\s*", value) or int(value) < 1:
        raise UsageError(f"--older-than: {value!r} is not a number of days (a whole number, "
                         "1 or more)")
    return int(value)


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


@evidence_app.command("prune")
def evidence_prune(
    config: ConfigOption = None,
    older_than: Annotated[str | None, typer.Option(
        "--older-than", metavar="DAYS", help="Remove run folders older than DAYS days "
        "[default: the config's evidence_keep_days, 30 unless set]", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be removed; "
                                          "remove nothing.")] = False,
) -> None:
    """Remove evidence run folders under the config's evidence root older than DAYS days.

    Only run folders directly under the root (APP-TIMESTAMP) are removed, never a symlink
    or anything outside the root. Exit 0, 1 when a folder could not be removed, 2 bad usage.
    """
    from smokeseal.config import find_config_path, load_config
    from smokeseal.evidence import prune_evidence

    loaded = load_config(find_config_path(config or _globals.config))
    days = _days(older_than, loaded.evidence_keep_days)
    pruned = prune_evidence(loaded.evidence_root, days, dry_run=dry_run,
                            apps=loaded.apps.keys())
    verb = "would remove" if dry_run else "removed"
    for folder, size in pruned.folders:
        stdout.print(f"{verb} {folder} ({_megabytes(size)})", markup=False, highlight=False,
                     soft_wrap=True)
    for error in pruned.errors:
        stderr.print(f"[yellow]warning:[/] could not remove {escape(error)}", soft_wrap=True)
    count = len(pruned.folders)
    stdout.print(f"{verb} {count} run folder{'s' * (count != 1)} older than {days} "
                 f"day{'s' * (days != 1)} under {pruned.root}: "
                 f"{_megabytes(pruned.freed)} {'would be ' if dry_run else ''}freed",
                 markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1 if pruned.errors else 0)


def _live_evidence(config: Config, ledger: Ledger) -> set[Path]:
    """The run folders each app's live release's seal links (never pruned by ``seal``);
    best effort: none if the ledger cannot say."""
    from smokeseal.evidence import evidence_in_use

    try:
        seals = [r.smoke_seal for r in ledger.current_releases(notes=False).values() if r]
        return evidence_in_use(seals, config.evidence_root)
    except Exception:
        return set()


def _prune_quietly(config: Config, *, keep: set[Path] | None = None) -> None:
    """After a run: remove smokeseal's run folders past ``evidence_keep_days``, saying so on
    stderr; never one in ``keep`` (the live releases' seals' folders). Never changes the
    run's outcome."""
    try:
        from smokeseal.evidence import prune_evidence

        pruned = prune_evidence(config.evidence_root, config.evidence_keep_days,
                                apps=config.apps.keys(), keep=keep or ())
    except Exception as exc:  # best effort: the run's result stands
        stderr.print(f"[yellow]warning:[/] evidence not pruned: {escape(str(exc))}")
        return
    if pruned.folders:
        count = len(pruned.folders)
        stderr.print(f"pruned {count} evidence run folder{'s' * (count != 1)} older than "
                     f"{pruned.days} days ({_megabytes(pruned.freed)} freed)",
                     style="dim", markup=False, highlight=False)
    for error in pruned.errors:
        stderr.print(f"[yellow]warning:[/] could not prune {escape(error)}", soft_wrap=True)


# --- ship and seal ----------------------------------------------------------------------

def _show_seal(seal: Seal, release: Release, as_json: bool) -> None:
    if as_json:
        _print_json({"release": {"id": release.id, "app": release.app,
                                 "version": release.version, "sha": release.sha},
                     **seal.to_dict()})
        return
    from rich.text import Text

    from smokeseal.report import print_seal, terminal_safe

    print_seal(stdout, seal, Text.assemble(
        ("seal ", "bold"), (terminal_safe(release.ref), "bold cyan"),
        f" ({release.short_sha}) → ", (seal.base_url, "underline"), " (canonical URL)"))


@app.command("ship")
def ship_command(
    app_name: AppArgument,
    release_id: Annotated[int | None, typer.Option("--release", metavar="ID",
                                                   help="An assembled release.")] = None,
    version: Annotated[str | None, typer.Option("--version", help="Create or reuse this "
                                                "version...")] = None,
    sha: Annotated[str | None, typer.Option("--sha", help="...at this merge commit.")] = None,
    notes_file: NotesOption = None,
    no_browser: NoBrowserOption = False,
) -> None:
    """Deploy, gate on /up, mark shipped, then seal. The seal never fails the ship.

    Exit 0 shipped (whatever the seal), 1 deploy or gate failed, 2 bad usage.
    """
    from smokeseal.ship import resolve_release

    if (release_id is None) == (version is None or sha is None) or \
            (release_id is not None and (version or sha)):
        raise UsageError("give either --release ID, or --version V and --sha SHA")
    config = _config()
    assert config is not None
    notes = _read_notes(notes_file)
    with _ledger(config) as ledger:
        release = resolve_release(ledger, config, app_name, release_id=release_id,
                                  version=version, sha=sha, notes=notes)
        _ship(config, ledger, release, no_browser=no_browser)


def _ship(config: Config, ledger: Ledger, release: Release, *, no_browser: bool) -> None:
    """Deploy, gate and seal ``release``, telling the operator as it goes."""
    from rich.text import Text

    from smokeseal.outbox import deliver_quietly
    from smokeseal.report import Progress, Waiting, terminal_safe
    from smokeseal.ship import deploy_and_gate, seal_after_ship

    def deploy_line(line: str) -> None:
        # The deploy's own colours survive; its cursor tricks do not.
        stderr.print(Text.from_ansi(line) if "\x1b[" in line else Text(terminal_safe(line)),
                     soft_wrap=True)

    shipped = deploy_and_gate(config, ledger, release, on_deploy_line=deploy_line,
                              say=lambda m: stderr.print(m, markup=False, highlight=False,
                                                         soft_wrap=True),
                              waiting=lambda text: Waiting(stderr, text))
    total = _check_count(config, release.app)
    with Progress(stderr, total, config.app(release.app).url) as progress:
        seal, warnings = seal_after_ship(config, ledger, shipped,
                                         use_browser=not no_browser, on_result=progress)
    warnings += deliver_quietly(config, ledger)
    for warning in warnings:
        stderr.print(f"[yellow]warning:[/] {escape(warning)}")
    if seal is not None:
        with GitHub.from_env(False, as_json=False).commands_paused():
            _show_seal(seal, shipped, as_json=False)
    else:
        stdout.print(f"shipped {shipped.ref}; no seal was recorded", markup=False)
    _prune_quietly(config)


def _write_junit(path: Path, suites: list[tuple[str, Seal]]) -> None:
    from smokeseal.report import write_junit

    try:
        write_junit(path, suites)
    except OSError as exc:
        # The result is still printed (and, for seal, recorded); the report is a side output.
        stderr.print(f"[yellow]warning:[/] --junit: cannot write {escape(str(path))}: "
                     f"{escape(exc.strerror or str(exc))}")


@app.command("seal")
def seal_command(
    ref: Annotated[str, typer.Argument(
        metavar="RELEASE", help="A release id or APP@VERSION; with --current, an APP.")],
    current: Annotated[bool, typer.Option(
        "--current", help="Seal whatever release of APP is live now (its newest shipped, "
        "not abandoned release), e.g. from cron. A re-seal alerts only when the verdict "
        "changes.")] = False,
    as_json: JsonOption = False, no_browser: NoBrowserOption = False,
    junit: JunitOption = None, github_summary: GithubSummaryOption = None,
) -> None:
    """Seal a shipped release: run its app's suite and record the verdict.

    Exit 0 green, 1 red, 2 bad usage, 3 the ledger could not be reached or written.
    """
    from smokeseal.report import Progress
    from smokeseal.ship import live_release, seal_release

    if current and ("@" in ref or ref.isdigit()):
        raise UsageError(f"--current: seals the release of APP that is live now; give APP, "
                         f"not a release ({ref!r})")
    github = GitHub.from_env(github_summary, as_json)
    config = _config()
    assert config is not None
    with _ledger(config) as ledger:
        if not current and ref in config.apps:
            raise UsageError(f"RELEASE: {ref!r} is an app, not a release; to seal the release "
                             f"of it that is live now: smokeseal seal {ref} --current")
        release = live_release(ledger, config, ref) if current else ledger.release(ref)
        url = config.app(release.app).url
        with Progress(stderr, _check_count(config, release.app), url) as progress:
            seal, recorded = seal_release(config, ledger, release, use_browser=not no_browser,
                                          on_result=progress)
        from smokeseal.outbox import deliver_quietly

        for warning in deliver_quietly(config, ledger):
            stderr.print(f"[yellow]warning:[/] {escape(warning)}")
        keep = _live_evidence(config, ledger)
    if junit is not None:
        _write_junit(junit, [(release.app, seal)])
    with github.commands_paused():
        _show_seal(seal, recorded, as_json)
    from smokeseal.github_actions import Subject

    github.tell([(Subject(recorded.app, recorded.version, recorded.sha, recorded.id), seal)])
    _prune_quietly(config, keep=keep)
    raise typer.Exit(0 if seal.green else 1)


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
