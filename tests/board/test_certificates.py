"""The board shows a seal's notes on the release's page, and ``/metrics`` when each host's
certificate expires; a seal recorded before certificates were read adds no series."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from smokeseal.board import create_app
from smokeseal.ledger import Ledger
from smokeseal.servers import BackgroundServer
from tests.board.conftest import seal

pytestmark = pytest.mark.component

NOTE = "certificate for app.example.com expires in 2 days, 2026-12-06"
UP = [{"name": "up", "kind": "get", "ok": True, "detail": "200", "duration_ms": 31}]


@pytest.fixture
def board(tmp_path: Path) -> Iterator[tuple[httpx.Client, dict[str, int]]]:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ids = {}
    for app, extra in (("studio", {"notes": [NOTE], "certificates": [
            {"host": "app.example.com", "expires_at": "2026-12-06T12:00:00Z"},
            {"host": "example.com:8443", "expires_at": "2027-06-22T08:30:00Z"}]}),
                       ("older", {})):
        release = ledger.create_release(app, "v1", "3f2a9c1aaaa")
        ledger.mark_shipped(release.id)
        ledger.record_seal(release.id, seal("green", "2026-12-04T10:00:00Z", UP, **extra))
        ids[app] = release.id
    with BackgroundServer(create_app(ledger)) as server, \
            httpx.Client(base_url=server.url, timeout=10) as client:
        yield client, ids
    ledger.close()


def test_the_release_page_shows_the_seals_notes(
        board: tuple[httpx.Client, dict[str, int]]) -> None:
    client, ids = board
    page = client.get(f"/releases/{ids['studio']}")
    assert page.status_code == 200
    assert f'<p class="hero-note">⚠ {NOTE}</p>' in page.text
    assert client.get(f"/api/releases/{ids['studio']}").json()["smoke_seal"]["notes"] == [NOTE]
    assert "hero-note" not in client.get(f"/releases/{ids['older']}").text


def test_metrics_tell_when_each_hosts_certificate_expires(
        board: tuple[httpx.Client, dict[str, int]]) -> None:
    client, _ = board
    found = {tuple(sorted(sample.labels.items())): sample.value
             for family in text_string_to_metric_families(client.get("/metrics").text)
             for sample in family.samples
             if sample.name == "smokeseal_certificate_expiry_timestamp_seconds"}
    assert found == {
        (("app", "studio"), ("host", "app.example.com")):
            datetime.fromisoformat("2026-12-06T12:00:00+00:00").timestamp(),
        (("app", "studio"), ("host", "example.com:8443")):
            datetime.fromisoformat("2027-06-22T08:30:00+00:00").timestamp()}
