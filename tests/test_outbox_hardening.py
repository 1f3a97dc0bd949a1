"""What the outbox tells, and when, in the cases a review found wrong: a late re-seal (older
than the seal its release shows), a thread whose first message does not exist, a sink that
hangs in front of an alert or stays down across cron runs, and a GitHub release body edited
on every re-seal."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smokeseal.config import Config, load_config
from smokeseal.ledger import Ledger, Release
from smokeseal.outbox import deliver, messages_for_ship
from smokeseal.seal import Seal
from smokeseal.ship import _record
from tests.conftest import Api, Demo, notify_yaml

pytestmark = pytest.mark.integration


def _config(demo: Demo, write_config: Callable[[str], Path], **sinks: Api | None) -> Config:
    return load_config(write_config(
        f"apps:\n  demo:\n    url: {demo.url}\n    suite: [{{name: up, get: /up}}]\n"
        + notify_yaml(sinks.pop("discord", None), sinks.pop("github", None), **sinks)))


def _ship(config: Config, ledger: Ledger, version: str = "v1", *,
          notes: bool = True) -> Release:
    release = ledger.create_release("demo", version, "3f2a9c1", notes="## Changes\n- x")
    return ledger.mark_shipped(release.id,
                               messages=messages_for_ship(config) if notes else ())


def _seal(config: Config, ledger: Ledger, release: Release, status: str,
          checked_at: str | None = None) -> int:
    """A seal recorded the way `smokeseal seal` records it (its messages decided against
    the seal the release shows, inside the ledger's transaction)."""
    at = checked_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    seal = Seal(status=status, summary=f"{status} at {at}", checked_at=at,
                base_url="https://a.test", duration_ms=5, checks=[])
    _record(config, ledger, ledger.release(release.id), seal)
    return ledger.seals(release.id)[-1]["id"]


def _thread(discord: Api) -> list[str]:
    return [p.json["content"][:30] or p.json["embeds"][0]["title"]
            for p in discord.state.posts()]


# --- 1. a late re-seal -------------------------------------------------------------------

def test_a_late_reseal_tells_only_its_record_and_leaves_the_thread_alone(
        demo: Demo, discord: Api, github: Api, webhook: Api, secrets_env: dict[str, str],
        slack_env: dict[str, str], ledger_url: str,
        write_config: Callable[[str], Path]) -> None:
    config = _config(demo, write_config, discord=discord, github=github, webhook=webhook)
    github.state.add_release("v1", "Notes written on GitHub.")
    with Ledger(ledger_url) as ledger:
        release = _ship(config, ledger)
        assert deliver(config, ledger).errors == []
        # Cron: green 10:00, red 10:02; the run started at 10:01 (green) ends after it;
        # then red 10:03.
        for status, at in (("green", "10:00"), ("red", "10:02"), ("green", "10:01"),
                           ("red", "10:03")):
            seal_id = _seal(config, ledger, release, status, f"2026-11-24T{at}:00Z")
            report = deliver(config, ledger)
            assert report.errors == [] and report.pending == 0
            if at == "10:01":
                late = seal_id
        assert ledger.release(release.id).seal_status == "red"
        # The late seal is in the history and told only as a record: the webhook's.
        assert [m.sink + ":" + m.kind for m in ledger.release_messages(release.id)
                if m.seal_id == late] == ["webhook:seal"]
    thread = _thread(discord)
    assert thread[1:] == ["🟢 demo v1 sealed green", "🔴 demo v1 sealed red",
                          "<@111> 🔴 **demo v1** (`3f2a9c1"]
    assert not any("recovered" in p.json["content"] for p in discord.state.posts())
    # The notes message and the GitHub body show the red verdict, never the late green.
    [notes] = [m for m in discord.state.messages.values() if m["content"].startswith("**🚀")]
    assert "**Seal:** 🔴 red · red at 2026-11-24T10:03:00Z" in notes["content"]
    assert "### Smoke seal: 🔴 red" in github.state.releases["v1"]["body"]
    assert len(webhook.state.deliveries) == 4  # every seal's record, the late one too


# --- 2. a thread whose first message does not exist --------------------------------------

@pytest.mark.parametrize("notes", ["absent", "failed"])
def test_slack_posts_the_seal_and_alert_at_the_top_when_there_are_no_notes(
        demo: Demo, slack: Api, slack_env: dict[str, str], ledger_url: str,
        write_config: Callable[[str], Path], notes: str) -> None:
    config = _config(demo, write_config, slack=slack)
    with Ledger(ledger_url) as ledger:
        # Slack configured after the release shipped, or its notes refused for good.
        release = _ship(config, ledger, notes=notes == "failed")
        if notes == "failed":
            slack.state.fail_next("invalid_auth")
            assert len(deliver(config, ledger).errors) == 1
        _seal(config, ledger, release, "red")
        report = deliver(config, ledger)
        assert report.errors == [] and report.pending == 0
        told = {m.kind: m for m in ledger.release_messages(release.id) if m.seal_id}
        assert {k: m.status for k, m in told.items()} == {
            "seal": "delivered", "alert": "delivered", "notes_edit": "delivered"}
        assert told["notes_edit"].result == {
            "skipped": "no release-notes message to edit: it was never delivered"}
    posts = [r.json for r in slack.state.calls("chat.postMessage")][-2:]
    assert [p["blocks"][0]["text"]["text"] for p in posts[:1]] == ["🔴 demo v1 sealed red"]
    assert posts[1]["text"].startswith("<@U0OPERATOR> 🔴")
    assert all("thread_ts" not in p for p in posts)
    assert slack.state.calls("chat.update") == []


def test_discord_skips_the_notes_edit_when_there_are_no_notes(
        demo: Demo, discord: Api, secrets_env: dict[str, str], ledger_url: str,
        write_config: Callable[[str], Path]) -> None:
    config = _config(demo, write_config, discord=discord)
    with Ledger(ledger_url) as ledger:
        release = _ship(config, ledger, notes=False)
        _seal(config, ledger, release, "red")
        report = deliver(config, ledger)
        assert report.errors == [] and report.pending == 0
        assert ledger.messages(("failed",)) == []
    assert _thread(discord) == ["🔴 demo v1 sealed red", "<@111> 🔴 **demo v1** (`3f2a9c1"]
    assert [r for r in discord.state.received if r.method == "PATCH"] == []


# --- 3. a hanging sink, a down sink ------------------------------------------------------

def test_a_hanging_webhook_queued_first_does_not_hold_up_the_alert(
        demo: Demo, discord: Api, webhook: Api, secrets_env: dict[str, str],
        slack_env: dict[str, str], ledger_url: str,
        write_config: Callable[[str], Path]) -> None:
    config = _config(demo, write_config, discord=discord, webhook=webhook)
    with Ledger(ledger_url) as ledger:
        old = _ship(config, ledger, "v0", notes=False)
        _seal(config, ledger, old, "green")  # a webhook message, queued first
        webhook.state.fail_next("hang", "hang", "hang")
        release = _ship(config, ledger, "v1", notes=False)
        _seal(config, ledger, release, "red")
        started = time.monotonic()
        report = deliver(config, ledger, budget=20)
        took = time.monotonic() - started
        alert = next(m for m in ledger.release_messages(release.id) if m.kind == "alert")
        assert alert.status == "delivered", report.errors
    assert any(p.json["content"].startswith("<@111>") for p in discord.state.posts())
    assert took < 12  # a request is cut at 5 s, and one that hangs is not tried again


def test_a_down_sink_is_backed_off_across_cron_runs_and_a_flush_still_retries(
        demo: Demo, webhook: Api, slack_env: dict[str, str], ledger_url: str,
        write_config: Callable[[str], Path]) -> None:
    config = _config(demo, write_config, webhook=webhook)
    with Ledger(ledger_url) as ledger:
        release = _ship(config, ledger, notes=False)
        _seal(config, ledger, release, "green")
        webhook.state.fail_next(*["503"] * 20)
        assert deliver(config, ledger).pending == 1
        asked = len(webhook.state.deliveries)
        [message] = ledger.messages(("pending",))
        assert message.attempts == 1
        assert message.next_attempt_at >= datetime.now(UTC) + timedelta(seconds=25)
        # The next cron run (a seal's delivery) does not ask a receiver that is down again.
        assert deliver(config, ledger).pending == 1
        assert len(webhook.state.deliveries) == asked
        # A second failing run waits twice as long.
        assert deliver(config, ledger, due_only=False).pending == 1
        [message] = ledger.messages(("pending",))
        assert message.attempts == 2
        assert message.next_attempt_at >= datetime.now(UTC) + timedelta(seconds=55)
        # `outbox flush` asks at once, and delivers once the receiver is back.
        webhook.state.reset()
        assert deliver(config, ledger, due_only=False).pending == 0
        assert len(webhook.state.deliveries) == 1


# --- 4. the GitHub release body ----------------------------------------------------------

def test_the_github_body_is_edited_only_when_the_verdict_changes(
        demo: Demo, github: Api, secrets_env: dict[str, str], ledger_url: str,
        write_config: Callable[[str], Path]) -> None:
    config = _config(demo, write_config, github=github)
    github.state.add_release("v1", "Notes written on GitHub.")

    def edits() -> int:
        return len([r for r in github.state.received if r.method == "PATCH"])

    with Ledger(ledger_url) as ledger:
        release = _ship(config, ledger)
        for minute, status in enumerate(("green", "green", "green", "red", "red", "green")):
            _seal(config, ledger, release, status, f"2026-11-24T10:0{minute}:00Z")
            assert deliver(config, ledger).errors == []
        assert edits() == 3  # first, broke, recovered
        # A red seal whose edit is still queued when a red re-seal (which queues none) is
        # recorded: the queued edit is still made, since it shows the current verdict.
        _seal(config, ledger, release, "red", "2026-11-24T10:06:00Z")
        _seal(config, ledger, release, "red", "2026-11-24T10:07:00Z")
        assert deliver(config, ledger).errors == []
        assert edits() == 4
    assert "### Smoke seal: 🔴 red" in github.state.releases["v1"]["body"]
