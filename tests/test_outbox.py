"""Messages reach Discord and GitHub exactly once, whatever they do; secrets never leak."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import pytest
from sqlalchemy import text

from smokeseal.config import Config, load_config
from smokeseal.demo import HOSTILE
from smokeseal.ledger import Ledger
from smokeseal.outbox import deliver
from smokeseal.ship import resolve_release, ship
from tests.conftest import THREAD, Api, Broken, Demo, notify_yaml, shipped
from tests.standins import (
    DISCORD_TOKEN,
    GITHUB_TOKEN,
    SLACK_TOKEN,
    WEBHOOK_PATH,
    WEBHOOK_SECRET,
)

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


def test_a_green_ship_posts_notes_and_seal_to_the_thread(
        make_config: Callable[..., Config], discord: Api, ledger_url: str) -> None:
    config = make_config(discord)
    with Ledger(ledger_url) as ledger:
        result = shipped(config, ledger, "v1")
        assert result.warnings == []
        posts = discord.state.posts()
        assert len(posts) == 2  # notes, then the seal; no alert on green
        assert all(p.query == {"wait": "true", "thread_id": THREAD} for p in posts)
        notes, seal = posts
        assert notes.json["content"].startswith("**🚀 demo v1 shipped** (`3f2a9c1`)")
        assert "- faster tasks" in notes.json["content"]
        assert seal.json["embeds"][0]["title"] == "🟢 demo v1 sealed green"
        assert seal.json["embeds"][0]["color"] == 0x2EA043
        for post in posts:
            assert post.json["allowed_mentions"] == {"parse": []}
        [edit] = [r for r in discord.state.received if r.method == "PATCH"]
        assert edit.query == {"thread_id": THREAD}
        edited = discord.state.messages[edit.path.rsplit("/", 1)[-1]]
        assert "**Seal:** 🟢 green · 6/6 passed · checked " in edited["content"]
        assert edited["content"].endswith(" UTC")
        assert edited["content"].startswith("**🚀 demo v1 shipped**")
        stored = ledger.release("demo@v1")
        assert stored.notes is not None
        assert stored.notes.startswith("## Changes\n- faster tasks\n\n<!-- smokeseal:seal -->")
        assert "### Smoke seal: 🟢 green" in stored.notes
        assert ledger.messages(("pending", "failed")) == []


def test_a_red_ship_alerts_only_the_operator(make_config: Callable[..., Config], discord: Api,
                                             ledger_url: str, demo: Demo) -> None:
    config = make_config(discord)
    with Ledger(ledger_url) as ledger:
        shipped(config, ledger, "v1")
        demo.state.set_faults("devops_exposed")
        result = shipped(config, ledger, "v2")
        assert result.seal is not None and not result.seal.green
        posts = discord.state.posts()
        alerts = [p for p in posts if p.json["content"].startswith("<@111>")]
        assert len(alerts) == 1
        alert = alerts[0].json
        assert alert["allowed_mentions"] == {"parse": [], "users": ["111"]}
        assert ("```\nsmokeseal release abandon 2\n"
                "git revert 3f2a9c1 # on main, if 3f2a9c1 is a single commit\n"
                "git revert -m 1 3f2a9c1 # on main, if 3f2a9c1 is a merge commit\n```"
                ) in alert["content"]
        assert "Last green release: v1 (`3f2a9c1`)" in alert["content"]
        for post in posts:
            if post is not alerts[0]:
                assert post.json["allowed_mentions"] == {"parse": []}
        notes = ledger.release("demo@v2").notes or ""
        assert "### Smoke seal: 🔴 red" in notes
        assert "git revert -m 1 3f2a9c1 # on main, if 3f2a9c1 is a merge commit" in notes


def test_production_text_is_neutralised(make_config: Callable[..., Config], discord: Api,
                                        tmp_path: Path, demo: Demo) -> None:
    config = make_config(discord, suite="[{name: home, page: /, expect: {title: Demo Studio}}]")
    demo.state.set_faults("hostile_text")
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        result = shipped(config, ledger, "v1")
        assert result.seal is not None and HOSTILE in result.seal.summary
    texts = [p.json["content"] + json.dumps(p.json.get("embeds", []), ensure_ascii=False)
             for p in discord.state.posts()]
    everything = "\n".join(texts)
    assert "@everyone" not in everything and "<@&1>" not in everything
    assert "@\u200beveryone" in everything
    assert "**pwned**" not in everything and "\\*\\*pwned\\*\\*" in everything
    assert "[click](" not in everything
    # The only code block in the alert is the rollback one: production text could not open one.
    alert = next(t for t in texts if t.startswith("<@111>"))
    assert alert.count("```") == 2


def test_two_429s_are_honoured_and_nothing_is_sent_twice(
        make_config: Callable[..., Config], discord: Api, ledger_url: str) -> None:
    config = make_config(discord)
    discord.state.fail_next("429", "429")
    with Ledger(ledger_url) as ledger:
        result = shipped(config, ledger, "v1")
        assert result.warnings == []
    posts = discord.state.posts()
    assert len(posts) == 4  # the notes asked three times (two 429s), then the seal
    first, second, third = posts[:3]
    assert first.json == second.json == third.json
    assert second.at - first.at >= 0.25 and third.at - second.at >= 0.25  # retry_after
    assert len(discord.state.messages) == 2


def test_an_outage_leaves_messages_for_flush_and_the_seal_recorded(
        make_config: Callable[..., Config], discord: Api, ledger_url: str,
        secrets_env: dict[str, str], write_config: Callable[[str], Path]) -> None:
    config = make_config(discord)
    assert config.path is not None
    discord.state.down = True
    with Ledger(ledger_url) as ledger:
        result = shipped(config, ledger, "v1")
        assert result.release.state == "shipped"
        assert result.seal is not None and result.seal.green
        assert ledger.release("demo@v1").smoke_seal is not None
        assert any("still queued" in w for w in result.warnings)
        pending = ledger.messages(("pending",))
        assert [(m.kind, m.status) for m in pending] == [
            ("notes", "pending"), ("seal", "pending"), ("notes_edit", "pending")]
    env = {**os.environ, "SMOKESEAL_CONFIG": str(config.path),
           "SMOKESEAL_DATABASE_URL": ledger_url, **secrets_env}
    listed = subprocess.run([str(BIN / "smokeseal"), "outbox", "list", "--json"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 1
    errors = [m["last_error"] for m in json.loads(listed.stdout)]
    assert errors[0] == "discord: posting the notes message: server error 503"
    # The seal and the edit are queued behind the notes in the thread: not tried yet.
    assert errors[1:] == [None, None], errors
    still_down = subprocess.run([str(BIN / "smokeseal"), "outbox", "flush", "--budget", "3"],
                                env=env, capture_output=True, text=True, timeout=60)
    assert still_down.returncode == 1
    discord.state.down = False
    flushed = subprocess.run([str(BIN / "smokeseal"), "outbox", "flush"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert flushed.returncode == 0, flushed.stderr
    assert flushed.stdout.strip() == "delivered 3, still pending 0, failed for good 0"
    assert len(discord.state.messages) == 2
    delivered = [p for p in discord.state.posts() if p.json and "content" in p.json]
    kinds = {("notes" if "shipped" in p.json["content"] else "seal") for p in delivered}
    assert kinds == {"notes", "seal"}
    assert [m["edited"] for m in discord.state.messages.values()
            if m["content"].startswith("**🚀")] == [True]
    for output in (listed, still_down, flushed):
        assert DISCORD_TOKEN not in output.stdout + output.stderr


def test_a_dead_webhook_fails_for_good_without_retrying(
        make_config: Callable[..., Config], discord: Api, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_WEBHOOK_URL",
                       discord.state.webhook_url(discord.url).replace(DISCORD_TOKEN, "revoked"))
    config = make_config(discord)
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        result = shipped(config, ledger, "v1")
        assert result.seal is not None and result.seal.green
        failed = ledger.messages(("failed",))
        assert {m.kind for m in failed} == {"notes", "seal"}
        notes = next(m for m in failed if m.kind == "notes")
        assert notes.last_error == ("discord: posting the notes message: refused with 401: "
                                    "Invalid Webhook Token (code 50027)")
        # No notes message: nothing to edit, so the edit is skipped, not failed.
        [edit] = [m for m in ledger.release_messages(result.release.id)
                  if m.kind == "notes_edit"]
        assert (edit.status, edit.result) == ("delivered", {
            "skipped": "no release-notes message to edit: it was never delivered"})
    assert len(discord.state.posts()) == 2  # one try each: a 401 is never retried


def test_long_text_is_cut_to_discords_limits(make_config: Callable[..., Config],
                                             discord: Api, tmp_path: Path, demo: Demo) -> None:
    padding = "x" * 80
    checks = ", ".join(f"{{name: 'hidden route number {i} {padding}', get: /devops, "
                       f"expect: {{status: 404}}}}" for i in range(60))
    config = make_config(discord, suite=f"[{checks}]")
    demo.state.set_faults("devops_exposed")
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        result = shipped(config, ledger, "v1", notes="## Notes\n" + "a very long line\n" * 400)
        assert result.warnings == [], result.warnings
        assert ledger.messages(("pending", "failed")) == []
    for message in discord.state.messages.values():
        assert len(message["content"]) <= 2000
    assert any("(cut; the whole notes: smokeseal release show 1)" in m["content"]
               for m in discord.state.messages.values())


def test_github_gets_the_seal_section_and_a_deployment_status(
        make_config: Callable[..., Config], discord: Api, github: Api, ledger_url: str,
        demo: Demo) -> None:
    github.state.add_release("v1", "Release notes written on GitHub.")
    config = make_config(None, github, deployment_status=True)
    github.state.fail_next("primary")  # 403 with x-ratelimit-remaining: 0, reset in 1 s
    with Ledger(ledger_url) as ledger:
        result = shipped(config, ledger, "v1")
        assert result.warnings == []
        body = github.state.releases["v1"]["body"]
        assert body.startswith("Release notes written on GitHub.\n\n<!-- smokeseal:seal -->")
        assert "### Smoke seal: 🟢 green" in body
        [deployment] = github.state.deployments.values()
        assert deployment["ref"] == "3f2a9c1dead"
        assert deployment["statuses"] == [{
            "state": "success", "environment_url": demo.url,
            "description": "smoke seal green: 6/6 passed"}]
        # A re-seal replaces the section rather than stacking a second one.
        from smokeseal.ship import seal_release

        demo.state.set_faults("up_500")
        seal_release(config, ledger, result.release)
        deliver(config, ledger)
        body = github.state.releases["v1"]["body"]
        assert body.count("<!-- smokeseal:seal -->") == 1
        assert "### Smoke seal: 🔴 red" in body
    tokens = [r.headers.get("authorization") for r in github.state.received]
    assert set(tokens) == {f"Bearer {GITHUB_TOKEN}"}


def test_secrets_never_reach_the_ledger(make_config: Callable[..., Config], discord: Api,
                                        github: Api, slack: Api, webhook: Api,
                                        slack_env: dict[str, str], ledger_url: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    github.state.add_release("v1", None)
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", "http://127.0.0.1:9/api/webhooks/1/" + DISCORD_TOKEN)
    # Dead webhooks (errors are recorded), and a Slack that refuses the token it is sent.
    monkeypatch.setenv("SMOKESEAL_WEBHOOK_URL", "http://127.0.0.1:9" + WEBHOOK_PATH)
    monkeypatch.setenv("SLACK_BOT_TOKEN", SLACK_TOKEN + "-revoked")
    config = make_config(discord, github, slack=slack, webhook=webhook)
    with Ledger(ledger_url) as ledger:
        shipped(config, ledger, "v1")
        with ledger.engine.connect() as conn:
            dump = "".join(str(row) for table in ("releases", "seals", "outbox")
                           for row in conn.execute(text(f"select * from {table}")))
    assert "could not reach it" in dump and "invalid_auth" in dump
    for secret in (DISCORD_TOKEN, GITHUB_TOKEN, SLACK_TOKEN, WEBHOOK_SECRET,
                   WEBHOOK_PATH.rsplit("/", 1)[1]):
        assert secret not in dump, secret[:8]


def test_a_flush_racing_a_ship_delivers_each_message_once(
        make_config: Callable[..., Config], discord: Api, ledger_url: str,
        secrets_env: dict[str, str]) -> None:
    config = make_config(discord)
    assert config.path is not None
    discord.state.delay = 0.15  # widen the window in which two senders could collide
    env = {**os.environ, "SMOKESEAL_CONFIG": str(config.path),
           "SMOKESEAL_DATABASE_URL": ledger_url, **secrets_env}
    ship_process = subprocess.Popen(
        [str(BIN / "smokeseal"), "ship", "demo", "--version", "v1", "--sha", "3f2a9c1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    flushes = 0
    while ship_process.poll() is None:
        subprocess.run([str(BIN / "smokeseal"), "outbox", "flush", "--budget", "2"], env=env,
                       capture_output=True, timeout=60)
        flushes += 1
    _out, err = ship_process.communicate()
    assert ship_process.returncode == 0, err
    assert flushes >= 1
    contents = [p.json["content"] or p.json["embeds"][0]["title"]
                for p in discord.state.posts()]
    assert len(contents) == len(set(contents)) == 2, contents
    assert len([r for r in discord.state.received if r.method == "PATCH"]) == 1


@pytest.mark.e2e
def test_ship_exits_0_through_a_discord_outage(make_config: Callable[..., Config], discord: Api,
                                               tmp_path: Path,
                                               secrets_env: dict[str, str]) -> None:
    config = make_config(discord)
    assert config.path is not None
    discord.state.down = True
    env = {**os.environ, "SMOKESEAL_CONFIG": str(config.path),
           "SMOKESEAL_DATABASE_URL": f"sqlite:///{tmp_path}/l.db", **secrets_env}
    done = subprocess.run([str(BIN / "smokeseal"), "ship", "demo", "--version", "v1", "--sha",
                           "3f2a9c1"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "🟢 green · 6/6 passed" in done.stdout
    assert "still queued; deliver them with `smokeseal outbox flush`" in done.stderr
    assert DISCORD_TOKEN not in done.stdout + done.stderr


def test_a_flaky_check_is_named_in_discord_and_the_notes(
        broken: Broken, discord: Api, write_config: Callable[[str], Path],
        browser_executable: str, secrets_env: dict[str, str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SMOKESEAL_BROWSER", browser_executable)
    broken.fault("flaky")
    config = load_config(write_config(
        f"apps:\n  shop:\n    url: {broken.url}\n    gate: {{timeout: 3, interval: 0.2}}\n"
        + notify_yaml(discord, None)))
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        release = resolve_release(ledger, config, "shop", version="v1", sha="3f2a9c1",
                                  notes="## Changes")
        result = ship(config, ledger, release)
        assert result.seal is not None and result.seal.status == "green"
        notes = ledger.release(release.id).notes or ""
    [embed] = next(p.json["embeds"] for p in discord.state.posts() if p.json.get("embeds"))
    assert "⚠ **home renders** is flaky: expected 200, got 500 on the first try" \
        in embed["description"]
    assert embed["title"].endswith("sealed green")
    assert "1 flaky: home renders (expected 200, got 500 on the first try)" in notes
    edits = [r.json["content"] for r in discord.state.received if r.method == "PATCH"]
    assert any("1 flaky: home renders" in edit for edit in edits)
    assert not any(p.json["content"].startswith("<@111>") for p in discord.state.posts())


#: httpx refuses this address before sending anything (``InvalidURL``); the config cannot
#: see it (a trailing newline it can, and refuses at load).
BAD_PORT = "http://127.0.0.1:abc/api/webhooks/1187000000000000001/" + DISCORD_TOKEN


def test_an_invalid_webhook_url_fails_its_messages_and_others_still_go(
        make_config: Callable[..., Config], discord: Api, github: Api, ledger_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    github.state.add_release("v1", "Notes.")
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", BAD_PORT)
    config = make_config(discord, github)
    with Ledger(ledger_url) as ledger:
        result = shipped(config, ledger, "v1")
        assert result.seal is not None and result.seal.green
        assert not any("could not deliver messages" in w for w in result.warnings)
        assert ledger.messages(("pending",)) == []
        failed = ledger.messages(("failed",))
        assert {m.kind for m in failed} == {"notes", "seal"}  # the edit: skipped
        notes = next(m for m in failed if m.kind == "notes")
        assert notes.last_error == ("discord: notes: invalid URL: InvalidURL: "
                                    "Invalid port: 'abc'")
        assert all(DISCORD_TOKEN not in (m.last_error or "") for m in failed)
    assert "### Smoke seal: 🟢 green" in github.state.releases["v1"]["body"]
    assert discord.state.received == []


def test_flush_records_an_invalid_webhook_url_and_delivers_the_rest(
        make_config: Callable[..., Config], discord: Api, github: Api, tmp_path: Path,
        secrets_env: dict[str, str]) -> None:
    github.state.add_release("v1", "Notes.")
    config = make_config(discord, github)
    assert config.path is not None
    discord.state.down = True
    github.state.fail_next("500", "500", "500")  # GitHub down for the whole ship too
    ledger_url = f"sqlite:///{tmp_path}/l.db"
    with Ledger(ledger_url) as ledger:
        shipped(config, ledger, "v1")
        assert {m.sink for m in ledger.messages(("pending",))} == {"discord", "github"}
    env = {**os.environ, "SMOKESEAL_CONFIG": str(config.path),
           "SMOKESEAL_DATABASE_URL": ledger_url, **secrets_env,
           "DISCORD_WEBHOOK_URL": BAD_PORT}
    flushed = subprocess.run([str(BIN / "smokeseal"), "outbox", "flush", "--budget", "5"],
                             env=env, capture_output=True, text=True, timeout=60)
    assert flushed.returncode == 0, flushed.stderr
    # Discord's notes and seal fail for good; its notes edit is skipped (nothing to edit).
    assert flushed.stdout.strip() == "delivered 1, still pending 0, failed for good 2"
    assert "invalid URL: InvalidURL: Invalid port: 'abc'" in flushed.stderr
    assert DISCORD_TOKEN not in flushed.stdout + flushed.stderr
    assert "### Smoke seal: 🟢 green" in github.state.releases["v1"]["body"]
    with Ledger(ledger_url) as ledger:
        assert ledger.messages(("pending",)) == []


def test_a_version_with_url_characters_reaches_github_as_that_exact_tag(
        make_config: Callable[..., Config], github: Api, tmp_path: Path) -> None:
    version = "v1.0.0+build#5?x%"
    github.state.add_release(version, "Notes.")
    config = make_config(None, github)
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        result = shipped(config, ledger, version)
        assert result.warnings == [], result.warnings
        assert ledger.messages(("pending", "failed")) == []
    [get] = [r for r in github.state.received if r.method == "GET"]
    # The stand-in looks the release up by the tag it decoded from one path segment.
    assert unquote(get.path) == f"/repos/acme/studio/releases/tags/{version}"
    assert get.query == {}
    assert "### Smoke seal: 🟢 green" in github.state.releases[version]["body"]
