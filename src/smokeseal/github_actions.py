"""GitHub Actions: a job summary in Markdown and workflow-command annotations, from a seal.

Pure functions from the seal record to text; the CLI decides when they are written and where
(``$GITHUB_STEP_SUMMARY``, stdout). Everything a seal holds that production wrote (details,
titles, notes, command output) is neutralised on the way:

* **Markdown and HTML.** GitHub renders a job summary as Markdown with HTML: production's
  ``<img onerror=…>`` or a stray ``|`` must stay text. HTML's ``& < > "`` become entities,
  Markdown's inline punctuation is escaped with a backslash, line breaks are ours
  (``<br>`` in a cell), and long texts are cut. Rollback commands go in a code block whose
  fence is longer than any run of backticks inside it.
* **Workflow commands.** The runner acts on any line that starts, after spaces, with
  ``::command`` (and on ``##[command]`` anywhere in a line). An annotation's text is escaped
  by GitHub's rules, so it stays on its one line; and :func:`stop_commands` brackets output
  that shows production's text as it is (the result table), so a ``::add-mask::`` or
  ``::set-output`` inside it is printed, never obeyed.

Secrets were taken out when the seal was made (:mod:`smokeseal.secrets`); nothing here
reads anything but the seal, so ``***`` stays ``***``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smokeseal.seal import CheckRecord, Seal

__all__ = [
    "MAX_ROWS",
    "Subject",
    "annotation_lines",
    "escape_data",
    "escape_property",
    "json_safe",
    "markdown_text",
    "resume_commands",
    "stop_commands",
    "stop_token",
    "summary_markdown",
]

#: Checks listed in a summary's table; past it, the passed ones are left out first.
MAX_ROWS = 200
#: Bytes all of one step's summaries may take: GitHub drops a step summary over 1 MiB
#: whole, so the table stops short of it (``--all`` shares it between the apps).
SUMMARY_BYTES = 900_000
#: Annotations one run prints (GitHub shows 10 of each kind per step, 50 per job).
MAX_ANNOTATIONS = 50
#: Characters of one line of a detail, of a whole cell, and of an annotation's message.
_LINE = 200
_CELL = 4000
_MESSAGE = 2000
#: Lines of a detail shown (a command check's output tail can be long).
_LINES = 10

# C0 and C1 controls but tab and newline, and terminal escape sequences: never meaningful
# in a summary or an annotation, and a carriage return would be a line break to the runner.
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
# Inline Markdown (GitHub flavoured): code, emphasis, links and images, tables,
# strikethrough, math, and headings; escaping each with a backslash keeps it literal.
_MARKDOWN = frozenset("\\`*_[]!|~$#")
_RESULTS = {"passed": "✅ passed", "failed": "❌ failed", "flaky": "⚠️ flaky",
            "skipped": "⏭️ skipped"}


@dataclass(frozen=True)
class Subject:
    """What was sealed: the app, and for a release its version, sha and id."""

    app: str
    version: str | None = None
    sha: str | None = None
    release_id: int | None = None


def _clean(text: str) -> str:
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def markdown_text(text: str, limit: int = _LINE) -> str:
    """``text`` as literal inline Markdown: one line, cut to ``limit`` characters, HTML as
    entities and Markdown's punctuation escaped."""
    flat = " ".join(_clean(text).split())
    return "".join(_HTML.get(c) or ("\\" + c if c in _MARKDOWN else c)
                   for c in _cut(flat, limit))


def _title(subject: Subject) -> str:
    words = [subject.app, subject.version or ""]
    title = " ".join(markdown_text(w, 80) for w in words if w)
    return f"{title} ({markdown_text(subject.sha[:7])})" if subject.sha else title


def summary_markdown(subject: Subject, seal: Seal, budget: int = SUMMARY_BYTES) -> str:
    """A job summary: the verdict, a table of every check, and on red the rollback commands
    (the same ones the terminal shows), in at most about ``budget`` bytes (the table's rows
    stop short of it)."""
    lines = [f"### {seal.emoji} smokeseal: {_title(subject)} is {seal.status}", "",
             f"**Summary:** {markdown_text(seal.summary, 600)}", ""]
    if seal.notes:
        lines += [*(f"- ⚠️ {markdown_text(note, 300)}" for note in seal.notes[:10]), ""]
    about = [f"checked {markdown_text(seal.base_url)} (canonical URL) at "
             f"{markdown_text(seal.checked_at)} in {seal.duration_ms} ms"]
    if subject.release_id is not None:
        about.append(f"release id {subject.release_id}")
    if subject.sha:
        about.append(f"sha {markdown_text(subject.sha, 64)}")
    if seal.revision:
        expected = (f" (release {markdown_text(seal.expected_sha[:7])})"
                    if seal.expected_sha else "")
        about.append(f"revision served: {markdown_text(seal.revision, 80)}{expected}")
    lines += [" · ".join(about), ""]
    after: list[str] = []
    if not seal.green and seal.rollback:
        after += ["", "**Rollback, if you decide to** (smokeseal runs none of these):", "",
                  *_code_block(seal.rollback)]
        if seal.last_green:
            last = seal.last_green
            after += ["", f"Last green release: {markdown_text(str(last.get('version', '')))}"
                          f" (id {markdown_text(str(last.get('id', '')))}, sha "
                          f"{markdown_text(str(last.get('sha', '')))})"]
    if seal.checks:
        used = sum(len(line.encode()) + 1 for line in (*lines, *after))
        lines += _table(seal.checks, budget - used)
    return "\n".join([*lines, *after]) + "\n\n"


def _table(checks: list[CheckRecord], budget: int) -> list[str]:
    """The table of ``checks`` in at most ``budget`` bytes: rows past it are counted, not
    listed."""
    rows = ["| check | kind | result | duration | detail |", "|---|---|---|---:|---|"]
    room = budget - 200 - sum(len(row) + 1 for row in rows)  # 200: the closing line
    listed = 0
    for check in _rows(checks):
        duration = "–" if check.duration_ms is None else f"{check.duration_ms} ms"
        detail = "<br>".join(markdown_text(line) for line in _detail_lines(check))
        row = (f"| {markdown_text(check.name, 120)} | {markdown_text(check.kind, 20)} | "
               f"{_RESULTS.get(check.outcome, markdown_text(check.outcome))} | "
               f"{duration} | {_cut_cell(detail)} |")
        room -= len(row.encode()) + 1
        if room < 0:
            break
        rows.append(row)
        listed += 1
    if listed < len(checks):
        rows += ["", f"{len(checks) - listed} more checks are not listed (the summary's size "
                     "has a limit; `smokeseal release show` has them all)."]
    return rows


def _cut_cell(cell: str) -> str:
    """A cell cut to its limit, never inside an escape, an entity or a ``<br>``."""
    if len(cell) <= _CELL:
        return cell
    cut = cell[:_CELL]
    cut = re.sub(r"(\\|&[a-z]*|<b?r?)$", "", cut)
    return cut + "…"


def _rows(checks: list[CheckRecord]) -> list[CheckRecord]:
    """Every check when they fit; else every one that did not pass, then passed ones up to
    :data:`MAX_ROWS`, in the suite's order."""
    if len(checks) <= MAX_ROWS:
        return checks
    room = MAX_ROWS - sum(c.outcome != "passed" for c in checks)
    keep: list[CheckRecord] = []
    for check in checks:
        if check.outcome != "passed":
            keep.append(check)
        elif room > 0:
            keep.append(check)
            room -= 1
    return keep[:MAX_ROWS]


def _detail_lines(check: CheckRecord) -> list[str]:
    """What the terminal's table shows for a check, line by line, cut to a few lines."""
    lines = _clean(check.detail).split("\n")
    if len(lines) > _LINES:
        lines = [*lines[: _LINES - 1], f"… {len(lines) - _LINES + 1} more lines"]
    if check.flaky:
        lines.append(f"flaky: failed on the first try: {check.first_failure or ''}")
    if check.skipped:
        lines.append("not verified")
    if check.blocked_writes and not check.ok:
        lines.append("blocked: " + ", ".join(check.blocked_writes[:5]))
    if line := check.reads_line:
        lines.append(line)
    lines += check.notes[:5]
    if check.evidence:
        lines.append(f"evidence: {check.evidence}")
    return [line for line in lines if line.strip()]


def _code_block(lines: Sequence[str]) -> list[str]:
    body = [_clean(line).replace("\n", " ") for line in lines]
    longest = max((len(run) for line in body for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}sh", *body, fence]


# --- workflow commands --------------------------------------------------------------------

def escape_data(text: str) -> str:
    """A workflow command's message, escaped as GitHub's runner unescapes it: one line."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value (``title=…``): also no ``:`` or ``,``, which
    would end the property list or the property."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(kind: str, title: str, message: str) -> str:
    text = _cut(_clean(message).strip() or title, _MESSAGE)
    return f"::{kind} title={escape_property(_cut(_clean(title), 200))}::{escape_data(text)}"


def annotation_lines(subject: Subject, seal: Seal) -> list[str]:
    """One ``::error`` per failed or unverified check, one ``::warning`` per flaky one; on a
    red seal with neither (no check ran), one ``::error`` with the summary."""
    name = f"smokeseal {subject.app}" + (f" {subject.version}" if subject.version else "")
    out: list[str] = []
    for check in seal.checks:
        if check.outcome == "failed":
            out.append(_command("error", f"{name}: {check.name} failed", check.detail))
        elif check.outcome == "skipped":
            out.append(_command("error", f"{name}: {check.name} not verified",
                                check.detail or "skipped"))
        elif check.outcome == "flaky":
            out.append(_command("warning", f"{name}: {check.name} is flaky",
                                f"failed on the first try: {check.first_failure or ''}"))
    if not seal.green and not any(line.startswith("::error") for line in out):
        out.append(_command("error", f"{name}: sealed red", seal.summary))
    out += [_command("warning", f"{name}: note", note) for note in seal.notes[:5]]
    if len(out) > MAX_ANNOTATIONS:
        more = len(out) - MAX_ANNOTATIONS + 1
        out = [*out[: MAX_ANNOTATIONS - 1],
               _command("error", f"{name}: {more} more", f"{more} more annotations left out; "
                        "the job summary and the ledger list every check")]
    return out


def stop_token() -> str:
    """An end token production cannot guess, so it cannot resume commands itself."""
    return f"smokeseal-{secrets.token_hex(16)}"


def stop_commands(token: str) -> str:
    """The line after which the runner obeys no workflow command until :func:`resume_commands`."""
    return f"::stop-commands::{token}"


def resume_commands(token: str) -> str:
    return f"::{token}::"


def json_safe(text: str) -> str:
    """JSON text with no ``##[`` (the runner's old command prefix, obeyed anywhere in a line).

    Only strings can hold it, and ``\\u0023`` is ``#`` to any JSON parser: the value is
    unchanged. JSON strings hold no raw line break, so no line can start with ``::``.
    """
    return text.replace("##[", "#\\u0023[")
