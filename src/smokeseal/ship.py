"""Shipping and sealing a release.

``ship``: deploy, gate on ``/up``, mark shipped, then seal. The deploy and the gate decide
the ship; the seal never does (see :func:`seal_after_ship`). ``seal_release`` is the seal
step on its own, for pipelines that deploy with their own tools.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smokeseal.access import Access, access_for
from smokeseal.checks.base import CheckResult, join_url
from smokeseal.compare import (
    apply_budgets,
    commits_between,
    compare,
    compare_url,
    regressions_phrase,
)
from smokeseal.config import App, Config, Gate, VersionSource
from smokeseal.errors import LedgerError, ShipError, UsageError
from smokeseal.ledger import Ledger, NewMessage, Release
from smokeseal.rollback import ReleaseFacts, rollback_commands
from smokeseal.seal import Seal, clean_text, failed_seal, seal_from_run
from smokeseal.secrets import scrub

if TYPE_CHECKING:
    from smokeseal.checks.version import Revision
    from smokeseal.runner import RunResult

__all__ = ["GATE_POLL_LIMIT", "GateAnswer", "ShipResult", "deploy", "deploy_and_gate",
           "live_release", "poll_gate", "record_shipped", "resolve_release",
           "seal_after_ship", "seal_release", "ship", "wait_for_gate"]

Say = Callable[[str], None]
#: Wraps each wait (the deploy, the gate) so that a front end can show it is still going.
Waiting = Callable[[str], contextlib.AbstractContextManager[object]]


def _quiet(message: str) -> None:
    return None


def _no_show(text: str) -> contextlib.AbstractContextManager[object]:
    return contextlib.nullcontext()


@dataclass
class ShipResult:
    release: Release
    seal: Seal | None
    warnings: list[str] = field(default_factory=list)


def resolve_release(ledger: Ledger, config: Config, app: str, *, release_id: int | None = None,
                    version: str | None = None, sha: str | None = None,
                    notes: str | None = None) -> Release:
    """The assembled release to ship: an existing one, or a new one for ``version``/``sha``."""
    app_config = config.app(app)
    if release_id is not None:
        release = ledger.release(release_id)
        if release.app != app:
            raise UsageError(f"--release: release {release.id} belongs to {release.app}, "
                             f"not {app}")
    elif version is not None and sha is not None:
        existing = ledger.find(app, version)
        if existing is None:
            return ledger.create_release(app, version, sha, notes=notes,
                                         release_branch=app_config.release_branch)
        if not existing.sha.startswith(sha.lower()) and not sha.lower().startswith(existing.sha):
            raise UsageError(f"{existing.ref} already exists with sha {existing.short_sha} "
                             f"(duplicate version); give it a new version")
        release = existing
    else:
        raise UsageError("give --release ID, or --version V with --sha SHA")
    if release.state == "abandoned":
        raise UsageError(f"release {release.id} ({release.ref}) is abandoned and cannot ship; "
                         "create a new release")
    if release.state == "shipped":
        raise UsageError(f"release {release.id} ({release.ref}) has already shipped; to seal "
                         f"it again: smokeseal seal {release.id}")
    return release


def live_release(ledger: Ledger, config: Config, app: str) -> Release:
    """The release of ``app`` production runs now: its newest shipped, not abandoned one
    (``seal APP --current``). After ``release abandon`` (a rollback), that is the release
    the rollback went back to, and sealing it is how the rollback is confirmed."""
    config.app(app)  # an unknown app is named as such, not as one with no release
    release = ledger.latest_shipped(app)
    if release is None:
        raise UsageError(f"--current: app {app!r} has no shipped release in the ledger; "
                         "record one with `smokeseal release create APP --version V --sha SHA "
                         "--shipped` or `smokeseal ship`")
    return release


def record_shipped(config: Config, ledger: Ledger, app: str, version: str, sha: str, *,
                   notes: str | None = None) -> Release:
    """A release that the pipeline deployed with its own tools, recorded as shipped.

    Queues the release notes like ``ship`` does. Idempotent for a pipeline re-run: the same
    version and sha again returns the release as it is.
    """
    existing = ledger.find(app, version)
    if existing is not None and existing.state == "shipped" and (
            existing.sha.startswith(sha.lower()) or sha.lower().startswith(existing.sha)):
        return existing
    release = resolve_release(ledger, config, app, version=version, sha=sha, notes=notes)
    from smokeseal.outbox import messages_for_ship

    return ledger.mark_shipped(release.id, messages_for_ship(config))


def ship(config: Config, ledger: Ledger, release: Release, *, use_browser: bool = True,
         say: Say = _quiet, on_result: Callable[[CheckResult], None] | None = None,
         deploy_output: int | None = None) -> ShipResult:
    """Deploy ``release``, gate on ``/up``, mark it shipped, then seal it.

    Raises :class:`ShipError` when the deploy or the gate fails (the release stays
    assembled and nothing is sealed). Once shipped, returns normally whatever the seal does.
    """
    from smokeseal.outbox import deliver_quietly

    shipped = deploy_and_gate(config, ledger, release, say=say, deploy_output=deploy_output)
    seal, warnings = seal_after_ship(config, ledger, shipped, use_browser=use_browser,
                                     on_result=on_result)
    return ShipResult(shipped, seal, warnings + deliver_quietly(config, ledger))


def deploy_and_gate(config: Config, ledger: Ledger, release: Release, *, say: Say = _quiet,
                    deploy_output: int | None = None,
                    on_deploy_line: Callable[[str], None] | None = None,
                    waiting: Waiting = _no_show) -> Release:
    """The half of ``ship`` that decides it: deploy, gate, mark shipped. What it says (and
    a failure's message) holds no secret of the config: a gate path may carry a token."""
    from smokeseal.secrets import scrub, secrets_of

    secrets = secrets_of(config)

    def told(text: str) -> None:
        say(scrub(text, secrets))

    app = config.app(release.app)
    try:
        if app.deploy:
            # As written: a ${VAR} in the deploy line may be a secret.
            told(f"deploying {release.ref} ({release.short_sha}): {app.deploy_as_written}")
            started = time.monotonic()
            with waiting(f"deploying {release.ref}"):
                deploy(app, release, cwd=str(config.base_dir), output=deploy_output,
                       on_line=on_deploy_line)
            told(f"deployed in {time.monotonic() - started:.1f} s")
        else:
            told("no deploy command configured; gating on what is live")
        # With app.version, the gate also waits for the release's build to be the one
        # answering.
        gate_url = scrub(join_url(app.url, app.gate.path), secrets)
        with waiting(f"gate: waiting for {gate_url} to answer 200"):
            wait_for_gate(app.url, app.gate, version=app.version, sha=release.sha,
                          app_urls=app.aliases, say=told, access=access_for(app, app.url),
                          ca_file=str(config.ca_path) if config.ca_path else None)
    except ShipError as exc:
        raise ShipError(scrub(str(exc), secrets)) from None
    from smokeseal.outbox import deliver_quietly, messages_for_ship

    shipped = ledger.mark_shipped(release.id, messages_for_ship(config))
    for warning in deliver_quietly(config, ledger):  # the release notes, before the seal
        told(f"warning: {warning}")
    told(f"shipped {shipped.ref}; sealing against {app.url}")
    return shipped


def deploy(app: App, release: Release, *, cwd: str, output: int | None = None,
           on_line: Callable[[str], None] | None = None) -> None:
    """Run the app's deploy command through the shell, output streamed, under a time limit.

    Its output goes to ``output`` (a file descriptor), or line by line to ``on_line``. Its
    environment is smokeseal's without start-up trims (see :mod:`smokeseal.childenv`): the
    operator's own deploy keeps the credentials it may need. Messages show the line as
    written, ``${VAR}``s unsubstituted.
    """
    assert app.deploy is not None
    from smokeseal.childenv import child_environ

    shown = app.deploy_as_written
    env = {**child_environ(own_secrets=True), "SMOKESEAL_APP": release.app,
           "SMOKESEAL_VERSION": release.version, "SMOKESEAL_SHA": release.sha,
           "SMOKESEAL_RELEASE_ID": str(release.id), "SMOKESEAL_URL": app.url}
    try:
        # The deploy command is the operator's own line from the config; a shell lets it
        # chain steps the way it would in a terminal.
        stdout = subprocess.PIPE if on_line is not None else output
        process = subprocess.Popen(["/bin/sh", "-c", app.deploy], cwd=cwd, env=env,
                                   stdin=subprocess.DEVNULL, stdout=stdout,
                                   stderr=subprocess.STDOUT if stdout is not None else None,
                                   start_new_session=True)
    except OSError as exc:
        raise ShipError(f"deploy: could not start {shown!r}: {exc.strerror or exc}") from None
    reader = _forward_lines(process, on_line) if on_line is not None else None
    try:
        code = process.wait(timeout=app.deploy_timeout)
        if reader is not None:
            reader.join(timeout=5)  # the last lines, written just before it exited
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise ShipError(f"deploy: {shown!r} did not finish within "
                        f"{app.deploy_timeout:g} s and was stopped") from None
    except KeyboardInterrupt:
        _kill_group(process)
        raise
    if code == 127:
        raise ShipError(f"deploy: {shown!r} exited 127 (command not found)")
    if code == 126:
        raise ShipError(f"deploy: {shown!r} exited 126 (not executable)")
    if code != 0:
        raise ShipError(f"deploy: {shown!r} failed with exit status {code}")


def _forward_lines(process: subprocess.Popen[bytes],
                   on_line: Callable[[str], None]) -> threading.Thread:
    def forward() -> None:
        assert process.stdout is not None
        with process.stdout:
            for raw in process.stdout:
                on_line(raw.decode("utf-8", "replace").rstrip("\r\n"))

    thread = threading.Thread(target=forward, name="deploy-output", daemon=True)
    thread.start()
    return thread


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


#: The longest one poll of the gate may take, the whole exchange with every redirect and body.
GATE_POLL_LIMIT = 10.0
#: The least time a poll gets, even the last one just before the gate's deadline.
_GATE_POLL_FLOOR = 0.5


def wait_for_gate(base_url: str, gate: Gate, *, version: VersionSource | None = None,
                  sha: str | None = None, app_urls: Sequence[str] = (), say: Say = _quiet,
                  clock: Callable[[], float] = time.monotonic, access: Access | None = None,
                  ca_file: str | None = None) -> Revision | None:
    """Poll ``gate.path`` every ``interval`` until it answers 200, or fail after ``timeout``.

    With ``version`` and ``sha``, also wait until production serves ``sha``: a rolling
    deploy is not done while the old build answers. Past ``timeout``, a gate that never
    answered 200 raises :class:`ShipError`; one that did, while another revision (or none
    that can be read) is live, returns: the release has shipped, and its seal's version
    check will say what production serves. Returns the last revision read (None without
    ``version`` and ``sha``). Both ``/up`` and the version endpoint may redirect only on
    ``base_url`` and ``app_urls`` (the aliases): a 200 from anywhere else is not the app's.
    Each poll of ``/up`` runs under one deadline, at most the time the gate has left (and
    :data:`GATE_POLL_LIMIT`), so a server that trickles cannot hold it. Raises nothing but
    :class:`ShipError`: whatever else goes wrong is a poll that did not pass. ``access``
    (the app's headers, cookies, basic auth) goes with every request to the app's origins.
    """
    from smokeseal.checks.version import (
        Revision,
        read_revision_sync,
        same_revision,
        shown,
        what_is_live,
    )

    url = join_url(base_url, gate.path)
    on_app = (base_url, *app_urls)
    build = (version, sha) if version is not None and sha is not None else None
    deadline = clock() + gate.timeout
    left = gate.timeout
    attempts = 0
    revision: Revision | None = None  # read only once /up has answered 200
    last = reported = "no answer"
    live = f" and {shown(build[1])} to be live" if build else ""
    say(f"gate: waiting for {url} to answer 200{live} (up to {gate.timeout:g} s)")
    while True:
        attempts += 1
        up, last = _poll_up(url, on_app, min(GATE_POLL_LIMIT, max(left, _GATE_POLL_FLOOR)),
                            access, ca_file)
        tries = f"after {attempts} attempt{'s' * (attempts > 1)}"
        if up and build is None:
            say(f"gate: {url} answered 200 {tries}")
            return None
        if up and build is not None:
            # Each read is bounded by version.timeout. An unreadable version is waited
            # out like an old one (the first release to add /version meets the old
            # build's 404), and never for longer than the gate's timeout.
            try:
                revision = read_revision_sync(build[0], base_url, app_urls=app_urls,
                                              access=access, ca_file=ca_file)
            except Exception as exc:  # the gate raises nothing but ShipError
                revision = Revision(None, f"revision unreadable: {_why(exc)}")
            if revision.value is not None and same_revision(revision.value, build[1]):
                say(f"gate: {url} answered 200 and {shown(revision.value)} is live {tries}")
                return revision
            last = f"200, but {what_is_live(revision, build[1])}"
        remaining = deadline - clock()
        if remaining <= 0:
            if revision is None or build is None:
                raise ShipError(f"gate: {url} did not answer 200 within {gate.timeout:g} s "
                                f"({attempts} attempts, last: {last})")
            # /up answered 200: as before, that ships; the seal tells the rest.
            now = "answers 200" if up else f"answered 200 earlier (now {last})"
            say(f"gate: {gate.path} {now} but {what_is_live(revision, build[1])}; "
                "shipping, the seal will say so")
            return revision
        # A two-minute wait should read as a few lines, not sixty.
        if last != reported or attempts % 10 == 0:
            say(f"gate: attempt {attempts}: {last}; retrying every {gate.interval:g} s")
            reported = last
        time.sleep(min(gate.interval, remaining))
        left = deadline - clock()


def _poll_up(url: str, app_urls: Sequence[str], timeout: float, access: Access | None,
             ca_file: str | None) -> tuple[bool, str]:
    """One poll of the gate, with a client of its own: see :func:`poll_gate`."""
    import asyncio

    from smokeseal.checks.http import read_only_client

    async def once() -> GateAnswer:
        async with read_only_client(ca_file) as client:
            return await poll_gate(client, url, app_urls, timeout, access)

    try:
        answer = asyncio.run(once())
    except Exception as exc:  # the gate raises nothing but ShipError
        return False, f"unexpected error: {_why(exc)}"
    return answer.up, answer.said


@dataclass(frozen=True)
class GateAnswer:
    """One poll of the gate: whether it passed, and what it said (``status 404``,
    ``redirected off the app to …``, why there was no answer)."""

    up: bool
    said: str
    status: int | None = None
    #: Where its redirect would have left the app's hosts, when it did.
    left_to: str | None = None


async def poll_gate(client: Any, url: str, app_urls: Sequence[str], timeout: float,
                    access: Access | None) -> GateAnswer:
    """One poll of the gate, as ``ship`` polls it and ``doctor`` tries it: a GET of ``url``
    whose redirects are followed only on ``app_urls``, passing on 200 alone. The whole
    exchange (every redirect, every body, capped) runs under ``timeout``. Raises nothing.
    ``client`` is a :func:`~smokeseal.checks.http.read_only_client`."""
    import asyncio

    import httpx

    from smokeseal.checks.http import (
        WalkStopped,
        WriteRefused,
        describe_http_error,
        walk_on_app,
    )

    try:
        async with asyncio.timeout(timeout):
            walk = await walk_on_app(client, "GET", url, app_urls=app_urls, timeout=timeout,
                                     access=access)
    except TimeoutError:
        return GateAnswer(False, f"no complete answer within {round(timeout, 1):g} s")
    except (WalkStopped, WriteRefused) as exc:
        return GateAnswer(False, str(exc))
    except httpx.HTTPError as exc:
        return GateAnswer(False, describe_http_error(exc, url))
    except Exception as exc:  # the gate raises nothing but ShipError
        return GateAnswer(False, f"unexpected error: {_why(exc)}")
    if walk.left_to is not None:
        from smokeseal.checks.base import leave_fix

        fix = leave_fix(walk.urls[-1], walk.left_to, app_urls)
        return GateAnswer(False, f"redirected off the app to {walk.left_to}"
                          + (f"; {fix}" if fix else ""), left_to=walk.left_to)
    status = walk.response.status_code
    return GateAnswer(status == 200, f"status {status}", status)


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def seal_release(config: Config, ledger: Ledger, release: Release, *, use_browser: bool = True,
                 on_result: Callable[[CheckResult], None] | None = None) -> tuple[Seal, Release]:
    """Run the app's suite, build the seal, and record it. Raises on a ledger failure."""
    from smokeseal.runner import run_app

    if release.state != "shipped":
        raise UsageError(f"release {release.id} ({release.ref}) is {release.state}, not "
                         "shipped; only a shipped release can be sealed")
    config.app(release.app)  # an app gone from the config is a usage error, not a red seal
    # The release's sha: where the app says how to read its revision, the seal checks that
    # production serves this build, not an older one still answering.
    sha = release.sha if config.app(release.app).version is not None else None
    from smokeseal.secrets import secrets_of

    run = run_app(config, release.app, use_browser=use_browser, on_result=on_result,
                  expected_sha=sha)
    comparison: dict[str, Any] | None = None
    unread: str | None = None
    try:
        comparison = compared(config, ledger, release, run)
    except LedgerError as exc:
        # The comparison is the seal's extra, never its cost: the seal is still recorded
        # (a ledger that cannot be read will say so again there), and budgets on what was
        # measured still apply (apply_budgets leaves a check it failed already alone).
        apply_budgets(run.results, config.budgets_for(release.app), None)
        unread = f"could not compare with the last green seals: {exc}"
    seal = seal_from_run(run, expected_sha=sha, secrets=secrets_of(config))
    if unread is None:
        seal.comparison = comparison
    else:
        seal.warnings.append(scrub(unread, secrets_of(config)))
    if phrase := regressions_phrase(comparison):
        seal.summary = scrub(clean_text(f"{seal.summary}; {phrase}"), secrets_of(config))
    return _record(config, ledger, release, seal)


def compared(config: Config, ledger: Ledger, release: Release,
             run: RunResult) -> dict[str, Any] | None:
    """``run`` compared with the app's last green seals on the URL it ran against, with
    the commits since the last green release; its budgets applied to its results (a check
    over one fails)."""
    settings = config.compare_for(release.app)
    budgets = config.budgets_for(release.app)
    greens = ledger.green_seals(release.app, run.base_url, settings.last)
    comparison = compare(run.results, [payload for _, payload in greens], settings, budgets,
                         [green.id for green, _ in greens])
    apply_budgets(run.results, budgets, comparison)
    if comparison is None:
        return None
    last_green = ledger.last_green(release.app, release.id)
    if last_green is None or last_green.sha == release.sha:
        return comparison
    comparison["since"] = {"id": last_green.id, "version": last_green.version,
                           "sha": last_green.short_sha}
    found = commits_between(config.base_dir, last_green.sha, release.sha)
    if found is not None:
        comparison["commits"], more = found
        if more:
            comparison["commits_more"] = more
    github = config.app(release.app).notify.github_release
    if github is not None:
        comparison["commits_url"] = compare_url(github.repo, github.api_url, last_green.sha,
                                                release.sha)
    return comparison


def _record(config: Config, ledger: Ledger, release: Release,
            seal: Seal) -> tuple[Seal, Release]:
    """The seal, its messages and the notes' seal section: one transaction."""
    from smokeseal.outbox import messages_for_seal, notes_with_seal

    if not seal.green:
        last_green = ledger.last_green(release.app, release.id)
        app = config.apps.get(release.app)
        seal.rollback = rollback_commands(
            app.rollback_as_written if app else None, app=release.app,
            branch=release.release_branch,
            release=ReleaseFacts(release.id, release.sha, release.version),
            last_green=(ReleaseFacts(last_green.id, last_green.sha, last_green.version)
                        if last_green else None),
            checkout=config.base_dir)
        if last_green is not None:
            seal.last_green = {"id": last_green.id, "version": last_green.version,
                               "sha": last_green.short_sha}
    # A later release shipped since: production ran something else, and runs this one
    # again (a rollback), so its next seal tells everything, as a first seal does.
    redeployed = ledger.shipped_after(release)

    def messages(before: Release) -> list[NewMessage]:
        # Against the seal the release showed until now: a re-seal alerts only on a change.
        try:
            shown = before.smoke_seal or {}
            previous = shown.get("status")
            # Strictly before, to the second checked_at keeps: a seal begun in the second
            # the other release shipped is taken as after it (a re-seal tells no more).
            if redeployed is not None and \
                    str(shown.get("checked_at")) < f"{redeployed:%Y-%m-%dT%H:%M:%SZ}":
                previous = None
            return messages_for_seal(config, before, seal, previous=previous)
        except Exception as exc:
            seal.warnings.append(f"could not prepare the seal's messages: {exc}")
            return []

    recorded, _ = ledger.record_seal(release.id, seal.to_dict(), messages=messages,
                                     notes=notes_with_seal(seal))
    return seal, recorded


def seal_after_ship(config: Config, ledger: Ledger, release: Release, *,
                    use_browser: bool = True,
                    on_result: Callable[[CheckResult], None] | None = None
                    ) -> tuple[Seal | None, list[str]]:
    """The seal step inside ``ship``: whatever fails here becomes a warning, never an error.

    Where the suite itself could not run (no browser, a spawn error), a red seal saying why
    is still recorded; where the ledger cannot be written, only the warning remains.
    """
    warnings: list[str] = []
    try:
        seal, _ = seal_release(config, ledger, release, use_browser=use_browser,
                               on_result=on_result)
        return seal, seal.warnings
    except Exception as exc:
        warnings.append(f"seal step failed: {exc}")
        failure = exc
    if isinstance(failure, LedgerError):
        return None, warnings
    try:
        url = config.app(release.app).url
        seal, _ = _record(config, ledger, release, failed_seal(url, str(failure)))
        return seal, warnings
    except Exception as exc:
        warnings.append(f"could not record a red seal either: {exc}")
        return None, warnings
