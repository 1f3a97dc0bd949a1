"""What GitHub makes of smokeseal's output, for tests: the runner's workflow commands and the
job summary's Markdown.

:func:`obeyed` reads a step's output the way GitHub's runner does (``ActionCommand.TryParseV2``
and the older ``TryParse``, with ``stop-commands``; actions/runner,
``src/Runner.Common/ActionCommand.cs`` and ``src/Runner.Worker/ActionCommandManager.cs``):
every command it would act on, in order. :func:`render` turns a job summary into HTML with a
CommonMark parser with tables and raw HTML on, as GitHub renders it before sanitising, and
:class:`Rendered` says which tags came out and what text each table cell shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

#: The commands the runner knows (``stop-commands`` and the command extensions).
REGISTERED = frozenset({
    "stop-commands", "add-mask", "add-matcher", "remove-matcher", "add-path", "set-env",
    "set-output", "save-state", "error", "warning", "notice", "debug", "group", "endgroup",
    "echo",
})
_DATA = (("%0D", "\r"), ("%0A", "\n"), ("%25", "%"))
_PROPERTY = (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%"))
_LEGACY = (("%3B", ";"), ("%0D", "\r"), ("%0A", "\n"), ("%5D", "]"), ("%25", "%"))


@dataclass
class Command:
    name: str
    properties: dict[str, str]
    data: str


def _unescape(text: str, mappings: tuple[tuple[str, str], ...]) -> str:
    for escaped, token in mappings:
        text = text.replace(escaped, token)
    return text


def _parse_v2(line: str, registered: set[str]) -> Command | None:
    message = line.lstrip()
    if not message.startswith("::"):
        return None
    end = message.find("::", 2)
    if end < 0:
        return None
    info = message[2:end]
    space = info.find(" ")
    name = info if space < 0 else info[:space]
    if name.lower() not in registered:
        return None
    properties: dict[str, str] = {}
    if space > 0:
        for item in info[space + 1:].strip().split(","):
            key, _, value = item.partition("=")
            if item and key and value:
                properties[key.lower()] = _unescape(value, _PROPERTY)
    return Command(name.lower(), properties, _unescape(message[end + 2:], _DATA))


def _parse_legacy(line: str, registered: set[str]) -> Command | None:
    start = line.find("##[")
    if start < 0:
        return None
    close = line.find("]", start)
    if close < 0:
        return None
    info = line[start + 3:close]
    space = info.find(" ")
    name = info if space < 0 else info[:space]
    if name.lower() not in registered:
        return None
    properties: dict[str, str] = {}
    if space > 0:
        for item in info[space + 1:].split(";"):
            key, _, value = item.partition("=")
            if item and key and value:
                properties[key.lower()] = _unescape(value, _LEGACY)
    return Command(name.lower(), properties, _unescape(line[close + 1:], _LEGACY))


def obeyed(output: str) -> list[Command]:
    """Every workflow command the runner would act on in ``output``, in order (a
    ``stop-commands`` and its resume token included)."""
    registered = set(REGISTERED)
    stopped_until: str | None = None
    done: list[Command] = []
    # .NET's ReadLine: a line ends at \n, \r or \r\n.
    for line in re.split(r"\r\n|\r|\n", output):
        command = _parse_v2(line, registered) or _parse_legacy(line, registered)
        if command is None:
            continue
        if stopped_until is not None:
            if command.name == stopped_until:
                registered.discard(stopped_until)
                stopped_until = None
                done.append(command)
            continue
        if command.name == "stop-commands":
            stopped_until = command.data.lower()
            registered.add(stopped_until)
        done.append(command)
    return done


def annotations(output: str) -> list[Command]:
    """The ``error`` and ``warning`` commands the runner would act on."""
    return [c for c in obeyed(output) if c.name in ("error", "warning")]


# --- the job summary ----------------------------------------------------------------------

#: What smokeseal's Markdown may become: anything else came from production.
ALLOWED_TAGS = frozenset({"h3", "p", "strong", "table", "thead", "tbody", "tr", "th", "td",
                          "br", "pre", "code"})


@dataclass
class Rendered:
    html: str
    tags: list[tuple[str, list[tuple[str, str | None]]]] = field(default_factory=list)
    #: Every table row, as the text of its cells (a <br> as a newline).
    rows: list[list[str]] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    #: Every code block's text.
    code: list[str] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


class _Reader(HTMLParser):
    def __init__(self, rendered: Rendered) -> None:
        super().__init__(convert_charrefs=True)
        self.out = rendered
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.tags.append((tag, attrs))
        if tag == "br":
            self.text.append("\n")
            return
        if tag == "tr":
            self.out.rows.append([])
        if tag in ("td", "th", "h3", "pre", "p"):
            self.text = []
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "br" or not self.stack:
            return
        self.stack.pop()
        text = "".join(self.text)
        if tag in ("td", "th"):
            self.out.rows[-1].append(text)
        elif tag == "h3":
            self.out.headings.append(text)
        elif tag == "pre":
            self.out.code.append(text)
        elif tag == "p":
            self.out.paragraphs.append(text)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.out.comments.append(data)


def render(markdown: str) -> Rendered:
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    rendered = Rendered(parser.render(markdown))
    reader = _Reader(rendered)
    reader.feed(rendered.html)
    reader.close()
    return rendered


def unexpected_tags(rendered: Rendered) -> list[str]:
    """Tags (or attributes) smokeseal's Markdown never makes: production's HTML got through."""
    bad = [tag for tag, _ in rendered.tags if tag not in ALLOWED_TAGS]
    bad += [f"{tag} {name}" for tag, attrs in rendered.tags for name, value in attrs
            if (name, value) not in (("style", "text-align:right"), ("class", "language-sh"))]
    return bad
