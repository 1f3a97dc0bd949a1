"""JUnit XML, as test runners write it (Playwright Test, pytest, Maven Surefire, …): one
:class:`~smokeseal.checks.base.CheckResult` per ``<testcase>``.

Read in pieces, so a results file of any size is fine; badly encoded files get a second,
lenient read. Surefire's rerun format is understood: ``<flakyFailure>`` alone is a pass on a
retry (``flaky``), ``<rerunFailure>`` with a final ``<failure>`` a failure. What cannot be read
raises :class:`JUnitError` saying why; the caller decides that nothing was verified.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import cast

from smokeseal.checks.base import CheckResult, shorten

__all__ = ["JUNIT_LENIENT_LIMIT", "JUnitError", "parse_junit", "read_junit_file"]

#: Up to this size, a file that is not valid UTF-8 XML gets a second, lenient read.
JUNIT_LENIENT_LIMIT = 64 * 1024 * 1024
_CHUNK = 1024 * 1024

class JUnitError(ValueError):
    """A JUnit document that cannot be read; the text says which and why."""


def read_junit_file(path: Path, prefix: str) -> list[CheckResult]:
    """The testcases of the JUnit file at ``path``, read in pieces (any size).

    Raises :class:`JUnitError` saying whether the file is missing, unreadable or not JUnit.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            try:
                return _parse(iter(lambda: handle.read(_CHUNK), b""), prefix)
            except JUnitError as exc:
                problem = str(exc)
            if size > JUNIT_LENIENT_LIMIT:
                raise JUnitError(f"JUnit file {path} is not valid JUnit XML: {problem}")
            handle.seek(0)
            data = handle.read()
    except FileNotFoundError:
        raise JUnitError(f"no JUnit file at {path}") from None
    except OSError as exc:  # a folder in its place, no permission
        raise JUnitError(f"cannot read the JUnit file {path}: {exc.strerror or exc}") from None
    try:
        return _parse([_lenient(data)], prefix)
    except JUnitError:
        raise JUnitError(f"JUnit file {path} is not valid JUnit XML: {problem}") from None


def parse_junit(document: bytes | str, prefix: str, source: str = "JUnit on stdout"
                ) -> list[CheckResult]:
    """Turn a JUnit document into one result per ``<testcase>``, named ``prefix › case``.

    Raises :class:`JUnitError` (naming ``source``) when it is not a JUnit document or not XML
    at all, even after a lenient second read (bytes invalid in its encoding, control
    characters).
    """
    data = document.encode("utf-8") if isinstance(document, str) else document
    try:
        return _parse([data], prefix)
    except JUnitError as exc:
        problem = str(exc)
    try:
        return _parse([_lenient(data)], prefix)
    except JUnitError:
        raise JUnitError(f"{source} is not valid JUnit XML: {problem}") from None


_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_NOT_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


def _lenient(data: bytes) -> str:
    """The document as text XML can hold: decoded as declared (bad bytes replaced), without
    the declaration, and without the control characters (ANSI colours) that XML forbids."""
    declared = _DECLARED.match(data[:200])
    encoding = declared.group(1).decode("ascii") if declared else "utf-8"
    try:
        text = data.decode(encoding, errors="replace")
    except LookupError:
        text = data.decode("utf-8", errors="replace")
    return _NOT_XML_CHARS.sub("", _DECLARATION.sub("", text, count=1))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse(chunks: Iterable[bytes | str], prefix: str) -> list[CheckResult]:
    """Parse piece by piece, letting go of each testcase once read, so size is no limit."""
    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start", "end"))
    open_elements: list[ET.Element] = []
    cases: list[tuple[str, CheckResult]] = []
    try:
        for chunk in chunks:
            parser.feed(chunk)
            _take(parser, open_elements, cases, prefix)
        parser.close()
        _take(parser, open_elements, cases, prefix)
    except JUnitError:
        raise
    except ET.ParseError as exc:
        raise JUnitError(str(exc)) from None
    except (ValueError, LookupError) as exc:  # an encoding expat cannot read
        raise JUnitError(f"unreadable encoding: {exc}") from None
    return _unique_names(cases)


def _take(parser: ET.XMLPullParser[ET.Element], open_elements: list[ET.Element],
          cases: list[tuple[str, CheckResult]], prefix: str) -> None:
    for item in parser.read_events():
        # Only "start" and "end" were asked for: each is (event, element).
        event, element = cast(tuple[str, ET.Element], item)
        tag = _local(element.tag)
        if event == "start":
            if not open_elements and tag not in ("testsuites", "testsuite"):
                raise JUnitError(f"the document is <{tag}>, not <testsuites> or <testsuite>")
            open_elements.append(element)
            continue
        open_elements.pop()
        parent = _local(open_elements[-1].tag) if open_elements else None
        if tag == "testcase":
            cases.append((element.get("classname") or "", _case(element, prefix)))
        elif tag in ("failure", "error") and parent == "testsuite":
            # A suite-level error (a setup that failed before any test ran).
            suite = open_elements[-1].get("name") or "suite"
            cases.append(("", CheckResult(f"{prefix} › {suite}", "command", False,
                                          f"suite {tag}: {_message(element)}", 0)))
        elif tag not in ("system-out", "system-err", "properties"):
            continue
        if open_elements:
            open_elements[-1].remove(element)  # read: let it go


def _case(case: ET.Element, prefix: str) -> CheckResult:
    """One testcase, Surefire's rerun format included: ``flakyFailure``/``flakyError`` (failed,
    then passed on a rerun) and ``rerunFailure``/``rerunError`` (failed on every rerun)."""
    name = f"{prefix} › {case.get('name') or 'unnamed test'}"
    ms = _duration_ms(case.get("time"))
    found: dict[str, list[ET.Element]] = {}
    for child in case:
        found.setdefault(_local(child.tag), []).append(child)
    finals = found.get("failure", []) + found.get("error", [])
    final = finals[0] if finals else None
    reruns = found.get("rerunFailure", []) + found.get("rerunError", [])
    flaky = found.get("flakyFailure", []) + found.get("flakyError", [])
    if final is not None:
        tries = f" (failed all {len(reruns) + 1} tries)" if reruns else ""
        return CheckResult(name, "command", False, shorten(_failure(final), 300) + tries, ms,
                           attempts=len(reruns) + 1)
    if reruns:
        # Surefire writes reruns only beside the final failure: without one, no run is
        # recorded as passing, so this is not a pass.
        return CheckResult(name, "command", False, "failed on rerun, and no passing run is "
                           f"recorded: {shorten(_message(reruns[0]), 300)}", ms,
                           attempts=len(reruns) + 1)
    if "skipped" in found:
        why = _message(found["skipped"][0], fallback="")
        return CheckResult(name, "command", False, "skipped: not verified"
                           + (f" ({shorten(why, 200)})" if why else ""), ms, skipped=True)
    if flaky:
        return CheckResult(name, "command", True, f"passed on a rerun after {len(flaky)} "
                           f"failed tr{'ies' if len(flaky) > 1 else 'y'}", ms,
                           first_failure=shorten(_message(flaky[0]), 300),
                           attempts=len(flaky) + 1)
    return CheckResult(name, "command", True, "passed", ms)


def _failure(element: ET.Element) -> str:
    """The message, and the Expected/Received lines of the report when the message is only
    the matcher's name (Playwright and Jest: "expect(received).toBe(expected)")."""
    message = _message(element)
    shown = [line.strip() for line in (element.text or "").splitlines()
             if line.strip().startswith(("Expected:", "Received:"))][:2]
    return "; ".join([message, *(line for line in shown if line not in message)])


def _message(element: ET.Element, fallback: str | None = None) -> str:
    """A failure's message attribute, else the first line of its stack trace or text."""
    if message := (element.get("message") or "").strip():
        return message
    trace = next((child.text for child in element if _local(child.tag) == "stackTrace"), None)
    for text in (trace, element.text):
        lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
        if lines:
            return lines[0]
    if fallback is not None:
        return fallback
    return element.get("type") or _local(element.tag)


_GROUPED = re.compile(r"\d{1,3}(,\d{3})+(\.\d*)?")
_DECIMAL_COMMA = re.compile(r"\d+,\d+")
_MAX_MS = 10**9


def _duration_ms(value: str | None) -> int:
    """A testcase's ``time`` (seconds) in ms; 0 when unreadable: it is shown, never judged.

    Surefire writes thousands separators (``1,234.5``, its SUREFIRE_TIME type); some locales
    write a decimal comma (``0,25``).
    """
    text = (value or "").strip()
    if _GROUPED.fullmatch(text):
        text = text.replace(",", "")
    elif _DECIMAL_COMMA.fullmatch(text):
        text = text.replace(",", ".")
    try:
        seconds = float(text)
    except ValueError:
        return 0
    if not math.isfinite(seconds) or seconds < 0:
        return 0
    return min(round(seconds * 1000), _MAX_MS)


def _unique_names(cases: list[tuple[str, CheckResult]]) -> list[CheckResult]:
    """Testcases of the same name in different classes (files) are told apart by class."""
    seen: dict[str, int] = {}
    for _, result in cases:
        seen[result.name] = seen.get(result.name, 0) + 1
    for classname, result in cases:
        if seen[result.name] > 1 and classname:
            head, _, tail = result.name.partition(" › ")
            result.name = f"{head} › {classname} › {tail}"
    return [result for _, result in cases]
