"""``GET /metrics`` over a real board and a seeded ledger (SQLite and PostgreSQL), scraped
with httpx and read back with prometheus_client's own parsers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from smokeseal import __version__
from smokeseal.board import create_app
from smokeseal.ledger import Ledger, NewMessage
from smokeseal.servers import BackgroundServer
from tests.board.conftest import seal

pytestmark = pytest.mark.component

#: Quotes, backslashes, newlines, a carriage return, braces, commas, '=', '#' and non-ASCII:
#: everything that could end a label value early or start a new line or sample.
HOSTILE_CHECK = 'say "hi"\\n\nnext line} x{a="1",b} # HELP \\ \r tail ✓'
HOSTILE_VERSION = 'v2.0.0-"rc"\\1}'
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def check(name: str, outcome: str, duration_ms: int | None, kind: str = "get"
          ) -> dict[str, Any]:
    record: dict[str, Any] = {"name": name, "kind": kind, "outcome": outcome,
                              "ok": outcome in ("passed", "flaky"), "detail": outcome,
                              "skipped": outcome == "skipped"}
    if duration_ms is not None:
        record["duration_ms"] = duration_ms
    return record


@dataclass
class Seeded:
    ledger: Ledger
    beta_red: int
    oldest_pending: datetime


def seed(ledger: Ledger, flaky_name: str = "tasks render") -> Seeded:
    """alpha: sealed green. beta: green, then red with a flaky check. gamma: shipped, never
    sealed. delta: assembled only. The outbox: discord 2 pending and 1 failed, github 1
    failed, one delivered (not counted)."""
    alpha = ledger.create_release("alpha", "v1.2.0", "a1a1a1a1a1")
    ledger.mark_shipped(alpha.id, messages=lambda r: [
        NewMessage("discord", "alert", f"discord:alert:{r.id}", {"content": "x"})])
    ledger.record_seal(alpha.id, seal("green", "2026-11-24T10:00:00Z", [
        check("home renders", "passed", 912, "page"), check("up", "passed", 31)]))

    old = ledger.create_release("beta", "v1.9.0", "b0b0b0b0b0")
    ledger.mark_shipped(old.id)
    ledger.record_seal(old.id, seal("green", "2026-11-23T09:00:00Z", [
        check("up", "passed", 20)]))
    red = ledger.create_release("beta", HOSTILE_VERSION, "b1b1b1b1b1")
    ledger.mark_shipped(red.id, messages=lambda r: [
        NewMessage("discord", "notes", f"discord:notes:{r.id}", {"content": "notes"}),
        NewMessage("discord", "seal", f"discord:seal:{r.id}", {"content": "seal"}),
        NewMessage("github", "release_body", f"github:body:{r.id}", {"body": "b"})])
    ledger.record_seal(red.id, seal("red", "2026-11-24T11:30:00Z", [
        check(flaky_name, "flaky", 1480, "page"), check("devops hidden", "failed", 41),
        check("spec", "skipped", None, "command"), check("up", "passed", 29)],
        duration_ms=3500))

    gamma = ledger.create_release("gamma", "v0.1.0", "c1c1c1c1c1")
    ledger.mark_shipped(gamma.id, messages=lambda r: [
        NewMessage("discord", "notes", f"discord:notes:{r.id}", {"content": "notes"})])
    ledger.create_release("delta", "v0.0.1", "d1d1d1d1d1")

    claimed = {(m.app, m.sink, m.kind): m for m in ledger.claim("seed", 60)}
    finish = {("alpha", "discord", "alert"): {"permanent": True, "error": "404"},
              ("beta", "discord", "notes"): {"delivered": True, "result": {"id": "1"}},
              ("beta", "discord", "seal"): {"error": "Discord answered 503"},
              ("beta", "github", "release_body"): {"permanent": True, "error": "401"},
              ("gamma", "discord", "notes"): {}}
    for key, outcome in finish.items():
        ledger.finish(claimed[key].id, "seed", attempted=bool(outcome), **outcome)
    oldest = min(m.created_at for m in ledger.messages(("pending",)) if m.sink == "discord")
    return Seeded(ledger, red.id, oldest)


@pytest.fixture
def serve(ledger_url: str) -> Iterator[Callable[..., tuple[httpx.Client, Seeded]]]:
    """``serve(**create_app options)``: the seeded ledger's board, and a client for it."""
    stack: list[Any] = []

    def start(flaky_name: str = "tasks render", **options: Any
              ) -> tuple[httpx.Client, Seeded]:
        ledger = Ledger(ledger_url)
        stack.append(ledger)
        seeded = seed(ledger, flaky_name)
        server = BackgroundServer(create_app(ledger, **options)).start()
        stack.append(server)
        client = httpx.Client(base_url=server.url, timeout=10)
        stack.append(client)
        return client, seeded

    yield start
    for thing in reversed(stack):
        thing.stop() if isinstance(thing, BackgroundServer) else thing.close()


def samples(text: str, *, openmetrics: bool = False) -> Samples:
    parse = openmetrics_families if openmetrics else text_string_to_metric_families
    found: Samples = {}
    for family in parse(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in found, f"duplicate sample {key}"
            found[key] = sample.value
    return found


def of(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def named(found: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: value for (metric, labels), value in found.items() if metric == name}


def stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_metrics_tell_each_apps_current_seal_and_the_outbox(
        serve: Callable[..., tuple[httpx.Client, Seeded]]) -> None:
    client, seeded = serve()
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    found = samples(response.text)

    assert of(found, "smokeseal_build_info", version=__version__) == 1
    states = {"alpha": "green", "beta": "red", "gamma": "pending", "delta": "none"}
    for app, state in states.items():
        for each in ("green", "red", "pending", "none", "rolled_back"):
            assert of(found, "smokeseal_seal_state", app=app, state=each) == (each == state)
    # The verdict only where the current release has one.
    assert named(found, "smokeseal_seal_green") == {frozenset({("app", "alpha")}): 1.0,
                                                     frozenset({("app", "beta")}): 0.0}
    assert named(found, "smokeseal_last_seal_timestamp_seconds") == {
        frozenset({("app", "alpha")}): stamp("2026-11-24T10:00:00Z"),
        frozenset({("app", "beta")}): stamp("2026-11-24T11:30:00Z")}
    assert of(found, "smokeseal_seal_duration_seconds", app="beta") == 3.5

    # What production runs: the newest shipped release, its labels escaped and read back.
    releases = {labels: value for labels, value in named(found,
                                                         "smokeseal_release_info").items()}
    beta = seeded.ledger.release(seeded.beta_red)
    assert frozenset({("app", "beta"), ("version", HOSTILE_VERSION), ("sha", beta.sha),
                      ("release_id", str(beta.id))}) in releases
    assert {dict(labels)["app"] for labels in releases} == {"alpha", "beta", "gamma"}
    shipped = of(found, "smokeseal_release_shipped_timestamp_seconds", app="gamma")
    gamma = seeded.ledger.latest_shipped("gamma")
    assert gamma is not None and gamma.shipped_at is not None
    assert shipped == pytest.approx(gamma.shipped_at.timestamp())

    # The checks of the latest seal: times, passes and the flaky one.
    assert of(found, "smokeseal_check_duration_seconds", app="alpha",
              check="home renders") == 0.912
    assert of(found, "smokeseal_check_duration_seconds", app="beta",
              check="tasks render") == 1.48
    assert of(found, "smokeseal_check_duration_seconds", app="beta", check="spec") is None
    assert {dict(k)["check"]: v for k, v in named(found, "smokeseal_check_flaky").items()
            if dict(k)["app"] == "beta"} == {"tasks render": 1, "devops hidden": 0,
                                             "spec": 0, "up": 0}
    assert {dict(k)["check"]: v for k, v in named(found, "smokeseal_check_ok").items()
            if dict(k)["app"] == "beta"} == {"tasks render": 1, "devops hidden": 0,
                                             "spec": 0, "up": 1}
    assert {outcome: of(found, "smokeseal_seal_checks", app="beta", outcome=outcome)
            for outcome in ("passed", "flaky", "failed", "skipped")} == {
        "passed": 1, "flaky": 1, "failed": 1, "skipped": 1}
    # Nothing of an older seal, nor of apps without one.
    assert not [k for k in named(found, "smokeseal_check_duration_seconds")
                if dict(k)["app"] not in ("alpha", "beta")]

    assert {tuple(sorted(dict(k).items())): v
            for k, v in named(found, "smokeseal_outbox_messages").items()} == {
        (("sink", "discord"), ("status", "pending")): 2,
        (("sink", "discord"), ("status", "failed")): 1,
        (("sink", "github"), ("status", "pending")): 0,
        (("sink", "github"), ("status", "failed")): 1,
        # Every sink has a series, queued or not, for an alert to watch.
        (("sink", "slack"), ("status", "pending")): 0,
        (("sink", "slack"), ("status", "failed")): 0,
        (("sink", "webhook"), ("status", "pending")): 0,
        (("sink", "webhook"), ("status", "failed")): 0}
    assert named(found, "smokeseal_outbox_oldest_pending_timestamp_seconds") == {
        frozenset({("sink", "discord")}): pytest.approx(seeded.oldest_pending.timestamp())}


def test_a_hostile_check_name_round_trips_through_both_formats(
        serve: Callable[..., tuple[httpx.Client, Seeded]]) -> None:
    client, _ = serve(flaky_name=HOSTILE_CHECK)
    plain = client.get("/metrics")
    om = client.get("/metrics", headers={"Accept": OPENMETRICS})
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert om.text.endswith("# EOF\n")
    for found in (samples(plain.text), samples(om.text, openmetrics=True)):
        assert of(found, "smokeseal_check_flaky", app="beta", check=HOSTILE_CHECK) == 1
        assert of(found, "smokeseal_check_duration_seconds", app="beta",
                  check=HOSTILE_CHECK) == 1.48
        assert of(found, "smokeseal_check_ok", app="beta", check="devops hidden") == 0
    # The newline is escaped: no line of the answer starts inside the check's name.
    assert not [line for line in plain.text.splitlines() if line.startswith("next line")]


def test_the_metrics_follow_the_ledger_and_two_boards_keep_apart(
        serve: Callable[..., tuple[httpx.Client, Seeded]], tmp_path: Path) -> None:
    client, seeded = serve()
    # Rolled back: whatever runs now was not checked, so v1.9.0's green is not claimed.
    seeded.ledger.abandon(seeded.beta_red)
    found = samples(client.get("/metrics").text)
    assert of(found, "smokeseal_seal_state", app="beta", state="rolled_back") == 1
    assert of(found, "smokeseal_seal_state", app="beta", state="green") == 0
    assert not [k for k in named(found, "smokeseal_seal_green") if dict(k)["app"] == "beta"]
    assert not [k for k in named(found, "smokeseal_check_ok") if dict(k)["app"] == "beta"]
    # Sealed again since the rollback: that seal speaks for production.
    v19 = seeded.ledger.release("beta@v1.9.0")
    seeded.ledger.record_seal(v19.id, {**(v19.smoke_seal or {}),
                                       "checked_at": "2999-01-01T00:00:00Z"})
    found = samples(client.get("/metrics").text)
    assert of(found, "smokeseal_seal_green", app="beta") == 1
    assert [dict(k)["check"] for k in named(found, "smokeseal_check_ok")
            if dict(k)["app"] == "beta"] == ["up"]
    # Another board in the same process, over another ledger, tells only its own apps.
    with Ledger(f"sqlite:///{tmp_path / 'other.db'}") as other, \
            BackgroundServer(create_app(other)) as server:
        other.create_release("solo", "v1", "e1e1e1e1e1")
        alone = samples(httpx.get(f"{server.url}/metrics", timeout=10).text)
    assert {dict(k)["app"] for k in named(alone, "smokeseal_seal_state")} == {"solo"}
    assert {dict(k)["app"] for k in named(samples(client.get("/metrics").text),
                                          "smokeseal_seal_state")} == {"alpha", "beta",
                                                                       "gamma", "delta"}


def test_outbox_tallies_count_by_sink_and_status(ledger_url: str) -> None:
    with Ledger(ledger_url) as ledger:
        seeded = seed(ledger)
        tallies = ledger.outbox_tallies()
        assert [(t.sink, t.status, t.count) for t in tallies] == [
            ("discord", "failed", 1), ("discord", "pending", 2), ("github", "failed", 1)]
        assert tallies[1].oldest == seeded.oldest_pending
        assert tallies[1].oldest is not None and tallies[1].oldest.tzinfo is not None
        assert [t.count for t in ledger.outbox_tallies(("delivered",))] == [1]


@pytest.mark.integration
def test_a_locked_ledger_costs_the_scrape_a_503(tmp_path: Path) -> None:
    """Read like every page: on a worker thread, within the board's read timeout."""
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    ledger = Ledger(url)
    seed(ledger)
    server = BackgroundServer(create_app(ledger, read_timeout=1.0)).start()
    ledger.close()  # exclusive locking mode is granted only to a connection alone on the file
    holder = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        blocked = httpx.get(f"{server.url}/metrics", timeout=60)
        holder.execute("COMMIT")
    finally:
        holder.close()
    try:
        assert blocked.status_code == 503
        assert "did not answer within 1 s" in blocked.json()["error"]
        assert str(tmp_path) not in blocked.text
        assert httpx.get(f"{server.url}/metrics", timeout=60).status_code == 200
    finally:
        server.stop()
        ledger.close()


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_serving_the_board_does_not_import_prometheus_client(ledger_url: str) -> None:
    code = ("import sys\nfrom smokeseal import cli\nfrom smokeseal.board import create_app\n"
            "from smokeseal.ledger import Ledger\n"
            f"create_app(Ledger({ledger_url!r}))\n"
            "print('prometheus_client' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "False"
