"""Discord: release notes, seal and operator alert in the team's release-notes thread.

Webhook execute (``POST {webhook}?wait=true&thread_id=…``) returns the message, whose id is
kept so the release-notes message can later be edited (``PATCH {webhook}/messages/{id}``) to
carry the seal line. ``allowed_mentions`` is on every message: nothing can ping but the
configured operator, and only on the alert.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from smokeseal.config import App, Discord
from smokeseal.errors import SinkError
from smokeseal.ledger import Message, NewMessage, Release
from smokeseal.seal import Seal, VerdictChange
from smokeseal.sinks.base import Sink, raise_for_answer
from smokeseal.sinks.text import fit, neutralise, no_pings, render

__all__ = ["CONTENT_LIMIT", "DiscordSink", "messages_for_seal", "messages_for_ship"]

CONTENT_LIMIT = 2000
#: Room kept on the release-notes message for the seal line an edit appends later.
SEAL_LINE_LIMIT = 400
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
EMBED_TOTAL_LIMIT = 6000
GREEN, RED = 0x2EA043, 0xD1242F
NO_PINGS: dict[str, Any] = {"parse": []}


def _notes_key(release_id: int) -> str:
    return f"release:{release_id}:discord:notes"


def messages_for_ship(app: App, release: Release) -> list[NewMessage]:
    """The release notes, posted to the thread when the release ships."""
    if app.notify.discord is None:
        return []
    room = CONTENT_LIMIT - SEAL_LINE_LIMIT - 2
    notes = fit(no_pings(release.notes or ""), room - 300,
                f"… (cut; the whole notes: smokeseal release show {release.id})")
    content = fit(render("discord_notes.md.j2", release=release, url=app.url, notes=notes),
                  room)
    return [NewMessage("discord", "notes", _notes_key(release.id),
                       {"content": content, "allowed_mentions": NO_PINGS})]


def messages_for_seal(app: App, release: Release, seal: Seal,
                      change: VerdictChange = "first") -> list[NewMessage]:
    """The seal line on the notes message, always; in the thread, the seal message on a
    first seal or when the release broke (with, on red, the alert), a short recovered
    message when it recovered, and nothing when the verdict stayed the same."""
    discord = app.notify.discord
    if discord is None:
        return []
    key = "seal:{seal_id}:discord:"
    out = []
    if change in ("first", "broke"):
        out.append(NewMessage("discord", "seal", key + "seal",
                              {"content": "", "embeds": [_seal_embed(release, seal)],
                               "allowed_mentions": NO_PINGS}))
    elif change == "recovered":
        out.append(NewMessage("discord", "recovered", key + "recovered", {
            "content": fit(render("discord_recovered.md.j2", release=release,
                                  seal=seal.to_dict()), CONTENT_LIMIT),
            "allowed_mentions": NO_PINGS}))
    out.append(NewMessage("discord", "notes_edit", key + "notes_edit",
                          {"seal_line": fit(render("discord_seal_line.md.j2",
                                                   seal=seal.to_dict()), SEAL_LINE_LIMIT)},
                          after_key=_notes_key(release.id)))
    if not seal.green and discord.operator and change in ("first", "broke"):
        out.append(NewMessage("discord", "alert", key + "alert", {
            "content": fit(render("discord_alert.md.j2", operator=discord.operator,
                                  release=release, seal=seal.to_dict()), CONTENT_LIMIT),
            "allowed_mentions": _only(discord.operator)}))
    return out


def _only(operator: str) -> dict[str, Any]:
    """``allowed_mentions`` that let exactly the configured user or role be pinged."""
    found = re.fullmatch(r"<@(&?)(\d+)>", operator)
    assert found is not None  # the config validated it
    return {"parse": [], "roles" if found.group(1) else "users": [found.group(2)]}


def _seal_embed(release: Release, seal: Seal) -> dict[str, Any]:
    title = fit(f"{seal.emoji} {release.app} {release.version} sealed {seal.status}",
                EMBED_TITLE_LIMIT)
    lines = [neutralise(seal.summary, 500)]
    for check in seal.checks:
        if check.outcome == "failed":
            lines.append(f"✗ **{neutralise(check.name, 100)}**: "
                         f"{neutralise(check.detail, 300)}")
        elif check.outcome == "skipped":
            lines.append(f"– **{neutralise(check.name, 100)}**: not verified "
                         f"({neutralise(check.detail, 200)})")
        elif check.flaky:
            lines.append(f"⚠ **{neutralise(check.name, 100)}** is flaky: "
                         f"{neutralise(check.first_failure or '', 200)} on the first try")
        if line := check.reads_line:
            lines.append(f"↔ **{neutralise(check.name, 100)}** {neutralise(line, 200)}")
    lines += [f"⚠ {neutralise(note, 300)}" for note in seal.notes[:5]]
    if seal.rollback:
        lines.append("Rollback commands are in the alert and on the board; smokeseal ran none.")
    description = fit("\n".join(lines), EMBED_DESCRIPTION_LIMIT - 100)
    footer = f"{seal.base_url} · {seal.checked_at} · {seal.duration_ms} ms"
    embed = {"title": title, "description": description, "color": GREEN if seal.green else RED,
             "footer": {"text": fit(footer, 2048)}}
    assert len(title) + len(description) + len(footer) <= EMBED_TOTAL_LIMIT
    return embed


class DiscordSink(Sink):
    name = "discord"
    ordered = True  # the release-notes thread: notes, then seal, then alert
    shows_verdict = frozenset({"notes_edit"})  # the seal line on the release-notes message
    # The seal and the alert follow no message (they go to the thread on their own); the
    # notes' edit is skipped when the release-notes message was never posted.
    edits_of_first = frozenset({"notes_edit"})

    def __init__(self, settings: Discord) -> None:
        self.settings = settings

    def _url(self, suffix: str = "") -> httpx.URL:
        params = {"wait": "true"} if not suffix else {}
        if self.settings.thread_id:
            params["thread_id"] = self.settings.thread_id
        return httpx.URL(self.settings.webhook_url.get_secret_value().rstrip("/") + suffix,
                         params=params)

    def send(self, client: httpx.Client, message: Message,
             before: Message | None) -> dict[str, Any]:
        if message.kind == "notes_edit":
            return self._edit_notes(client, message, before)
        response = client.post(self._url(), json=message.payload)
        raise_for_answer("discord", f"posting the {message.kind} message", response)
        return {"message_id": str(response.json()["id"])}

    def _edit_notes(self, client: httpx.Client, message: Message,
                    before: Message | None) -> dict[str, Any]:
        if before is None or not before.result:
            raise SinkError("discord: the release-notes message was never posted",
                            permanent=True)
        original = before.payload["content"]
        content = fit(original, CONTENT_LIMIT - len(message.payload["seal_line"]) - 2)
        content += "\n\n" + message.payload["seal_line"]
        message_id = before.result["message_id"]
        response = client.patch(self._url(f"/messages/{message_id}"),
                                json={"content": content, "allowed_mentions": NO_PINGS})
        raise_for_answer("discord", "editing the release-notes message", response)
        return {"message_id": message_id}
