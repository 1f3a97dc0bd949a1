"""The GitHub release is often made after the deploy (and a draft answers 404): the seal
section waits for it, for a bounded time measured from when the message was queued."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from smokeseal.config import Config, load_config
from smokeseal.ledger import Ledger, Message, Release
from smokeseal.models import OutboxRow
from smokeseal.outbox import deliver, messages_for_seal, notes_with_seal
from smokeseal.seal import Seal
from tests.conftest import Api, Demo, notify_yaml

pytestmark = pytest.mark.integration


def _config(demo: Demo, github: Api, write_config: Callable[[str], Path],
            extra: str = "") -> Config:
    return load_config(write_config(
        f"apps:\n  demo:\n    url: {demo.url}\n    suite: [{{name: up, get: /up}}]\n"
        + notify_yaml(None, github).rstrip("}\n") + extra + "}\n"))


def _sealed(config: Config, ledger: Ledger, version: str) -> Release:
    release = ledger.mark_shipped(ledger.create_release("demo", version, "3f2a9c1").id)
    seal = Seal(status="green", summary="1/1 passed", checked_at="2026-11-24T10:00:00Z",
                base_url="https://a.test", duration_ms=5, checks=[])
    recorded, _ = ledger.record_seal(release.id, seal.to_dict(),
                                     messages=messages_for_seal(config, release, seal),
                                     notes=notes_with_seal(seal))
    return recorded


def _body_message(ledger: Ledger, release: Release) -> Message:
    [message] = [m for m in ledger.release_messages(release.id) if m.kind == "release_body"]
    return message


def _let_time_pass(ledger: Ledger, message: Message, by: timedelta) -> None:
    """Every wait of the message ends ``by`` sooner: its next try and any hold on it."""
    with Session(ledger.engine) as session, session.begin():
        row = session.get(OutboxRow, message.id)
        assert row is not None
        row.created_at -= by
        row.next_attempt_at -= by
        if row.claimed_until is not None:
            row.claimed_until -= by


def test_a_release_made_after_the_deploy_gets_its_seal_section_on_a_later_flush(
        demo: Demo, github: Api, ledger_url: str, write_config: Callable[[str], Path],
        secrets_env: dict[str, str]) -> None:
    config = _config(demo, github, write_config)
    with Ledger(ledger_url) as ledger:
        release = _sealed(config, ledger, "v1.2")
        report = deliver(config, ledger)
        assert report.delivered == [] and report.failed == 0 and report.pending == 1
        message = _body_message(ledger, release)
        until = (message.created_at + timedelta(hours=24)).strftime("%Y-%m-%d %H:%M UTC")
        assert message.status == "pending"
        assert message.last_error == report.errors[0] == (
            f"github: GitHub has no release for tag v1.2 yet; retrying until {until}")
        # Asked once, not hammered: the next try waits for a later run.
        assert [r.method for r in github.state.received] == ["GET", "GET"]  # tag, then repo
        assert message.next_attempt_at > datetime.now(UTC)
        assert deliver(config, ledger).delivered == []  # not due yet
        assert len(github.state.received) == 2

        github.state.add_release("v1.2", "Published an hour later.")
        _let_time_pass(ledger, message, timedelta(hours=2))
        [told] = deliver(config, ledger).delivered
        assert told.id == message.id
        assert _body_message(ledger, release).status == "delivered"
    body = github.state.releases["v1.2"]["body"]
    assert body.startswith("Published an hour later.\n\n<!-- smokeseal:seal -->")


def test_it_gives_up_after_the_bound_and_says_why(
        demo: Demo, github: Api, ledger_url: str, write_config: Callable[[str], Path],
        secrets_env: dict[str, str]) -> None:
    config = _config(demo, github, write_config, extra=", wait_for_release: 7200")
    with Ledger(ledger_url) as ledger:
        release = _sealed(config, ledger, "v1.3")
        deliver(config, ledger)
        message = _body_message(ledger, release)
        assert message.status == "pending" and "retrying until" in (message.last_error or "")
        _let_time_pass(ledger, message, timedelta(hours=2, seconds=1))
        report = deliver(config, ledger, due_only=False)  # `smokeseal outbox flush`
        assert report.failed == 1 and report.pending == 0
        failed = _body_message(ledger, release)
        assert failed.status == "failed"
        assert failed.last_error == ("github: gave up after 2 h: no GitHub release for tag "
                                     "v1.3")


def test_a_repository_that_is_not_there_fails_at_once(
        demo: Demo, github: Api, ledger_url: str, write_config: Callable[[str], Path],
        secrets_env: dict[str, str]) -> None:
    config = _config(demo, github, write_config)
    config = load_config(write_config(
        (config.path.read_text() if config.path else "").replace("acme/studio",
                                                                  "acme/typo")))
    with Ledger(ledger_url) as ledger:
        release = _sealed(config, ledger, "v1.4")
        report = deliver(config, ledger)
        assert report.failed == 1
        failed = _body_message(ledger, release)
        assert failed.status == "failed"
        assert failed.last_error == (
            "github: finding the release tagged v1.4: no repository acme/typo, or the token "
            "cannot see it (404: Not Found)")


def _tag_lookups(github: Api) -> list[str]:
    """The tags GitHub was asked about (``GET …/releases/tags/{tag}``), in order."""
    return [r.path.rsplit("/", 1)[-1] for r in github.state.received
            if r.method == "GET" and "/releases/tags/" in r.path]


def test_a_flush_gets_a_ready_release_through_behind_twenty_one_that_wait_for_github(
        demo: Demo, github: Api, ledger_url: str, write_config: Callable[[str], Path],
        secrets_env: dict[str, str]) -> None:
    config = _config(demo, github, write_config)
    with Ledger(ledger_url) as ledger:
        waiting = [_sealed(config, ledger, f"v0.{n}") for n in range(21)]  # no release yet
        ready = _sealed(config, ledger, "v1.0")
        github.state.add_release("v1.0", "Notes.")
        # `smokeseal outbox flush`: the 21 older messages fill more than a claim's share of
        # the lane (20), and every one of them answers "later".
        report = deliver(config, ledger, due_only=False)
        assert [m.release_id for m in report.delivered] == [ready.id]
        assert _body_message(ledger, ready).status == "delivered"
        assert sorted(_tag_lookups(github)) == sorted(
            [f"v0.{n}" for n in range(21)] + ["v1.0"])  # each asked about once
        assert report.pending == 21
        assert all(_body_message(ledger, r).status == "pending" for r in waiting)

        # The next cron flush, a minute before any of them is due again, leaves GitHub
        # alone: a forced flush retries what failed, not what waits for something outside.
        github.state.received.clear()
        again = deliver(config, ledger, due_only=False)
        assert again.delivered == [] and again.pending == 21
        assert github.state.received == []

        # Once a wait is over, a flush asks again (and here finds the release made).
        github.state.add_release("v0.0", "Made late.")
        first = _body_message(ledger, waiting[0])
        _let_time_pass(ledger, first, timedelta(minutes=2))
        [told] = deliver(config, ledger, due_only=False).delivered
        assert told.id == first.id
        assert _tag_lookups(github) == ["v0.0"]


def test_a_forced_flush_still_retries_an_ordinary_failure_at_once(
        demo: Demo, github: Api, ledger_url: str, write_config: Callable[[str], Path],
        secrets_env: dict[str, str]) -> None:
    config = _config(demo, github, write_config)
    github.state.add_release("v1.5", "Notes.")
    github.state.fail_next("500", "500", "500")
    with Ledger(ledger_url) as ledger:
        release = _sealed(config, ledger, "v1.5")
        report = deliver(config, ledger)
        assert report.delivered == [] and report.pending == 1
        message = _body_message(ledger, release)
        assert message.next_attempt_at > datetime.now(UTC)  # backing off
        [told] = deliver(config, ledger, due_only=False).delivered  # `outbox flush`: now
        assert told.id == message.id
