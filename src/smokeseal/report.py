"""Showing a run to people and to CI: the result table, live progress, JUnit XML."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from smokeseal.checks.base import CheckResult
from smokeseal.runner import RunResult
from smokeseal.seal import Seal

__all__ = ["Progress", "print_run", "terminal_safe", "write_junit"]

# Production text must not drive the operator's terminal (cursor moves, fake output).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]|\x1b\[[0-?]*[ -/]*[@-~]")


_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def terminal_safe(text: str) -> str:
    return _CONTROL.sub("", text)


def _xml(text: str) -> str:
    return _XML_INVALID.sub("", text)


def print_run(console: Console, app: str, run: RunResult, seal: Seal) -> None:
    console.print(Text.assemble(("prod-smoke ", "bold"), (app, "bold cyan"), " → ",
                                (run.base_url, "underline"), " (canonical URL)"))
    table = Table(box=None, show_header=True, header_style="dim", pad_edge=False)
    table.add_column("", width=1)
    table.add_column("check", style="bold", no_wrap=True)
    table.add_column("detail", overflow="fold")
    table.add_column("ms", justify="right", style="dim")
    for result in run.results:
        table.add_row(*_row(result))
    console.print(table)
    for result in run.results:
        if result.evidence:
            console.print(Text(f"  evidence for {terminal_safe(result.name)}: {result.evidence}",
                               style="dim"))
    colour = "green" if seal.green else "red"
    console.print(Text.assemble(f"{seal.emoji} ", (seal.status, f"bold {colour}"), " · ",
                                terminal_safe(seal.summary), (f" · {seal.duration_ms} ms", "dim")))
    if run.browser:
        console.print(Text(f"browser: {run.browser}", style="dim"))


def _row(result: CheckResult) -> tuple[Text, Text, Text, str]:
    if result.skipped:
        mark = Text("–", style="dim")
    elif result.ok:
        mark = Text("✓", style="green")
    else:
        mark = Text("✗", style="bold red")
    detail = terminal_safe(result.detail)
    if result.blocked_writes and not result.ok:
        detail += "\nblocked: " + ", ".join(terminal_safe(b) for b in result.blocked_writes[:5])
    return (mark, Text(terminal_safe(result.name)),
            Text(detail, style="red" if not result.ok else ""), str(result.duration_ms))


class Progress:
    """A one-line live count on a terminal; silent when output is not a terminal."""

    def __init__(self, console: Console, total: int, url: str) -> None:
        self._console = console
        self._total = total
        self._url = url
        self._done = 0
        self._failed = 0
        self._status = (console.status(self._text(), spinner="dots")
                        if console.is_terminal else None)

    def _text(self) -> str:
        failed = f", {self._failed} failed" if self._failed else ""
        return f"checking {self._url} … {self._done}/{self._total} done{failed}"

    def __enter__(self) -> Progress:
        if self._status is not None:
            self._status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)

    def __call__(self, result: CheckResult) -> None:
        self._done += 1
        self._failed += not result.ok
        if self._status is not None:
            self._status.update(self._text())


def write_junit(path: Path, suite_name: str, run: RunResult) -> None:
    """JUnit XML that CI systems (GitHub, GitLab, Jenkins) show as test results."""
    failures = len(run.failed)
    suite = ET.Element("testsuite", {
        "name": suite_name,
        "tests": str(len(run.results)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(sum(r.skipped for r in run.results)),
        "time": f"{run.duration_ms / 1000:.3f}",
        "timestamp": run.checked_at.strftime("%Y-%m-%dT%H:%M:%S"),
    })
    ET.SubElement(ET.SubElement(suite, "properties"), "property",
                  {"name": "base_url", "value": run.base_url})
    for result in run.results:
        case = ET.SubElement(suite, "testcase", {
            "name": _xml(result.name), "classname": f"{suite_name}.{result.kind}",
            "time": f"{result.duration_ms / 1000:.3f}",
        })
        if result.skipped:
            ET.SubElement(case, "skipped", {"message": _xml(result.detail)})
        elif not result.ok:
            detail = _xml(result.detail)
            failure = ET.SubElement(case, "failure", {"message": detail.splitlines()[0]})
            failure.text = detail + (f"\nevidence: {result.evidence}" if result.evidence else "")
    root = ET.Element("testsuites", {"name": "smokeseal", "tests": suite.get("tests", "0"),
                                     "failures": str(failures)})
    root.append(suite)
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
