"""Any webhook through the outbox: the seal record, signed; one delivery id per message,
the same on every retry; 410 and other 4xx never retried; the URL and secret never show."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from smokeseal.board.app import create_app
from smokeseal.config import Config, load_config
from smokeseal.ledger import Ledger, Release
from smokeseal.outbox import deliver, messages_for_seal, notes_with_seal
from smokeseal.seal import Seal
from smokeseal.servers import BackgroundServer
from tests.conftest import Api, Demo, notify_yaml, shipped
from tests.standins import WEBHOOK_PATH, WEBHOOK_SECRET, verify

pytestmark = pytest.mark.integration


def _config(demo: Demo, webhook: Api, write_config: Callable[[str], Path]) -> Config:
    return load_config(write_config(
        f"apps:\n  demo:\n    url: {demo.url}\n    suite: [{{name: up, get: /up}}]\n"
        + notify_yaml(None, None, webhook=webhook)))


def _sealed(config: Config, ledger: Ledger, status: str = "green",
            release: Release | None = None) -> tuple[Release, int]:
    if release is None:
        release = ledger.mark_shipped(ledger.create_release("demo", "v1", "3f2a9c1").id)
    seal = Seal(status=status, summary=f"{status}: 1/1 passed",
                checked_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                base_url="https://a.test", duration_ms=5, checks=[])
    return ledger.record_seal(release.id, seal.to_dict(),
                              messages=messages_for_seal(config, release, seal),
                              notes=notes_with_seal(seal))


def test_a_ship_posts_the_seal_record_signed_to_the_webhook(
        make_config: Callable[..., Config], webhook: Api, slack_env: dict[str, str],
        ledger_url: str) -> None:
    config = make_config(webhook=webhook)
    with Ledger(ledger_url) as ledger:
        result = shipped(config, ledger, "v1")
        assert result.warnings == []
        assert ledger.messages(("pending", "failed")) == []
        release = ledger.release(result.release.id)
        with BackgroundServer(create_app(ledger)) as board:
            api = httpx.get(f"{board.url}/api/releases/{release.id}").json()
    [delivery] = webhook.state.deliveries
    assert delivery.signature_ok and delivery.status == 200
    assert delivery.event == "seal"
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["user-agent"].startswith("smokeseal/")
    assert delivery.headers["x-smokeseal-signature"].startswith("sha256=")
    record = json.loads(delivery.body)
    assert record["event"] == "seal"
    # The seal as the board's API shows the release's current one, with its history id.
    assert {k: v for k, v in record["seal"].items() if k != "id"} == api["smoke_seal"]
    assert record["seal"]["id"] == api["seals"][0]["id"]
    assert record["seal"]["status"] == "green" and record["seal"]["id"] == release.seal_id
    assert {k: record["release"][k] for k in ("id", "app", "version", "sha", "state")} == {
        k: api[k] for k in ("id", "app", "version", "sha", "state")}
    assert "smoke_seal" not in record["release"]


def test_a_retry_carries_the_same_delivery_id_and_is_accepted_once(
        demo: Demo, webhook: Api, slack_env: dict[str, str], ledger_url: str,
        write_config: Callable[[str], Path]) -> None:
    config = _config(demo, webhook, write_config)
    webhook.state.fail_next("500")
    with Ledger(ledger_url) as ledger:
        release, _ = _sealed(config, ledger)
        report = deliver(config, ledger)
        assert report.pending == 0 and report.failed == 0
        [message] = ledger.release_messages(release.id)
        # A receiver down for a whole run: the next run's retry carries the same id too.
        webhook.state.fail_next("503", "503", "503")
        _sealed(config, ledger, "red", release)
        assert deliver(config, ledger).pending == 1
        assert deliver(config, ledger, due_only=False).pending == 0
    first, second, *again = webhook.state.deliveries
    assert (first.status, second.status) == (500, 200)
    assert first.delivery == second.delivery == message.payload["delivery"] == \
        message.result["delivery"]
    assert first.body == second.body  # the same bytes, the same signature
    assert [d.status for d in again] == [503, 503, 503, 200]
    assert len({d.delivery for d in again}) == 1 and again[0].delivery != first.delivery
    assert all(d.signature_ok for d in webhook.state.deliveries)
    assert len(webhook.state.accepted) == 2  # one per seal


@pytest.mark.parametrize(("status", "error"), [
    ("410", "webhook: posting the seal: the receiver is gone (410): receiver says 410"),
    ("400", "webhook: posting the seal: refused with 400: receiver says 400"),
    ("404", "webhook: posting the seal: refused with 404: receiver says 404"),
])
def test_gone_or_refused_is_permanent_and_never_retried(
        demo: Demo, webhook: Api, slack_env: dict[str, str], tmp_path: Path,
        write_config: Callable[[str], Path], status: str, error: str) -> None:
    config = _config(demo, webhook, write_config)
    webhook.state.fail_next(status)
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        _sealed(config, ledger)
        report = deliver(config, ledger)
        [failed] = ledger.messages(("failed",))
    assert failed.last_error == error and report.errors == [error]
    assert len(webhook.state.deliveries) == 1


@pytest.mark.parametrize("status", ["408", "429", "502"])
def test_408_429_and_5xx_are_retried(
        demo: Demo, webhook: Api, slack_env: dict[str, str], tmp_path: Path,
        write_config: Callable[[str], Path], status: str) -> None:
    config = _config(demo, webhook, write_config)
    webhook.state.fail_next(status)
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        _sealed(config, ledger)
        report = deliver(config, ledger)
        assert report.pending == 0 and report.failed == 0, report.errors
    first, second = webhook.state.deliveries
    assert (first.status, second.status) == (int(status), 200)
    if status == "429":
        assert second.at - first.at >= 0.95  # Retry-After: 1


def test_a_wrong_secret_is_refused_by_the_receiver_and_not_retried(
        demo: Demo, webhook: Api, slack_env: dict[str, str], tmp_path: Path,
        write_config: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOKESEAL_WEBHOOK_SECRET", "not-the-receivers-secret-0000")
    config = _config(demo, webhook, write_config)
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        _sealed(config, ledger)
        deliver(config, ledger)
        [failed] = ledger.messages(("failed",))
    assert failed.last_error == ("webhook: posting the seal: refused with 401: signature "
                                 "does not match")
    [delivery] = webhook.state.deliveries
    assert not delivery.signature_ok and webhook.state.accepted == {}


def test_the_signature_is_over_the_exact_body_bytes(
        demo: Demo, webhook: Api, slack_env: dict[str, str], tmp_path: Path,
        write_config: Callable[[str], Path]) -> None:
    config = _config(demo, webhook, write_config)
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        _sealed(config, ledger)
        deliver(config, ledger)
    [delivery] = webhook.state.deliveries
    header = delivery.headers["x-smokeseal-signature"]
    assert verify(WEBHOOK_SECRET, delivery.body, header)
    # Re-encoding the JSON (another key order, other spacing) breaks it: receivers must
    # verify the raw body, as the README says.
    reencoded = json.dumps(json.loads(delivery.body), indent=1).encode()
    assert not verify(WEBHOOK_SECRET, reencoded, header)
    assert not verify("another-secret-0000000000", delivery.body, header)


def test_the_webhook_url_and_secret_never_reach_the_ledger(
        demo: Demo, webhook: Api, slack_env: dict[str, str], ledger_url: str,
        write_config: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    dead = "http://127.0.0.1:9" + WEBHOOK_PATH  # a connection error names what it tried
    monkeypatch.setenv("SMOKESEAL_WEBHOOK_URL", dead)
    config = _config(demo, webhook, write_config)
    with Ledger(ledger_url) as ledger:
        _sealed(config, ledger)
        deliver(config, ledger, budget=3)
        with ledger.engine.connect() as conn:
            dump = "".join(str(row) for table in ("releases", "seals", "outbox")
                           for row in conn.execute(text(f"select * from {table}")))
    assert "could not reach it" in dump
    assert WEBHOOK_SECRET not in dump and "TOKENinTheURL" not in dump and dead not in dump
