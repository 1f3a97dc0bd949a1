"""A seal's notes (a certificate that expires soon) are shown wherever the seal is: the
terminal, the job summary and its annotations, Discord, Slack and the release notes. A
record from before notes existed still loads and shows none."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console
from rich.text import Text

from smokeseal.config import parse_config
from smokeseal.github_actions import Subject, annotation_lines, summary_markdown
from smokeseal.ledger import Release
from smokeseal.report import print_fleet, print_seal
from smokeseal.seal import Seal
from smokeseal.sinks import discord, slack
from smokeseal.sinks.text import seal_section

pytestmark = pytest.mark.unit

NOTE = "certificate for app.example.com expires in 2 days, 2026-12-06"
RECORD: dict[str, Any] = {
    "status": "green", "summary": "2/2 passed", "checked_at": "2026-12-04T10:00:00Z",
    "base_url": "https://app.example.com", "duration_ms": 900, "rollback": [],
    "checks": [{"name": "up", "kind": "get", "ok": True, "outcome": "passed", "detail": "200",
                "duration_ms": 30}]}
NOTED = {**RECORD, "notes": [NOTE],
         "certificates": [{"host": "app.example.com", "expires_at": "2026-12-06T12:00:00Z"}]}
CONFIG = """\
apps:
  studio:
    url: https://app.example.com
    notify:
      discord: {webhook_url: "https://discord.test/api/webhooks/1/x"}
      slack: {token: xoxb-1-2-3, channel: C0123456789}
"""


def _release() -> Release:
    now = datetime(2026, 12, 4, tzinfo=UTC)
    return Release(7, "studio", "v1.4.2", "3f2a9c1deadbeef", "main", "shipped", None, now, now,
                   now, None, None)


def _everywhere(seal: Seal) -> dict[str, str]:
    """The seal as each destination renders it."""
    app = parse_config(CONFIG, environ={}).app("studio")
    console = Console(record=True, width=200)
    print_seal(console, seal, Text("prod-smoke studio"))
    print_fleet(console, {"studio": seal}, 1.0)
    found = {"terminal": console.export_text(),
             "job summary": summary_markdown(Subject("studio", "v1.4.2"), seal),
             "annotations": "\n".join(annotation_lines(Subject("studio"), seal)),
             "release notes": seal_section(seal.to_dict())}
    for message in discord.messages_for_seal(app, _release(), seal):
        found[f"discord {message.kind}"] = repr(message.payload)
    for message in slack.messages_for_seal(app, _release(), seal):
        found[f"slack {message.kind}"] = repr(message.payload)
    return found


def test_a_note_is_shown_wherever_the_seal_is() -> None:
    shown = _everywhere(Seal.from_dict(NOTED))
    assert {where for where, text in shown.items() if NOTE in text} == {
        "terminal", "job summary", "annotations", "release notes", "discord seal",
        "discord notes_edit", "slack seal", "slack notes_edit"}
    assert f"⚠ {NOTE}" in shown["terminal"]
    assert f"- ⚠️ {NOTE}" in shown["job summary"]
    assert f"::warning title=smokeseal studio%3A note::{NOTE}" in shown["annotations"]


def test_a_record_from_before_notes_loads_and_shows_none() -> None:
    seal = Seal.from_dict(RECORD)
    assert (seal.notes, seal.certificates) == ([], [])
    assert "notes" not in seal.to_dict() and "certificates" not in seal.to_dict()
    assert not any("⚠" in text for text in _everywhere(seal).values())
    # And one with them keeps them as they were.
    assert Seal.from_dict(NOTED).to_dict()["certificates"] == NOTED["certificates"]


def test_a_note_from_production_cannot_ping_or_break_out() -> None:
    hostile = {**NOTED, "notes": ["certificate for @everyone <@&1> *x* expires in 2 days"]}
    shown = _everywhere(Seal.from_dict(hostile))
    assert "@everyone" not in shown["discord seal"].replace("@\u200beveryone", "")
    assert "<@&1>" not in shown["slack seal"]
