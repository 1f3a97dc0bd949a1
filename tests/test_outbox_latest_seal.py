"""Only the release's latest seal edits what shows its current verdict (the Discord notes
message, the GitHub release body); an older seal delivered later (recorded before the newer
one, delivered after it was recorded) still posts its own message, true for the moment it
was checked. An older seal *recorded* after a newer one queues nothing but its webhook
record: ``test_outbox_hardening.py::test_a_late_reseal_tells_only_its_record_...``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from smokeseal.config import Config, load_config
from smokeseal.ledger import Ledger, Release
from smokeseal.outbox import deliver, messages_for_seal, messages_for_ship, notes_with_seal
from smokeseal.seal import Seal
from tests.conftest import Api, Demo, notify_yaml

pytestmark = pytest.mark.integration


def _config(demo: Demo, discord: Api, github: Api, write_config: Callable[[str], Path]
            ) -> Config:
    return load_config(write_config(
        f"apps:\n  demo:\n    url: {demo.url}\n    suite: [{{name: up, get: /up}}]\n"
        + notify_yaml(discord, github)))


def _seal(config: Config, ledger: Ledger, release: Release, status: str,
          checked_at: str) -> int:
    seal = Seal(status=status, summary=f"{status} at {checked_at}", checked_at=checked_at,
                base_url="https://a.test", duration_ms=5, checks=[])
    _, seal_id = ledger.record_seal(release.id, seal.to_dict(),
                                    messages=messages_for_seal(config, release, seal),
                                    notes=notes_with_seal(seal))
    return seal_id


def test_an_older_seal_delivered_last_does_not_overwrite_the_newer_verdict(
        demo: Demo, discord: Api, github: Api, ledger_url: str,
        write_config: Callable[[str], Path], secrets_env: dict[str, str]) -> None:
    config = _config(demo, discord, github, write_config)
    github.state.add_release("v1", "Notes written on GitHub.")
    with Ledger(ledger_url) as ledger:
        release = ledger.mark_shipped(ledger.create_release("demo", "v1", "3f2a9c1").id,
                                      messages=messages_for_ship(config))
        deliver(config, ledger)
        # The older seal (checked at 10:00) is recorded, and before any flush delivers it
        # the newer one (checked at 10:05) is too; then everything is delivered.
        older = _seal(config, ledger, release, "red", "2026-11-24T10:00:00Z")
        newer = _seal(config, ledger, release, "green", "2026-11-24T10:05:00Z")
        report = deliver(config, ledger)
        assert report.errors == [] and report.pending == 0
        assert ledger.release(release.id).seal_id == newer
        skipped = {m.kind: m for m in ledger.release_messages(release.id)
                   if m.status == "superseded"}
        assert set(skipped) == {"notes_edit", "release_body"}
        assert all(m.result == {"superseded_by": newer} for m in skipped.values())
        assert all(m.key.startswith(f"seal:{older}:") for m in skipped.values())
    [notes] = [m for m in discord.state.messages.values() if m["content"].startswith("**🚀")]
    assert notes["content"].endswith("**Seal:** 🟢 green · green at 2026-11-24T10:05:00Z · "
                                     "checked 2026-11-24 10:05:00 UTC")
    body = github.state.releases["v1"]["body"]
    assert "### Smoke seal: 🟢 green" in body and "🔴" not in body
    # The older seal still told the thread its own result, and alerted the operator.
    titles = [e["title"] for m in discord.state.messages.values() for e in m["embeds"]]
    assert titles == ["🔴 demo v1 sealed red", "🟢 demo v1 sealed green"]
    assert any(p.json["content"].startswith("<@111>") for p in discord.state.posts())
    # Each edit of what shows the verdict was made once, by the newer seal.
    assert len([r for r in discord.state.received if r.method == "PATCH"]) == 1
    assert len([r for r in github.state.received if r.method == "PATCH"]) == 1
