"""Text for chat and Markdown destinations: neutralised, cut to size, sectioned."""

from __future__ import annotations

import re
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

__all__ = ["SECTION_END", "SECTION_START", "fence", "fit", "neutralise", "no_pings", "render",
           "seal_section", "slack_escape", "slack_fence", "slack_neutralise",
           "slack_no_pings", "with_section"]

SECTION_START = "<!-- smokeseal:seal -->"
SECTION_END = "<!-- /smokeseal:seal -->"
# ``<`` too: raw HTML and comments (``<!--`` would hide the rest of a release's notes, or
# fake the end of the seal section) stay text.
_MARKDOWN = re.compile(r"([\\*_~`|<>\[\]#])")
_MENTION = re.compile(r"@(everyone|here)|<(@[!&]?|#)(\d+)>|@(?=\w)")
_ZWSP = "\u200b"

_templates = Environment(loader=PackageLoader("smokeseal.sinks", "templates"),
                         autoescape=False, undefined=StrictUndefined, keep_trailing_newline=False,
                         trim_blocks=True, lstrip_blocks=True)


def neutralise(text: str, limit: int = 300) -> str:
    """Make text read from production inert in Markdown: no pings, no formatting breakout.

    ``allowed_mentions`` already stops pings on Discord; breaking the mention syntax too
    keeps the text inert wherever it is pasted next (GitHub notifies on @names).
    """
    return _MARKDOWN.sub(r"\\\1", no_pings(" ".join(text.split())[:limit]))


def no_pings(text: str) -> str:
    """The team's own Markdown (release notes), kept as written but unable to ping."""
    return _MENTION.sub(lambda m: m.group(0).replace("@", "@" + _ZWSP, 1).replace(
        "<#", "<#" + _ZWSP), text)


# --- Slack's mrkdwn ----------------------------------------------------------------------
#
# Slack documents one escape: ``&``, ``<`` and ``>`` as HTML entities, which also takes
# apart every control sequence (``<!channel>``, ``<@U…>``, ``<#C…>``, ``<!subteam^S…>``,
# ``<url|text>``). Formatting characters have no escape at all, so production's are swapped
# for look-alikes that Slack does not read as markup (as jsx-slack's <Escape> does).
_SLACK_LOOKALIKES = str.maketrans({"*": "∗", "_": "ˍ", "~": "∼",
                                   "`": "ˋ"})
#: Words Slack may turn into a mass mention (with ``link_names``, in older clients):
#: broken with a zero-width space after the ``@``, whatever smokeseal sends beside them.
_SLACK_BARE = re.compile(r"@(?=(channel|here|everyone)\b)", re.IGNORECASE)


def slack_escape(text: str) -> str:
    """Slack's documented escaping: ``&``, ``<``, ``>`` as ``&amp;``, ``&lt;``, ``&gt;``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_no_pings(text: str) -> str:
    """The team's own text (release notes) for Slack: formatting kept as written, but no
    ``<…>`` sequence survives (no mention, no link markup) and no bare ``@channel``."""
    return _SLACK_BARE.sub("@" + _ZWSP, slack_escape(text))


def slack_neutralise(text: str, limit: int = 300) -> str:
    """Text read from production, inert in Slack's mrkdwn: no pings, no links, no bold,
    italics, strike-through or code (so it can neither forge formatting nor close a code
    block smokeseal opened), on one line, at most ``limit`` characters before escaping."""
    flat = " ".join(text.split())[:limit]
    return slack_no_pings(flat.translate(_SLACK_LOOKALIKES))


def slack_fence(lines: list[str]) -> str:
    """A Slack code block (smokeseal's own lines: the rollback commands) that nothing
    inside can close or turn into a mention."""
    body = "\n".join(slack_no_pings(line).replace("`", "\u02cb") for line in lines)
    return f"```\n{body}\n```"


def fit(text: str, limit: int, tail: str = "…") -> str:
    """Cut ``text`` to ``limit`` characters at a line break, keeping code fences closed."""
    if len(text) <= limit:
        return text
    room = limit - len(tail) - 5  # space for a closing fence
    cut = text[:room]
    if "\n" in cut[room // 2:]:
        cut = cut[:cut.rfind("\n")]
    if cut.count("```") % 2:
        cut += "\n```"
    return (cut.rstrip() + "\n" + tail)[:limit]


def fence(lines: list[str]) -> str:
    """A code block whose content cannot close it early."""
    body = "\n".join(line.replace("```", "`" + _ZWSP + "``") for line in lines)
    return f"```\n{body}\n```"


def render(name: str, **context: Any) -> str:
    from smokeseal.compare import regression_line

    return _templates.get_template(name).render(
        neutralise=neutralise, fence=fence, slack_neutralise=slack_neutralise,
        slack_fence=slack_fence, slack_escape=slack_escape, regression_line=regression_line,
        **context).strip()


def seal_section(seal: dict[str, Any]) -> str:
    """The seal, as a Markdown section for release notes (ledger and GitHub)."""
    return f"{SECTION_START}\n{render('notes_section.md.j2', seal=seal)}\n{SECTION_END}"


def with_section(body: str | None, section: str) -> str:
    """``body`` with its seal section replaced by ``section`` (or added): never two."""
    body = body or ""
    start = body.find(SECTION_START)
    end = body.find(SECTION_END, start)
    if start != -1 and end > start:
        return body[:start] + section + body[end + len(SECTION_END):]
    return (body.rstrip() + "\n\n" + section + "\n") if body.strip() else section + "\n"
