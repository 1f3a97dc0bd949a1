"""Many seals at once, with a flush racing them: nothing lost, nothing sent twice."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from smokeseal.ledger import Ledger
from tests.conftest import Api, Demo, notify_yaml

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
RELEASES = 5
SEALS = 20


@pytest.mark.slow  # a soak
def test_twenty_seals_across_five_releases_with_a_racing_flush(
        demo: Demo, discord: Api, ledger_url: str, write_config: Callable[..., Path],
        secrets_env: dict[str, str]) -> None:
    config = write_config(
        f"apps:\n  demo:\n    url: {demo.url}\n    suite: [{{name: up, get: /up}}]\n"
        + notify_yaml(discord, None))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SMOKESEAL_")},
           **secrets_env, "SMOKESEAL_CONFIG": str(config), "SMOKESEAL_DATABASE_URL": ledger_url}

    def smokeseal(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([str(BIN / "smokeseal"), *args], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    for n in range(RELEASES):
        made = smokeseal("release", "create", "demo", "--version", f"v{n}", "--sha",
                         "3f2a9c1", "--shipped")
        _out, err = made.communicate(timeout=60)
        assert made.returncode == 0, err
    discord.state.delay = 0.05  # every post takes a moment: senders overlap
    seals = [smokeseal("seal", f"demo@v{i % RELEASES}") for i in range(SEALS)]
    flushes = 0
    while any(p.poll() is None for p in seals):
        flush = smokeseal("outbox", "flush", "--budget", "3")
        flush.communicate(timeout=60)
        flushes += 1
    outcomes = [(p.returncode, p.communicate()) for p in seals]
    assert all(code == 0 for code, _ in outcomes), outcomes
    last = smokeseal("outbox", "flush")
    last.communicate(timeout=60)
    assert last.returncode == 0 and flushes >= 1

    with Ledger(ledger_url) as ledger:
        releases = ledger.releases()
        assert len(releases) == RELEASES
        for release in releases:
            history = ledger.seals(release.id)
            assert len(history) == SEALS // RELEASES  # every seal kept
            # The release shows the latest-checked seal of its history (ties: the later
            # recorded), whichever process happened to finish first.
            latest = max(history, key=lambda s: (s["checked_at"], s["id"]))
            assert release.seal_id == latest["id"]
            assert release.smoke_seal == {k: v for k, v in latest.items() if k != "id"}
        messages = ledger.messages(("pending", "failed", "delivered", "superseded"),
                                   limit=1000)

    edits = [m for m in messages if m.kind == "notes_edit"]
    assert {m.status for m in messages if m not in edits} == {"delivered"}
    posts = [m for m in messages if m.kind != "notes_edit"]
    # The notes of each release and its first seal's message: every later seal of it found
    # the same verdict (or was checked before the one shown), and tells the thread nothing.
    assert sorted(m.kind for m in posts) == ["notes"] * RELEASES + ["seal"] * RELEASES
    # Exactly once: every message Discord holds is one the outbox delivered, and no two
    # deliveries produced the same message.
    ids = [m.result["message_id"] for m in posts if m.result]
    assert len(ids) == len(set(ids)) == len(posts)
    assert set(discord.state.messages) == set(ids)
    # A seal's edit of the notes message is sent only while it is its release's latest:
    # one that a later-checked seal overtook before delivery is superseded, never sent, and
    # the latest seal's edit is the last one made to each notes message.
    assert RELEASES <= len(edits) <= SEALS
    assert {m.status for m in edits} <= {"delivered", "superseded"}
    patches = [r for r in discord.state.received if r.method == "PATCH"]
    sent = [m for m in edits if m.status == "delivered"]
    assert len(patches) == len(sent) >= RELEASES
    for release in releases:
        mine = [m for m in sent if m.release_id == release.id]
        assert max(mine, key=lambda m: (m.delivered_at, m.id)).seal_id == release.seal_id
    assert Counter(r.path for r in discord.state.received if r.method == "POST") == \
        Counter({next(iter({r.path for r in discord.state.posts()})): len(posts)})
