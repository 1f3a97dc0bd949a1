"""Claims are fair across sinks and never wait on another flusher's: a dead webhook's backlog
cannot starve GitHub, and two flushers on PostgreSQL never take (or block on) one message."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from smokeseal.config import Config, load_config
from smokeseal.ledger import PER_LANE, Ledger, NewMessage, Release
from smokeseal.outbox import deliver
from smokeseal.sinks.text import seal_section
from tests.conftest import Api, Demo, notify_yaml

pytestmark = pytest.mark.integration

BACKLOG = 150


def _config(demo: Demo, discord: Api, github: Api, write_config: Callable[[str], Path]
            ) -> Config:
    return load_config(write_config(
        f"apps:\n  demo:\n    url: {demo.url}\n    suite: [{{name: up, get: /up}}]\n"
        + notify_yaml(discord, github)))


def _backlog(release: Release) -> list[NewMessage]:
    posts = [NewMessage("discord", "seal", f"backlog:{release.id}:{n}",
                        {"content": f"old seal {n}", "allowed_mentions": {"parse": []}})
             for n in range(BACKLOG)]
    section = seal_section({"status": "green", "summary": "1/1 passed", "checks": [],
                            "checked_at": "2026-11-24T10:00:00Z", "base_url": "https://a.test",
                            "duration_ms": 5, "rollback": []})
    return [*posts, NewMessage("github", "release_body", f"github:{release.id}",
                               {"tag": "v1", "section": section})]


def test_a_dead_webhooks_backlog_does_not_starve_github(
        demo: Demo, discord: Api, github: Api, ledger_url: str,
        write_config: Callable[[str], Path], secrets_env: dict[str, str]) -> None:
    config = _config(demo, discord, github, write_config)
    github.state.add_release("v1", "Notes written on GitHub.")
    discord.state.down = True
    with Ledger(ledger_url) as ledger:
        ledger.mark_shipped(ledger.create_release("demo", "v1", "3f2a9c1").id,
                            messages=_backlog)
        report = deliver(config, ledger)
        [told] = report.delivered
        assert (told.sink, told.kind) == ("github", "release_body")
        assert "### Smoke seal: 🟢 green" in github.state.releases["v1"]["body"]
        waiting = ledger.messages(("pending",), limit=1000)
        assert len(waiting) == BACKLOG and {m.sink for m in waiting} == {"discord"}
    # The dead sink was asked about its oldest message only, not about all 150.
    assert {r.json["content"] for r in discord.state.posts()} == {"old seal 0"}


def _seed(ledger: Ledger, lanes: dict[str, int]) -> None:
    """``lanes``: how many due messages to queue per sink, on one release."""
    release = ledger.mark_shipped(ledger.create_release("demo", "v1", "3f2a9c1").id,
                                  messages=lambda r: [
                                      NewMessage(sink, "seal", f"{sink}:{n}", {"n": n})
                                      for sink, count in lanes.items() for n in range(count)])
    assert release.state == "shipped"


def test_a_claim_takes_a_bounded_share_of_each_sink_in_turn(ledger_url: str) -> None:
    with Ledger(ledger_url) as ledger:
        _seed(ledger, {"discord": 3, "github": 30})
        claimed = ledger.claim("one", 60, ordered=[("discord", None)])
        # Round robin: GitHub's first message is not behind Discord's share, nor Discord's
        # behind GitHub's.
        assert [m.sink for m in claimed[:3]] == ["discord", "github", "github"]
        assert [m.payload["n"] for m in claimed if m.sink == "github"] == list(range(PER_LANE))
        # Discord is a thread people read: a release's next message waits for the one before.
        [first] = [m for m in claimed if m.sink == "discord"]
        assert first.payload["n"] == 0
        second = ledger.claim("two", 60, ordered=[("discord", None)])
        assert [(m.sink, m.payload["n"]) for m in second] == [
            ("github", n) for n in range(PER_LANE, 30)]
        assert ledger.finish(first.id, "one", attempted=True, delivered=True, result={})
        assert [(m.sink, m.payload["n"]) for m in ledger.claim("two", 60,
                                                              ordered=[("discord", None)])] == [
            ("discord", 1)]


def test_a_claim_on_postgres_skips_rows_another_claim_holds_instead_of_waiting(
        postgres_url: str) -> None:
    # A claim that waited on a lock would fail here (lock_timeout) instead of hanging.
    impatient = make_url(postgres_url).update_query_dict({"options": "-c lock_timeout=3000"})
    with Ledger(impatient.render_as_string(hide_password=False)) as ledger:
        _seed(ledger, {"discord": 5, "github": 2})
        other = create_engine(postgres_url)
        try:
            with other.connect() as conn, conn.begin():
                # Another flusher, in the middle of its claim, holds Discord's messages.
                held = conn.execute(text(
                    "SELECT id FROM outbox WHERE sink = 'discord' ORDER BY id "
                    "FOR UPDATE")).scalars().all()
                assert len(held) == 5
                claimed = ledger.claim("me", 60)
                assert [(m.sink, m.payload["n"]) for m in claimed] == [("github", 0),
                                                                       ("github", 1)]
        finally:
            other.dispose()
        # Once that claim is over (it took nothing here), Discord's are free again.
        assert [m.payload["n"] for m in ledger.claim("me-again", 60)] == [0, 1, 2, 3, 4]


def test_two_flushers_on_postgres_never_claim_the_same_message(postgres_url: str) -> None:
    lanes = {f"sink{n}": 30 for n in range(6)}
    ordered = [("sink0", None), ("sink1", None), ("sink2", None)]
    with Ledger(postgres_url) as ledger:
        _seed(ledger, lanes)
    delivered: list[tuple[str, int]] = []  # in the order the two flushers delivered them
    lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def flusher(name: str) -> None:
        try:
            with Ledger(postgres_url, migrate=False) as mine:
                start.wait()
                while batch := mine.claim(name, 60, per_lane=7, ordered=ordered):
                    for message in batch:
                        with lock:
                            delivered.append((message.sink, message.payload["n"]))
                            assert mine.finish(message.id, name, attempted=True,
                                               delivered=True, result={})
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=flusher, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not errors, errors
    assert len(delivered) == len(set(delivered)) == sum(lanes.values())
    for sink, _kind in ordered:  # one release's messages in a thread: in order, across flushers
        assert [n for s, n in delivered if s == sink] == list(range(30))
