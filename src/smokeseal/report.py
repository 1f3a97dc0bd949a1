"""Showing a run to people and to CI: the result table, live progress, JUnit XML."""

from __future__ import annotations

import re
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from smokeseal.checks.base import CheckResult
from smokeseal.runner import RunResult
from smokeseal.seal import CheckRecord, Seal

if TYPE_CHECKING:
    from smokeseal.ledger import Message, Release

__all__ = [
    "Progress",
    "Waiting",
    "checks_table",
    "print_fleet",
    "print_messages",
    "print_release",
    "print_releases",
    "print_rollback",
    "print_run",
    "print_seal",
    "terminal_safe",
    "write_junit",
]

# Production text must not drive the operator's terminal (cursor moves, fake output).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]|\x1b\[[0-?]*[ -/]*[@-~]")


_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def terminal_safe(text: str) -> str:
    return _CONTROL.sub("", text)


def _xml(text: str) -> str:
    return _XML_INVALID.sub("", text)


def print_run(console: Console, app: str, run: RunResult, seal: Seal) -> None:
    """``prod-smoke``'s output: the canonical URL, every check, the verdict."""
    print_seal(console, seal, Text.assemble(("prod-smoke ", "bold"), (app, "bold cyan"), " → ",
                                            (run.base_url, "underline"), " (canonical URL)"))
    if run.browser:
        console.print(Text(f"browser: {run.browser}", style="dim"))


def print_seal(console: Console, seal: Seal, title: Text) -> None:
    """Every check of ``seal``, its verdict, and on red the rollback commands."""
    console.print(title)
    console.print(checks_table(seal.checks))
    for check in seal.checks:
        if check.evidence:
            console.print(Text(f"  evidence for {terminal_safe(check.name)}: "
                               f"{check.evidence}", style="dim"))
    if seal.revision:
        expected = f" (release {seal.expected_sha[:7]})" if seal.expected_sha else ""
        console.print(Text(f"revision served: {terminal_safe(seal.revision)}{expected}",
                           style="dim"))
    if seal.green and (line := guard_line(seal.checks)):
        console.print(Text(line, style="yellow"))
    for note in seal.notes:
        console.print(Text(f"⚠ {terminal_safe(note)}", style="yellow"))
    print_comparison(console, seal.comparison)
    colour = "green" if seal.green else "red"
    console.print(Text.assemble(f"{seal.emoji} ", (seal.status, f"bold {colour}"), " · ",
                                terminal_safe(seal.summary), (f" · {seal.duration_ms} ms", "dim")))
    print_rollback(console, seal)


def print_comparison(console: Console, comparison: dict[str, Any] | None) -> None:
    """What changed since the last green: each regression, each new console error, and how
    many commits there were since (their subjects are on the board)."""
    from smokeseal.compare import regression_line

    if not comparison:
        return
    for regression in comparison.get("regressions") or []:
        console.print(Text(f"📉 {terminal_safe(regression_line(regression))}", style="yellow"))
    for error in (comparison.get("new_console_errors") or [])[:5]:
        console.print(Text(f"new console error in {terminal_safe(error['check'])}: "
                           f"{terminal_safe(error['message'])}", style="yellow"))
    commits = len(comparison.get("commits") or []) + int(comparison.get("commits_more") or 0)
    if since := comparison.get("since"):
        console.print(Text(f"{commits} commit{'s' * (commits != 1)} since the last green, "
                           f"{terminal_safe(str(since.get('version')))}", style="dim"))


def guard_line(checks: list[CheckRecord]) -> str | None:
    """One line on a green run whose pages the read-only guard refused requests: a config
    that lets a page's data through nowhere would be green on an empty frame, so what was
    refused is said even when it failed nothing."""
    pages = [check for check in checks if check.blocked_writes]
    if not pages:
        return None
    count = sum(len(check.blocked_writes) for check in pages)
    first = terminal_safe(pages[0].blocked_writes[0])
    return (f"the read-only guard refused {count} request{'s' * (count > 1)} on "
            f"{len(pages)} page{'s' * (len(pages) > 1)} ({first}{', …' if count > 1 else ''}):"
            " none was a data channel the page needed; if one is a read, declare it under "
            "reads:")


_MARKS = {"passed": ("✓", "green"), "flaky": ("✓", "yellow"), "failed": ("✗", "bold red"),
          "skipped": ("–", "yellow")}


def checks_table(checks: list[CheckRecord]) -> Table:
    table = Table(box=None, show_header=True, header_style="dim", pad_edge=False)
    table.add_column("", width=1)
    table.add_column("check", style="bold", no_wrap=True)
    table.add_column("detail", overflow="fold")
    table.add_column("ms", justify="right", style="dim")
    for check in checks:
        mark, style = _MARKS[check.outcome]
        detail = terminal_safe(check.detail)
        if check.flaky:
            first = terminal_safe(check.first_failure or "")
            detail += f"\nflaky: failed on the first try: {first}"
        if check.skipped:
            detail += "\nnot verified"
        if check.blocked_writes and not check.ok:
            detail += "\nblocked: " + ", ".join(terminal_safe(b)
                                                for b in check.blocked_writes[:5])
        # Always shown: what passed the read-only guard is part of what the seal vouches for.
        if line := check.reads_line:
            detail += "\n" + terminal_safe(line)
        for note in check.notes[:5]:
            detail += "\n" + terminal_safe(note)
        table.add_row(Text(mark, style=style), Text(terminal_safe(check.name)),
                      Text(detail, style={"failed": "red", "flaky": "yellow",
                                          "skipped": "yellow"}.get(check.outcome, "")),
                      "" if check.duration_ms is None else str(check.duration_ms))
    return table


class Progress:
    """A one-line live count on a terminal; silent when output is not a terminal."""

    def __init__(self, console: Console, total: int, url: str, unit: str = "") -> None:
        self._console = console
        self._total = total
        self._url = url
        self._unit = f" {unit}" if unit else ""
        self._done = 0
        self._failed = 0
        self._status = (console.status(self._text(), spinner="dots")
                        if console.is_terminal else None)

    def _text(self) -> str:
        failed = f", {self._failed} failed" if self._failed else ""
        return (f"checking {self._url} … {self._done}/{self._total}{self._unit} done"
                f"{failed}")

    def __enter__(self) -> Progress:
        if self._status is not None:
            self._status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)

    def __call__(self, result: CheckResult) -> None:
        self.count(result.outcome != "failed")

    def count(self, ok: bool) -> None:
        self._done += 1
        self._failed += not ok
        if self._status is not None:
            self._status.update(self._text())


class Waiting:
    """Something slow is going on: a spinner with the time so far on a terminal; elsewhere
    (CI logs), a line every ``heartbeat`` seconds so a silent wait never looks hung."""

    def __init__(self, console: Console, text: str, heartbeat: float = 30.0) -> None:
        self._console = console
        self._text = text
        self._heartbeat = heartbeat
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = (console.status(text, spinner="dots") if console.is_terminal else None)

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self._started:.0f} s"

    def _tick(self) -> None:
        period = 0.5 if self._status is not None else self._heartbeat
        while not self._stop.wait(period):
            if self._status is not None:
                self._status.update(f"{self._text} · {self._elapsed()}")
            else:
                self._console.print(Text(f"… still {self._text} ({self._elapsed()})",
                                         style="dim"), soft_wrap=True)

    def __enter__(self) -> Waiting:
        self._started = time.monotonic()
        if self._status is not None:
            self._status.__enter__()
        self._thread = threading.Thread(target=self._tick, name="waiting", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._status is not None:
            self._status.__exit__(None, None, None)


def write_junit(path: Path, suites: list[tuple[str, Seal]]) -> None:
    """JUnit XML that CI systems (GitHub, GitLab, Jenkins) show as test results: one
    testsuite per app."""
    root = ET.Element("testsuites", {"name": "smokeseal"})
    total = failed = 0
    for suite_name, seal in suites:
        suite = _junit_suite(suite_name, seal)
        total += int(suite.get("tests", "0"))
        failed += int(suite.get("failures", "0"))
        root.append(suite)
    root.set("tests", str(total))
    root.set("failures", str(failed))
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def _junit_suite(suite_name: str, seal: Seal) -> ET.Element:
    checks = seal.checks
    suite = ET.Element("testsuite", {
        "name": suite_name,
        "tests": str(len(checks)),
        "failures": str(sum(c.outcome == "failed" for c in checks)),
        "errors": "0",
        "skipped": str(sum(c.outcome == "skipped" for c in checks)),
        "time": f"{seal.duration_ms / 1000:.3f}",
        "timestamp": seal.checked_at.removesuffix("Z"),
    })
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", {"name": "base_url", "value": seal.base_url})
    if seal.revision:
        ET.SubElement(properties, "property", {"name": "revision", "value": _xml(seal.revision)})
    for check in checks:
        case = ET.SubElement(suite, "testcase", {
            "name": _xml(check.name),
            "classname": f"{suite_name}.{check.kind}",
            "time": f"{(check.duration_ms or 0) / 1000:.3f}",
        })
        detail = _xml(check.detail)
        if check.outcome == "skipped":
            ET.SubElement(case, "skipped", {"message": detail})
        elif check.outcome == "failed":
            failure = ET.SubElement(case, "failure",
                                    {"message": (detail.splitlines() or [""])[0]})
            failure.text = detail + (f"\nevidence: {check.evidence}" if check.evidence else "")
        elif check.outcome == "flaky":
            # Surefire's rerun format, which CI test reports show as a flaky pass.
            first = _xml(check.first_failure or "")
            flaky = ET.SubElement(case, "flakyFailure", {"message": first})
            flaky.text = first
        if output := _guard_lines(check):
            ET.SubElement(case, "system-out").text = _xml("\n".join(output))
    return suite


def _guard_lines(check: CheckRecord) -> list[str]:
    """What the read-only guard let through and blocked on a check, for its test report."""
    lines = [line] if (line := check.reads_line) else []
    lines += [f"blocked write: {attempt}" for attempt in check.blocked_writes]
    return lines


def print_fleet(console: Console, seals: dict[str, Seal], seconds: float) -> None:
    """One line per app (its failures under it), then the fleet's verdict and pace."""
    for name, seal in seals.items():
        colour = "green" if seal.green else "red"
        console.print(Text.assemble(f"{seal.emoji} ", (name, f"bold {colour}"), " → ",
                                    (seal.base_url, "underline"), " · ",
                                    terminal_safe(seal.summary.split("; ")[0]),
                                    (f" · {seal.duration_ms} ms", "dim")), soft_wrap=True)
        for note in seal.notes:
            console.print(Text(f"    ⚠ {terminal_safe(note)}", style="yellow"), soft_wrap=True)
        for check in seal.checks:
            if check.outcome != "passed":
                mark, style = _MARKS[check.outcome]
                detail = (f"flaky, {check.first_failure} on the first try" if check.flaky
                          else check.detail)
                console.print(Text(f"    {mark} {terminal_safe(check.name)}: "
                                   f"{terminal_safe(detail)}", style=style), soft_wrap=True)
    green = sum(seal.green for seal in seals.values())
    pace = len(seals) / seconds * 60 if seconds > 0 else 0.0
    console.print(Text.assemble(
        (f"{green}/{len(seals)} apps green", "bold green" if green == len(seals)
         else "bold red"), f" · {seconds:.1f} s · {pace:.0f} apps/min"))


def print_rollback(console: Console, seal: Seal) -> None:
    """On red: the commands the operator may choose to run. smokeseal runs none of them."""
    if seal.green or not seal.rollback:
        return
    console.print(Text("Rollback, if you decide to (smokeseal runs none of these):",
                       style="bold red"))
    for command in seal.rollback:
        console.print(Text(f"  {command}"))
    if seal.last_green:
        last = seal.last_green
        console.print(Text(f"  last green release: {last['version']} (id {last['id']}, "
                           f"sha {last['sha']})", style="dim"))


def _badge(release: Release) -> Text:
    status = release.seal_status
    if status == "green":
        return Text("🟢 green", style="green")
    if status == "red":
        return Text("🔴 red", style="bold red")
    if release.state == "shipped":
        return Text("… pending", style="yellow")
    return Text("–", style="dim")


def print_releases(console: Console, releases: list[Release]) -> None:
    if not releases:
        console.print(Text("no releases in the ledger", style="dim"))
        return
    table = Table(box=None, header_style="dim", pad_edge=False)
    for column in ("id", "app", "version", "sha", "state", "seal", "summary"):
        table.add_column(column, overflow="fold")
    for release in releases:
        summary = terminal_safe((release.smoke_seal or {}).get("summary", ""))
        table.add_row(str(release.id), terminal_safe(release.app),
                      terminal_safe(release.version), release.short_sha, release.state,
                      _badge(release), Text(summary))
    console.print(table)


def print_release(console: Console, release: Release, history: list[dict[str, object]],
                  older: int = 0) -> None:
    """``history``: the latest seal runs; ``older``: how many earlier ones it leaves out."""
    console.print(Text.assemble(("release ", "bold"), (str(release.id), "bold cyan"), " · ",
                                (terminal_safe(release.ref), "bold"), f" · {release.sha}"))
    when = {"created": release.created_at, "shipped": release.shipped_at,
            "abandoned": release.abandoned_at}
    console.print(Text(f"state: {release.state} · branch {terminal_safe(release.release_branch)}"
                       " · " + " · ".join(f"{k} {v:%Y-%m-%d %H:%M:%SZ}"
                                          for k, v in when.items() if v)))
    seal = release.smoke_seal
    if seal is None:
        console.print(Text.assemble("seal: ", _badge(release)))
    else:
        console.print(Text.assemble("seal: ", _badge(release), " · ",
                                    terminal_safe(str(seal.get("summary", ""))),
                                    f" · {seal.get('checked_at')} against "
                                    f"{seal.get('base_url')}"))
        console.print(checks_table(Seal.from_dict(seal).checks))
        for command in seal.get("rollback", []):
            console.print(Text(f"  rollback: {command}", style="red"))
    if len(history) + older > 1:
        console.print(Text(f"{len(history) + older} seal runs in the history; latest shown",
                           style="dim"))
    if release.notes:
        console.print(Text("notes:", style="bold"))
        console.print(Text(terminal_safe(release.notes)))


def print_messages(console: Console, messages: list[Message]) -> None:
    if not messages:
        console.print(Text("outbox is empty: every message was delivered", style="dim"))
        return
    table = Table(box=None, header_style="dim", pad_edge=False)
    for column in ("id", "release", "sink", "kind", "status", "tries", "last error"):
        table.add_column(column, overflow="fold")
    for m in messages:
        table.add_row(str(m.id), str(m.release_id), m.sink, m.kind,
                      Text(m.status, style="yellow" if m.status == "pending" else "red"),
                      str(m.attempts), terminal_safe(m.last_error or ""))
    console.print(table)
