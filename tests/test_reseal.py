"""Re-sealing on a schedule: `seal APP --current` seals what production runs now, and a
release sealed again alerts only when its verdict changes (green to red), says once that it
recovered (red to green), and otherwise posts nothing new to the thread."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from smokeseal.config import Config
from smokeseal.ledger import Ledger, NewMessage
from smokeseal.outbox import deliver, told_on
from smokeseal.seal import VerdictChange, verdict_change
from smokeseal.ship import live_release, seal_release
from tests.conftest import Api, Demo, shipped

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


@pytest.mark.unit
@pytest.mark.parametrize(("previous", "current", "change"), [
    (None, "green", "first"), (None, "red", "first"), ("green", "green", "same"),
    ("red", "red", "same"), ("green", "red", "broke"), ("red", "green", "recovered"),
])
def test_verdict_change_names_how_the_verdict_moved(previous: str | None, current: str,
                                                    change: str) -> None:
    assert verdict_change(previous, current) == change


@pytest.mark.unit
def test_told_on_keeps_per_change_what_each_sink_may_hear() -> None:
    messages = [NewMessage(sink, kind, f"{sink}:{kind}", {}) for sink, kind in (
        ("discord", "seal"), ("discord", "notes_edit"), ("discord", "alert"),
        ("github", "release_body"), ("github", "deployment"), ("slack", "seal"),
        ("slack", "notes_edit"), ("slack", "alert"), ("webhook", "seal"))]

    def kept(change: VerdictChange) -> list[str]:
        return [m.key for m in told_on(change, messages)]

    assert kept("first") == kept("broke") == [m.key for m in messages]
    assert kept("recovered") == [m.key for m in messages if m.kind != "alert"]
    # The GitHub body's edit notifies (a `release.edited` event): only on a change.
    assert kept("same") == ["discord:notes_edit", "slack:notes_edit", "webhook:seal"]


def test_a_re_seal_alerts_only_when_the_verdict_changes(
        make_config: Callable[..., Config], discord: Api, github: Api, ledger_url: str,
        demo: Demo) -> None:
    config = make_config(discord, github, deployment_status=True)
    github.state.add_release("v1", "Notes written on GitHub.")

    def thread() -> list[str]:
        """Every post to the thread, as its text: the content, or the embed's title."""
        return [p.json["content"] or p.json["embeds"][0]["title"]
                for p in discord.state.posts()]

    def patches() -> int:
        return len([r for r in discord.state.received if r.method == "PATCH"])

    with Ledger(ledger_url) as ledger:
        result = shipped(config, ledger, "v1")
        release = result.release
        assert thread() == ["**🚀 demo v1 shipped** (`3f2a9c1`) → <" + demo.url + ">\n\n"
                            "## Changes\n- faster tasks", "🟢 demo v1 sealed green"]
        assert len(github.state.deployments) == 1

        def reseal() -> str:
            seal, _ = seal_release(config, ledger, release)
            report = deliver(config, ledger)
            assert report.errors == [] and report.pending == 0
            return seal.status

        # Still green: no thread post, no deployment; only the verdict's edits (checked time).
        assert reseal() == "green"
        assert len(thread()) == 2
        assert patches() == 2
        assert len(github.state.deployments) == 1
        # Broke: the red seal and one alert, to the operator only.
        demo.state.set_faults("devops_exposed")
        assert reseal() == "red"
        assert thread()[2:] == ["🔴 demo v1 sealed red", thread()[3]]
        alert = discord.state.posts()[3].json
        assert alert["content"].startswith("<@111> 🔴 **demo v1**")
        assert alert["allowed_mentions"] == {"parse": [], "users": ["111"]}
        assert [d["statuses"][0]["state"] for d in github.state.deployments.values()] == [
            "success", "failure"]
        # Still red: no second alert, nothing new in the thread.
        assert reseal() == "red"
        assert len(thread()) == 4
        assert len(github.state.deployments) == 2
        # Recovered: one short message, no mention, threaded like the seal.
        demo.state.set_faults()
        assert reseal() == "green"
        assert len(thread()) == 5
        recovered = discord.state.posts()[4]
        assert recovered.json["content"].startswith(
            "🟢 **demo v1** (`3f2a9c1`) recovered: sealed green again · 6/6 passed")
        assert recovered.json["allowed_mentions"] == {"parse": []}
        assert "<@" not in recovered.json["content"]
        assert recovered.query == discord.state.posts()[1].query  # the same thread
        assert [d["statuses"][0]["state"] for d in github.state.deployments.values()] == [
            "success", "failure", "success"]
        # Each seal edited what shows the verdict; the notes message shows the latest.
        assert patches() == 5
        [notes] = [m for m in discord.state.messages.values()
                   if m["content"].startswith("**🚀")]
        assert "**Seal:** 🟢 green · 6/6 passed · checked " in notes["content"]
        body = github.state.releases["v1"]["body"]
        assert "### Smoke seal: 🟢 green" in body and "🔴" not in body
        kinds = [sorted(m.kind for m in ledger.release_messages(release.id)
                        if m.seal_id == seal["id"]) for seal in ledger.seals(release.id)]
        assert kinds == [
            ["deployment", "deployment_status", "notes_edit", "release_body", "seal"],
            ["notes_edit"],
            ["alert", "deployment", "deployment_status", "notes_edit", "release_body", "seal"],
            ["notes_edit"],
            ["deployment", "deployment_status", "notes_edit", "recovered", "release_body"],
        ]


def test_the_first_seal_of_each_release_alerts_as_before(
        make_config: Callable[..., Config], discord: Api, ledger_url: str,
        demo: Demo) -> None:
    config = make_config(discord)
    demo.state.set_faults("devops_exposed")
    with Ledger(ledger_url) as ledger:
        shipped(config, ledger, "v1")
        shipped(config, ledger, "v2")  # red again, but a new release: its own first seal
    alerts = [p for p in discord.state.posts() if p.json["content"].startswith("<@111>")]
    assert len(alerts) == 2


def test_sealing_the_release_a_rollback_put_back_confirms_it_in_the_thread(
        make_config: Callable[..., Config], discord: Api, ledger_url: str,
        demo: Demo) -> None:
    config = make_config(discord)
    with Ledger(ledger_url) as ledger:
        shipped(config, ledger, "v1")
        demo.state.set_faults("devops_exposed")
        bad = shipped(config, ledger, "v2")
        demo.state.set_faults()
        ledger.abandon(bad.release.id)  # the operator rolled back
        live = live_release(ledger, config, "demo")
        assert live.version == "v1"
        before = len(discord.state.posts())
        # v1 was green before v2 shipped; production ran v2 since, so this seal of v1 is
        # told like a first seal: the thread sees production is green again.
        seal, _ = seal_release(config, ledger, live)
        assert deliver(config, ledger).errors == []
        new = discord.state.posts()[before:]
        assert seal.green
        assert [p.json["embeds"][0]["title"] for p in new] == ["🟢 demo v1 sealed green"]
        # The cron run after it: the same verdict, nothing new.
        seal_release(config, ledger, live)
        assert deliver(config, ledger).errors == []
        assert len(discord.state.posts()) == before + 1


# --- `smokeseal seal APP --current`, through the command line --------------------------

def cli(*args: str, config: Path, ledger_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMOKESEAL_")}
    env.update(SMOKESEAL_CONFIG=str(config), SMOKESEAL_DATABASE_URL=ledger_url)
    return subprocess.run([str(BIN / "smokeseal"), *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


@pytest.fixture
def http_config(demo: Demo, write_config: Callable[[str], Path]) -> Path:
    return write_config(f"apps:\n  demo:\n    url: {demo.url}\n"
                        "    suite: [{name: up, get: /up}]\n"
                        f"  other:\n    url: {demo.url}\n    suite: [{{get: /up}}]\n")


def test_current_seals_the_newest_shipped_release(http_config: Path,
                                                  ledger_url: str) -> None:
    with Ledger(ledger_url) as ledger:
        v1 = ledger.mark_shipped(ledger.create_release("demo", "v1", "1111111").id)
        v2 = ledger.mark_shipped(ledger.create_release("demo", "v2", "2222222").id)
        ledger.abandon(v2.id)  # rolled back: production runs v1 again
        ledger.create_release("demo", "v3", "3333333")  # assembled, never shipped
        ledger.mark_shipped(ledger.create_release("other", "v9", "9999999").id)
    done = cli("seal", "demo", "--current", "--json", config=http_config,
               ledger_url=ledger_url)
    assert done.returncode == 0, done.stderr
    assert '"version": "v1"' in done.stdout
    with Ledger(ledger_url) as ledger:
        assert [len(ledger.seals(r.id)) for r in ledger.releases("demo")] == [0, 0, 1]
        assert ledger.release(v1.id).seal_status == "green"


@pytest.mark.parametrize(("args", "message"), [
    (["seal", "demo", "--current"], "error: --current: app 'demo' has no shipped release in "
                                    "the ledger; record one with `smokeseal release create"),
    (["seal", "demo@v1", "--current"], "error: --current: seals the release of APP that is "
                                       "live now; give APP, not a release ('demo@v1')"),
    (["seal", "1", "--current"], "error: --current: seals the release of APP that is live "
                                 "now; give APP, not a release ('1')"),
    (["seal", "nope", "--current"], "error: unknown app 'nope'"),
    (["seal", "demo"], "error: RELEASE: 'demo' is an app, not a release; to seal the "
                       "release of it that is live now: smokeseal seal demo --current"),
])
def test_current_refuses_what_it_cannot_seal(http_config: Path, ledger_url: str,
                                             args: list[str], message: str) -> None:
    with Ledger(ledger_url) as ledger:
        # Only an assembled and an abandoned release: nothing of demo is live.
        ledger.create_release("demo", "v1", "1111111")
        ledger.abandon(ledger.mark_shipped(ledger.create_release("demo", "v0",
                                                                 "0000000").id).id)
    done = cli(*args, config=http_config, ledger_url=ledger_url)
    assert done.returncode == 2
    assert done.stderr.startswith(message), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    with Ledger(ledger_url) as ledger:
        assert all(ledger.seals(r.id) == [] for r in ledger.releases())
