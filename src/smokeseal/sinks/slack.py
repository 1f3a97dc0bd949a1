"""Slack: release notes, seal and operator alert in a channel, through the Web API.

The release notes are posted with ``chat.postMessage``; the ``ts`` Slack answers is kept
(as Discord's message id is) so that the seal and the alert go in its thread
(``thread_ts``) and the notes message can be updated (``chat.update``) to carry the seal
line. Slack answers most errors with HTTP 200 and ``{"ok": false, "error": …}``: each is
sorted into done, try again, or never again (:func:`check_answer`).

Text from production is made inert for mrkdwn (:func:`~smokeseal.sinks.text.slack_neutralise`):
nothing it holds can ping, link or format. Titles go in ``header`` blocks, which are plain
text. Every message is cut to Block Kit's limits rather than refused.
"""

from __future__ import annotations

from typing import Any

import httpx

from smokeseal.config import App, Slack
from smokeseal.errors import SinkError
from smokeseal.ledger import Message, NewMessage, Release
from smokeseal.seal import Seal
from smokeseal.sinks.base import Sink, raise_for_answer, retry_after
from smokeseal.sinks.text import fit, render, slack_neutralise, slack_no_pings

__all__ = ["BLOCKS_LIMIT", "HEADER_LIMIT", "SECTION_LIMIT", "TEXT_LIMIT", "SlackSink",
           "check_answer", "messages_for_seal", "messages_for_ship"]

#: Block Kit's limits: a section's text, a header's, blocks per message, the fallback text.
SECTION_LIMIT = 3000
HEADER_LIMIT = 150
BLOCKS_LIMIT = 50
TEXT_LIMIT = 40_000
#: What goes with every post: no unfurling of production's links, no name linking.
_QUIET: dict[str, Any] = {"unfurl_links": False, "unfurl_media": False, "link_names": False,
                          "parse": "none"}

#: Errors no retry can mend, and what the operator should do about each.
PERMANENT: dict[str, str] = {
    "invalid_auth": "Slack refused the token: check notify.slack.token (a bot token, xoxb-...)",
    "not_authed": "no token reached Slack: check notify.slack.token",
    "account_inactive": "the token's bot or user was deactivated: install the app again",
    "token_revoked": "the token was revoked: install the app again and update "
                     "notify.slack.token",
    "token_expired": "the token expired: refresh it and update notify.slack.token",
    "no_permission": "the token may not post here: check the app's scopes (chat:write)",
    "missing_scope": "the token lacks a scope it needs (chat:write)",
    "channel_not_found": "no channel {channel}, or the bot cannot see it: check "
                         "notify.slack.channel (an id, C…)",
    "not_in_channel": "the bot is not in channel {channel}: invite it (/invite @your-app)",
    "is_archived": "channel {channel} is archived",
    "restricted_action": "the workspace does not let the bot post in {channel}",
    "msg_too_long": "Slack refused the message as too long",
    "invalid_blocks": "Slack refused the message's blocks",
    "invalid_blocks_format": "Slack refused the message's blocks",
    "message_not_found": "the release-notes message is gone (deleted in Slack?)",
    "cant_update_message": "the release-notes message cannot be updated by this token",
    "thread_not_found": "the release-notes thread is gone (deleted in Slack?)",
}
#: Errors Slack itself says are passing: tried again, with backoff.
RETRYABLE = frozenset({"internal_error", "fatal_error", "service_unavailable",
                       "request_timeout", "ratelimited"})


def _notes_key(release_id: int) -> str:
    return f"release:{release_id}:slack:notes"


def _header(text: str) -> dict[str, Any]:
    return {"type": "header",
            "text": {"type": "plain_text", "text": fit(text, HEADER_LIMIT), "emoji": True}}


def _section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": fit(mrkdwn, SECTION_LIMIT)}}


def _context(mrkdwn: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": fit(mrkdwn, 2000)}]}


def _message(text: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(blocks) <= BLOCKS_LIMIT
    return {"text": fit(text, TEXT_LIMIT), "blocks": blocks}


def messages_for_ship(app: App, release: Release) -> list[NewMessage]:
    """The release notes, posted to the channel when the release ships."""
    if app.notify.slack is None:
        return []
    title = f"🚀 {release.app} {release.version} shipped"
    blocks = [_header(title),
              _section(render("slack_notes.md.j2", release=release, url=app.url))]
    if release.notes:
        blocks.append(_section(fit(
            slack_no_pings(release.notes), SECTION_LIMIT,
            f"… (cut; the whole notes: smokeseal release show {release.id})")))
    text = slack_no_pings(f"{title} ({release.sha[:7]})")
    return [NewMessage("slack", "notes", _notes_key(release.id), _message(text, blocks))]


def messages_for_seal(app: App, release: Release, seal: Seal) -> list[NewMessage]:
    """In the notes' thread: the seal, then the notes updated with the seal line, then on
    red the alert with the rollback commands."""
    slack = app.notify.slack
    if slack is None:
        return []
    key = "seal:{seal_id}:slack:"
    notes = _notes_key(release.id)
    title = f"{seal.emoji} {release.app} {release.version} sealed {seal.status}"
    seal_line = render("slack_seal_line.md.j2", seal=seal.to_dict())
    out = [
        NewMessage("slack", "seal", key + "seal", _message(
            slack_no_pings(title) + ": " + slack_neutralise(seal.summary, 300),
            [_header(title), _section(_seal_text(seal)),
             _context(slack_neutralise(f"{seal.base_url} · {seal.checked_at} · "
                                       f"{seal.duration_ms} ms", 500))]),
            after_key=notes),
        NewMessage("slack", "notes_edit", key + "notes_edit",
                   {"seal_line": fit(seal_line, SECTION_LIMIT)}, after_key=notes),
    ]
    if not seal.green:
        alert = render("slack_alert.md.j2", mention=slack.mention, release=release,
                       seal=seal.to_dict())
        out.append(NewMessage("slack", "alert", key + "alert",
                              _message(alert, [_section(alert)]), after_key=notes))
    return out


def _seal_text(seal: Seal) -> str:
    lines = [slack_neutralise(seal.summary, 500)]
    for check in seal.checks:
        name = slack_neutralise(check.name, 100)
        if check.outcome == "failed":
            lines.append(f"✗ *{name}*: {slack_neutralise(check.detail, 300)}")
        elif check.outcome == "skipped":
            lines.append(f"– *{name}*: not verified ({slack_neutralise(check.detail, 200)})")
        elif check.flaky:
            lines.append(f"⚠ *{name}* is flaky: "
                         f"{slack_neutralise(check.first_failure or '', 200)} on the first try")
        if line := check.reads_line:
            lines.append(f"↔ *{name}* {slack_neutralise(line, 200)}")
    lines += [f"⚠ {slack_neutralise(note, 300)}" for note in seal.notes[:5]]
    if seal.rollback:
        lines.append("Rollback commands are in the alert below and on the board; smokeseal "
                     "ran none.")
    return fit("\n".join(lines), SECTION_LIMIT)


def check_answer(what: str, response: httpx.Response, channel: str) -> dict[str, Any]:
    """The body of a successful Web API answer, or the right :class:`SinkError`."""
    raise_for_answer("slack", what, response)
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError("the answer is not a JSON object")
    if body.get("ok") is True:
        return body
    error = str(body.get("error") or "unknown_error")[:100]
    if error == "ratelimited":
        wait = retry_after(response)
        raise SinkError(f"slack: {what}: rate limited (ratelimited); retry after "
                        f"{wait if wait is not None else '?'} s", retry_after=wait)
    if error in RETRYABLE:
        raise SinkError(f"slack: {what}: Slack is having trouble ({error})")
    advice = PERMANENT.get(error, "Slack refused it")
    detail = _detail(body)
    raise SinkError(f"slack: {what}: {advice.format(channel=channel)} ({error}{detail})",
                    permanent=True)


def _detail(body: dict[str, Any]) -> str:
    """What Slack adds to an error: the scope it needed, or what was wrong with blocks."""
    parts = []
    if body.get("needed"):
        parts.append(f"needed: {str(body['needed'])[:100]}")
    messages = (body.get("response_metadata") or {}).get("messages") or []
    if isinstance(messages, list):
        parts += [str(m)[:200] for m in messages[:3]]
    return "; " + "; ".join(parts) if parts else ""


class SlackSink(Sink):
    name = "slack"
    ordered = True  # a thread: notes, then seal, then the update, then alert
    shows_verdict = frozenset({"notes_edit"})  # the seal line on the release-notes message
    edits_of_first = frozenset({"notes_edit"})
    # No release-notes message (Slack configured after the release shipped, or the notes
    # refused for good): the seal and the alert are posted in the channel, not lost.
    alone_without_first = frozenset({"seal", "alert"})

    def __init__(self, settings: Slack) -> None:
        self.settings = settings

    def _call(self, client: httpx.Client, method: str, what: str,
              body: dict[str, Any], channel: str) -> dict[str, Any]:
        response = client.post(
            f"{self.settings.api_url}/{method}", json=body,
            headers={"Authorization": f"Bearer {self.settings.token.get_secret_value()}",
                     "Content-Type": "application/json; charset=utf-8"})
        return check_answer(what, response, channel)

    def send(self, client: httpx.Client, message: Message,
             before: Message | None) -> dict[str, Any]:
        if message.kind == "notes":
            channel = self.settings.channel
            answer = self._call(client, "chat.postMessage", "posting the release notes",
                                {"channel": channel, **_QUIET, **message.payload}, channel)
            return {"ts": str(answer["ts"]), "channel": str(answer["channel"])}
        if before is None and message.kind in self.alone_without_first:
            channel = self.settings.channel
            answer = self._call(client, "chat.postMessage",
                                f"posting the {message.kind} message",
                                {"channel": channel, **_QUIET, **message.payload}, channel)
            return {"ts": str(answer["ts"]), "channel": str(answer["channel"])}
        if before is None or not before.result:
            raise SinkError("slack: the release-notes message was never posted",
                            permanent=True)
        channel, ts = str(before.result["channel"]), str(before.result["ts"])
        if message.kind == "notes_edit":
            blocks = [*before.payload["blocks"], _section(message.payload["seal_line"])]
            text = fit(before.payload["text"], TEXT_LIMIT - SECTION_LIMIT - 2)
            self._call(client, "chat.update", "updating the release-notes message",
                       {"channel": channel, "ts": ts, "text": text + "\n" +
                        message.payload["seal_line"], "blocks": blocks,
                        "link_names": False, "parse": "none"}, channel)
            return {"ts": ts, "channel": channel}
        answer = self._call(client, "chat.postMessage", f"posting the {message.kind} message",
                            {"channel": channel, "thread_ts": ts, **_QUIET,
                             **message.payload}, channel)
        return {"ts": str(answer["ts"]), "channel": str(answer["channel"]), "thread_ts": ts}
