"""Slack through the outbox: the notes in the channel, the seal and the alert in their
thread, the notes updated to show the current verdict, each exactly once, whatever Slack
answers; the bot token never shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from smokeseal.config import Config, load_config
from smokeseal.ledger import Ledger, Release
from smokeseal.outbox import deliver, messages_for_seal, messages_for_ship, notes_with_seal
from smokeseal.seal import CheckRecord, Seal
from tests.conftest import Api, Demo, notify_yaml, shipped
from tests.standins import SLACK_ARCHIVED, SLACK_CHANNEL, SLACK_NOT_IN_CHANNEL, SLACK_TOKEN

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
#: The config's folder is no git checkout: both reverts, labelled.
ROLLBACK = ("```\nsmokeseal release abandon 2\n"
            "git revert 3f2a9c1 # on main, if 3f2a9c1 is a single commit\n"
            "git revert -m 1 3f2a9c1 # on main, if 3f2a9c1 is a merge commit\n```")


def _texts(payload: dict[str, Any]) -> list[str]:
    """Every text Slack would render or notify with, in a posted payload."""
    out = [payload.get("text") or ""]
    for block in payload.get("blocks") or []:
        if "text" in block:
            out.append(block["text"]["text"])
        out += [element["text"] for element in block.get("elements", [])]
    return out


def _posts(slack: Api) -> list[dict[str, Any]]:
    return [r.json for r in slack.state.calls("chat.postMessage")]


def test_a_green_ship_posts_the_notes_threads_the_seal_and_updates_the_notes(
        make_config: Callable[..., Config], slack: Api, slack_env: dict[str, str],
        ledger_url: str) -> None:
    config = make_config(slack=slack)
    with Ledger(ledger_url) as ledger:
        result = shipped(config, ledger, "v1")
        assert result.warnings == []
        assert ledger.messages(("pending", "failed")) == []
        [notes_message] = [m for m in ledger.release_messages(result.release.id)
                           if m.kind == "notes"]
    notes, seal = _posts(slack)  # no alert on green
    assert notes["channel"] == SLACK_CHANNEL and "thread_ts" not in notes
    assert notes["blocks"][0] == {"type": "header", "text": {
        "type": "plain_text", "text": "🚀 demo v1 shipped", "emoji": True}}
    assert "- faster tasks" in notes["blocks"][2]["text"]["text"]
    assert notes["text"] == "🚀 demo v1 shipped (3f2a9c1)"
    assert notes["unfurl_links"] is False and notes["link_names"] is False
    # The ts Slack answered is kept, as Discord's message id is, and threads the rest.
    ts = notes_message.result and notes_message.result["ts"]
    assert notes_message.result == {"ts": ts, "channel": SLACK_CHANNEL}
    assert seal["thread_ts"] == ts and seal["channel"] == SLACK_CHANNEL
    assert seal["blocks"][0]["text"]["text"] == "🟢 demo v1 sealed green"
    assert seal["blocks"][1]["text"]["text"] == "6/6 passed"
    [update] = [r.json for r in slack.state.calls("chat.update")]
    assert (update["channel"], update["ts"]) == (SLACK_CHANNEL, ts)
    stored = slack.state.messages[ts]
    assert stored["edited"] == 1
    assert stored["blocks"][0]["text"]["text"] == "🚀 demo v1 shipped"
    assert stored["blocks"][-1]["text"]["text"] == "*Seal:* 🟢 green · 6/6 passed"
    assert stored["text"].endswith("*Seal:* 🟢 green · 6/6 passed")
    for call in slack.state.received:
        assert call.headers["authorization"] == f"Bearer {SLACK_TOKEN}"
        assert call.headers["content-type"] == "application/json; charset=utf-8"


def test_a_red_ship_alerts_the_operator_in_the_thread_with_the_rollback_commands(
        make_config: Callable[..., Config], slack: Api, slack_env: dict[str, str],
        ledger_url: str, demo: Demo) -> None:
    config = make_config(slack=slack)
    with Ledger(ledger_url) as ledger:
        shipped(config, ledger, "v1")
        demo.state.set_faults("devops_exposed")
        result = shipped(config, ledger, "v2")
        assert result.seal is not None and not result.seal.green
        assert result.warnings == []
        [notes_v2] = [m for m in ledger.release_messages(result.release.id) if m.kind == "notes"]
    assert notes_v2.result is not None
    posts = _posts(slack)
    assert len(posts) == 5  # v1: notes, seal; v2: notes, seal, alert
    alerts = [p for p in posts if p["text"].startswith("<@U0OPERATOR>")]
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["thread_ts"] == notes_v2.result["ts"]
    assert alert["blocks"][0]["text"]["text"] == alert["text"]
    assert alert["text"].startswith("<@U0OPERATOR> 🔴 *demo v2* (`3f2a9c1`) shipped, but its "
                                    "seal is red: 4/6 passed; devops hidden: expected 404, got "
                                    "200")
    assert ROLLBACK in alert["text"]
    assert "Last green release: v1 (`3f2a9c1`)." in alert["text"]
    # Nothing but the alert mentions anyone.
    for post in posts:
        if post is not alert:
            assert not any("<@" in t or "<!" in t for t in _texts(post))
    stored = slack.state.messages[notes_v2.result["ts"]]
    assert stored["blocks"][-1]["text"]["text"].startswith("*Seal:* 🔴 red · 4/6 passed")


def _config(demo: Demo, slack: Api, write_config: Callable[[str], Path],
            channel: str = SLACK_CHANNEL) -> Config:
    return load_config(write_config(
        f"apps:\n  demo:\n    url: {demo.url}\n    suite: [{{name: up, get: /up}}]\n"
        + notify_yaml(None, None, slack=slack, channel=channel)))


def _ship(config: Config, ledger: Ledger, version: str = "v1",
          notes: str | None = "## Changes\n- faster tasks") -> Release:
    return ledger.mark_shipped(ledger.create_release("demo", version, "3f2a9c1",
                                                     notes=notes).id,
                               messages=messages_for_ship(config))


def _seal(config: Config, ledger: Ledger, release: Release, status: str = "green",
          checks: list[CheckRecord] | None = None, summary: str | None = None) -> int:
    seal = Seal(status=status, summary=summary or f"{status} at 10:00",
                checked_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                base_url="https://a.test", duration_ms=5, checks=checks or [],
                rollback=[] if status == "green" else ["smokeseal release abandon 1"])
    _, seal_id = ledger.record_seal(release.id, seal.to_dict(),
                                    messages=messages_for_seal(config, release, seal),
                                    notes=notes_with_seal(seal))
    return seal_id


def test_a_reseal_updates_the_notes_message_and_never_reposts_it(
        demo: Demo, slack: Api, slack_env: dict[str, str], ledger_url: str,
        write_config: Callable[[str], Path]) -> None:
    config = _config(demo, slack, write_config)
    with Ledger(ledger_url) as ledger:
        release = _ship(config, ledger)
        _seal(config, ledger, release, "green")
        assert deliver(config, ledger).errors == []
        _seal(config, ledger, release, "red")
        report = deliver(config, ledger)
        assert report.errors == [] and report.pending == 0
    posts = _posts(slack)
    assert [p["blocks"][0]["text"]["text"] for p in posts if p["blocks"][0]["type"] == "header"
            ] == ["🚀 demo v1 shipped", "🟢 demo v1 sealed green", "🔴 demo v1 sealed red"]
    assert sum(p["text"].startswith("<@U0OPERATOR>") for p in posts) == 1
    notes_ts = next(ts for ts, m in slack.state.messages.items() if m["thread_ts"] is None)
    assert all(p["thread_ts"] == notes_ts for p in posts[1:])
    updates = [r.json for r in slack.state.calls("chat.update")]
    assert [u["ts"] for u in updates] == [notes_ts, notes_ts]
    notes = slack.state.messages[notes_ts]
    assert notes["edited"] == 2
    # One seal line, the latest: an update replaces the last one, never stacks a second.
    lines = [b["text"]["text"] for b in notes["blocks"] if b["type"] == "section"
             and b["text"]["text"].startswith("*Seal:*")]
    assert lines == ["*Seal:* 🔴 red · red at 10:00"]


def test_a_429_is_honoured_and_nothing_is_posted_twice(
        demo: Demo, slack: Api, slack_env: dict[str, str], ledger_url: str,
        write_config: Callable[[str], Path]) -> None:
    config = _config(demo, slack, write_config)
    slack.state.fail_next("429")  # Retry-After: 1
    with Ledger(ledger_url) as ledger:
        release = _ship(config, ledger)
        _seal(config, ledger, release)
        report = deliver(config, ledger)
        assert report.errors == [] and report.pending == 0
    first, second = slack.state.calls("chat.postMessage")[:2]
    assert first.json == second.json
    assert second.at - first.at >= 0.95  # Retry-After: 1
    assert len(slack.state.messages) == 2  # the notes and the seal, once each


def test_a_retry_after_beyond_the_budget_is_kept_for_a_later_run(
        demo: Demo, slack: Api, slack_env: dict[str, str], tmp_path: Path,
        write_config: Callable[[str], Path]) -> None:
    config = _config(demo, slack, write_config)
    slack.state.retry_after = "120"
    slack.state.fail_next("429")
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        _ship(config, ledger)
        started = time.monotonic()
        report = deliver(config, ledger, budget=3)
        assert time.monotonic() - started < 3
        [pending] = ledger.messages(("pending",))
        assert report.errors == ["slack: posting the release notes: rate limited (429); "
                                 "retry after 120.0 s"]
        assert pending.next_attempt_at > datetime.now(UTC) + timedelta(seconds=100)
        assert deliver(config, ledger).pending == 1  # not due yet: not asked
        assert deliver(config, ledger, due_only=False).pending == 0
    assert len(slack.state.calls("chat.postMessage")) == 2


@pytest.mark.parametrize("fault", ["internal_error", "fatal_error", "service_unavailable",
                                   "request_timeout", "500", "garbage"])
def test_slacks_own_trouble_is_retried_and_posts_once(
        demo: Demo, slack: Api, slack_env: dict[str, str], tmp_path: Path,
        write_config: Callable[[str], Path], fault: str) -> None:
    config = _config(demo, slack, write_config)
    slack.state.fail_next(fault, fault)
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        release = _ship(config, ledger)
        _seal(config, ledger, release)
        report = deliver(config, ledger)
        assert report.pending == 0 and report.failed == 0, report.errors
    assert len(slack.state.messages) == 2
    assert len(slack.state.calls("chat.postMessage")) == 4  # two faults, then two posts


def test_invalid_auth_fails_for_good_with_a_clear_error_and_no_token_anywhere(
        demo: Demo, slack: Api, slack_env: dict[str, str], tmp_path: Path,
        write_config: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "xoxb-1000000001-2000000002-WrongButStillSecret"
    monkeypatch.setenv("SLACK_BOT_TOKEN", wrong)
    config = _config(demo, slack, write_config)
    assert config.path is not None
    ledger_url = f"sqlite:///{tmp_path}/l.db"
    with Ledger(ledger_url) as ledger:
        release = _ship(config, ledger)
        _seal(config, ledger, release, "red")
        report = deliver(config, ledger)
        failed = {m.kind: m.last_error for m in ledger.messages(("failed",))}
        with ledger.engine.connect() as conn:
            dump = "".join(str(row) for table in ("releases", "seals", "outbox")
                           for row in conn.execute(text(f"select * from {table}")))
    # With no notes message the seal and the alert are tried on their own (top of the
    # channel) and refused the same way; the notes' edit is skipped, nothing to edit.
    refused = ("Slack refused the token: check notify.slack.token (a bot token, xoxb-...) "
               "(invalid_auth)")
    assert failed == {"notes": f"slack: posting the release notes: {refused}",
                      "seal": f"slack: posting the seal message: {refused}",
                      "alert": f"slack: posting the alert message: {refused}"}
    assert report.failed == 3
    assert len(slack.state.received) == 3  # each tried once, never retried
    env = {**os.environ, "SMOKESEAL_CONFIG": str(config.path),
           "SMOKESEAL_DATABASE_URL": ledger_url, "SLACK_BOT_TOKEN": wrong}
    listed = subprocess.run([str(BIN / "smokeseal"), "outbox", "list", "--json"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert "invalid_auth" in listed.stdout
    said = listed.stdout + listed.stderr + dump + "\n".join(report.errors)
    assert wrong not in said and SLACK_TOKEN not in said and "WrongButStill" not in said


@pytest.mark.parametrize(("channel", "says"), [
    (SLACK_NOT_IN_CHANNEL, f"the bot is not in channel {SLACK_NOT_IN_CHANNEL}: invite it "
                           "(/invite @your-app) (not_in_channel)"),
    (SLACK_ARCHIVED, f"channel {SLACK_ARCHIVED} is archived (is_archived)"),
    ("C0NOSUCHONE", "no channel C0NOSUCHONE, or the bot cannot see it: check "
                    "notify.slack.channel (an id, C…) (channel_not_found)"),
])
def test_a_channel_the_bot_cannot_post_in_fails_for_good_saying_what_to_do(
        demo: Demo, slack: Api, slack_env: dict[str, str], tmp_path: Path,
        write_config: Callable[[str], Path], channel: str, says: str) -> None:
    config = _config(demo, slack, write_config, channel=channel)
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        _ship(config, ledger)
        report = deliver(config, ledger)
        [failed] = ledger.messages(("failed",))
    assert failed.last_error == f"slack: posting the release notes: {says}"
    assert report.errors == [failed.last_error]
    assert len(slack.state.received) == 1


def test_long_text_is_cut_to_block_kits_limits(
        demo: Demo, slack: Api, slack_env: dict[str, str], tmp_path: Path,
        write_config: Callable[[str], Path]) -> None:
    config = _config(demo, slack, write_config)
    checks = [CheckRecord(name=f"hidden route number {i} " + "x" * 80, kind="get", ok=False,
                          outcome="failed", detail="expected 404, got 200 " + "y" * 300)
              for i in range(60)]
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        release = _ship(config, ledger, "v" + "9" * 199,
                        notes="## Notes\n" + "a very long line\n" * 400)
        _seal(config, ledger, release, "red", checks, summary="0/60 passed; " + "z" * 5000)
        report = deliver(config, ledger)
        assert report.errors == [] and report.pending == 0
    posts = _posts(slack) + [r.json for r in slack.state.calls("chat.update")]
    assert len(posts) == 4
    for post in posts:  # the stand-in refuses what Slack refuses; these are checked again
        assert len(post["text"]) <= 40_000 and len(post["blocks"]) <= 50
        for block in post["blocks"]:
            limit = {"header": 150, "section": 3000}.get(block["type"], 2000)
            assert len(_texts({"blocks": [block]})[1]) <= limit
    assert any("(cut; the whole notes: smokeseal release show 1)" in t
               for t in _texts(posts[0]))


def test_secrets_and_payloads_in_the_ledger_hold_no_slack_token(
        demo: Demo, slack: Api, slack_env: dict[str, str], ledger_url: str,
        write_config: Callable[[str], Path]) -> None:
    config = _config(demo, slack, write_config)
    with Ledger(ledger_url) as ledger:
        release = _ship(config, ledger)
        _seal(config, ledger, release, "red")
        deliver(config, ledger)
        stored = [json.dumps(m.payload) + json.dumps(m.result)
                  for m in ledger.release_messages(release.id)]
    assert stored and not any(SLACK_TOKEN in s for s in stored)


def test_an_older_seal_delivered_last_leaves_the_newer_verdict_on_the_notes(
        demo: Demo, slack: Api, slack_env: dict[str, str], ledger_url: str,
        write_config: Callable[[str], Path]) -> None:
    config = _config(demo, slack, write_config)
    with Ledger(ledger_url) as ledger:
        release = _ship(config, ledger)
        newer = _seal(config, ledger, release, "green", summary="checked at 10:05")
        assert deliver(config, ledger).errors == []
        # A slower pipeline's seal, checked earlier, recorded (and delivered) last.
        seal = Seal(status="red", summary="checked at 10:00", checked_at="2020-01-01T10:00:00Z",
                    base_url="https://a.test", duration_ms=5, checks=[])
        ledger.record_seal(release.id, seal.to_dict(),
                           messages=messages_for_seal(config, release, seal))
        assert deliver(config, ledger).errors == []
        skipped = [m for m in ledger.release_messages(release.id) if m.status == "superseded"]
        assert [(m.sink, m.kind, m.result) for m in skipped] == [
            ("slack", "notes_edit", {"superseded_by": newer})]
    [update] = slack.state.calls("chat.update")
    assert update.json["blocks"][-1]["text"]["text"] == "*Seal:* 🟢 green · checked at 10:05"
    # The older seal still told the thread its own result, and alerted the operator.
    titles = [p["blocks"][0]["text"]["text"] for p in _posts(slack)
              if p["blocks"][0]["type"] == "header"]
    assert titles == ["🚀 demo v1 shipped", "🟢 demo v1 sealed green", "🔴 demo v1 sealed red"]
    assert _posts(slack)[-1]["text"].startswith("<@U0OPERATOR> 🔴")
