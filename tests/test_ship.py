"""The whole flow on SQLite and PostgreSQL: create, ship, gate, seal; and what may go wrong."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.types import ASGIApp

from smokeseal.config import Config, Gate, load_config
from smokeseal.errors import ShipError, UsageError
from smokeseal.ledger import Ledger
from smokeseal.ship import resolve_release, seal_after_ship, seal_release, ship, wait_for_gate
from tests.conftest import Demo, Edge, Served, meeting_point

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


def app_config(demo: Demo, write_config: Callable[[str], Path], *, deploy: str | None = "true",
               suite: str | None = None, url: str | None = None) -> Config:
    text = demo.config_yaml().replace(
        "    suite: qa-readonly\n",
        "    suite: qa-readonly\n    gate: {timeout: 3, interval: 0.2}\n"
        + (f"    deploy: {json.dumps(deploy)}\n" if deploy else ""))
    if suite:
        text = text.replace("    suite: qa-readonly\n", f"    suite: {suite}\n")
    if url:
        text = text.replace(f"url: {demo.url}", f"url: {url}")
    return load_config(write_config(text))


@pytest.fixture
def config(demo: Demo, write_config: Callable[[str], Path], browser_executable: str,
           monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("SMOKESEAL_BROWSER", browser_executable)
    return app_config(demo, write_config)


def test_a_healthy_ship_is_shipped_and_sealed_green(config: Config, ledger_url: str) -> None:
    with Ledger(ledger_url) as ledger:
        release = resolve_release(ledger, config, "demo", version="v1", sha="3f2a9c1")
        result = ship(config, ledger, release)
        assert result.warnings == []
        assert result.release.state == "shipped"
        assert result.seal is not None and result.seal.status == "green"
        stored = ledger.release("demo@v1")
        assert stored.smoke_seal == result.seal.to_dict()
        assert stored.smoke_seal["rollback"] == []
        assert len(ledger.seals(release.id)) == 1


def test_an_exposed_route_ships_with_a_red_seal_and_rollback_commands(
        config: Config, ledger_url: str, demo: Demo) -> None:
    with Ledger(ledger_url) as ledger:
        good = ship(config, ledger, resolve_release(ledger, config, "demo", version="v1",
                                                    sha="1111111"))
        assert good.seal is not None and good.seal.green
        demo.state.set_faults("devops_exposed")
        release = resolve_release(ledger, config, "demo", version="v2", sha="3f2a9c1deadbeef")
        result = ship(config, ledger, release)
        assert result.release.state == "shipped"
        assert result.seal is not None and result.seal.status == "red"
        # The config's folder is no git checkout: git cannot say which revert fits.
        assert result.seal.rollback == [
            f"smokeseal release abandon {release.id}",
            "git revert 3f2a9c1 # on main, if 3f2a9c1 is a single commit",
            "git revert -m 1 3f2a9c1 # on main, if 3f2a9c1 is a merge commit"]
        assert result.seal.last_green == {"id": good.release.id, "version": "v1",
                                          "sha": "1111111"}
        assert ledger.release(release.id).state == "shipped"  # rollback is never executed
        assert demo.state.writes() == []


def test_a_failing_gate_fails_the_ship_and_seals_nothing(config: Config, ledger_url: str,
                                                         demo: Demo) -> None:
    demo.state.set_faults("up_500")
    with Ledger(ledger_url) as ledger:
        release = resolve_release(ledger, config, "demo", version="v1", sha="3f2a9c1")
        with pytest.raises(ShipError, match=r"gate: .*/up did not answer 200 within 3 s "
                                            r"\(\d+ attempts, last: status 500\)"):
            ship(config, ledger, release)
        after = ledger.release(release.id)
        assert (after.state, after.smoke_seal) == ("assembled", None)
        assert ledger.seals(release.id) == []


@pytest.mark.parametrize(("deploy", "message"), [
    ("exit 4", "failed with exit status 4"),
    ("no-such-deployer --now", r"exited 127 \(command not found\)"),
])
def test_a_failing_deploy_fails_the_ship(demo: Demo, write_config: Callable[[str], Path],
                                         ledger_url: str, deploy: str, message: str) -> None:
    config = app_config(demo, write_config, deploy=deploy)
    with Ledger(ledger_url) as ledger:
        release = resolve_release(ledger, config, "demo", version="v1", sha="3f2a9c1")
        with pytest.raises(ShipError, match=message):
            ship(config, ledger, release, deploy_output=subprocess.DEVNULL)
        assert ledger.release(release.id).state == "assembled"
        assert demo.state.requests == []  # not even the gate ran


def test_the_deploy_sees_the_release_and_a_timeout_stops_it(
        demo: Demo, write_config: Callable[[str], Path], tmp_path: Path) -> None:
    config = app_config(demo, write_config,
                        deploy='echo "$SMOKESEAL_APP $SMOKESEAL_VERSION $SMOKESEAL_SHA" > env.txt'
                               '; sleep 30')
    config = config.model_copy(update={"apps": {"demo": config.apps["demo"].model_copy(
        update={"deploy_timeout": 1})}})
    config._path = tmp_path / "smokeseal.yml"
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        release = resolve_release(ledger, config, "demo", version="v1", sha="3f2a9c1")
        started = time.monotonic()
        with pytest.raises(ShipError, match="did not finish within 1 s and was stopped"):
            ship(config, ledger, release)
        assert time.monotonic() - started < 15
    assert (tmp_path / "env.txt").read_text() == "demo v1 3f2a9c1\n"


def test_deploy_output_arrives_line_by_line_and_each_wait_is_shown(
        demo: Demo, write_config: Callable[[str], Path], tmp_path: Path) -> None:
    from smokeseal.ship import deploy_and_gate

    config = app_config(demo, write_config,
                        deploy="echo building; echo pushing >&2; printf 'no newline at end'")
    lines: list[str] = []
    waits: list[str] = []

    @contextlib.contextmanager
    def waiting(text: str) -> Iterator[None]:
        waits.append(f"start {text}")
        yield
        waits.append(f"end {text}")

    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        release = resolve_release(ledger, config, "demo", version="v1", sha="3f2a9c1")
        said: list[str] = []
        deploy_and_gate(config, ledger, release, on_deploy_line=lines.append,
                        say=said.append, waiting=waiting)
    assert lines == ["building", "pushing", "no newline at end"]  # stderr too, and the tail
    gate = f"gate: waiting for {demo.url}/up to answer 200"
    assert waits == ["start deploying demo@v1", "end deploying demo@v1", f"start {gate}",
                     f"end {gate}"]
    assert any(s.startswith("deployed in ") for s in said)


def test_a_missing_browser_still_ships_with_a_red_seal_that_says_why(
        demo: Demo, write_config: Callable[[str], Path], ledger_url: str,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SMOKESEAL_BROWSER", str(tmp_path / "gone"))
    config = app_config(demo, write_config)
    with Ledger(ledger_url) as ledger:
        result = ship(config, ledger, resolve_release(ledger, config, "demo", version="v1",
                                                      sha="3f2a9c1"))
        assert result.release.state == "shipped"
        assert result.seal is not None and result.seal.status == "red"
        assert "home renders: no browser: SMOKESEAL_BROWSER=" in result.seal.summary


def test_a_database_error_during_the_seal_is_only_a_warning(
        demo: Demo, write_config: Callable[[str], Path], tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    # The suite itself breaks the ledger mid-seal: a real fault, not a mock.
    breaker = (f"{sys.executable} -c \"import sqlite3; c = sqlite3.connect('{db}'); "
               "c.execute('DROP TABLE seals'); c.commit()\"")
    config = app_config(demo, write_config,
                        suite=f"[{{get: /up}}, {{name: breaker, command: {json.dumps(breaker)}}}]")
    with Ledger(f"sqlite:///{db}") as ledger:
        result = ship(config, ledger, resolve_release(ledger, config, "demo", version="v1",
                                                      sha="3f2a9c1"))
        assert result.release.state == "shipped"
        assert result.seal is None
        [warning] = result.warnings
        assert warning.startswith(f"seal step failed: ledger sqlite:///{db}: could not "
                                  "record the seal: no such table: seals")


def test_an_app_missing_from_the_config_gets_a_red_seal_saying_so(
        config: Config, ledger_url: str) -> None:
    with Ledger(ledger_url) as ledger:
        release = ledger.mark_shipped(ledger.create_release("gone", "v1", "3f2a9c1").id)
        seal, warnings = seal_after_ship(config, ledger, release)
        assert seal is None
        assert warnings[0].startswith("seal step failed: unknown app 'gone'")


@pytest.mark.parametrize(("setup", "kwargs", "message"), [
    ("abandoned", {"release_id": 1}, "is abandoned and cannot ship"),
    ("shipped", {"release_id": 1}, "has already shipped; to seal it again: smokeseal seal 1"),
    ("assembled", {"version": "v1", "sha": "2222222"}, "already exists with sha 1111111"),
    ("assembled", {"release_id": 99}, "no release 99 in the ledger"),
    ("assembled", {"version": "v1"}, "give --release ID, or --version V with --sha SHA"),
])
def test_bad_ship_requests_change_nothing(config: Config, tmp_path: Path, setup: str,
                                          kwargs: dict[str, object], message: str) -> None:
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        release = ledger.create_release("demo", "v1", "1111111")
        if setup == "abandoned":
            ledger.abandon(release.id)
        elif setup == "shipped":
            ledger.mark_shipped(release.id)
        before = ledger.releases()
        with pytest.raises(UsageError, match=message):
            resolve_release(ledger, config, "demo", **kwargs)  # type: ignore[arg-type]
        assert ledger.releases() == before


def test_a_retry_after_a_failed_deploy_reuses_the_assembled_release(
        config: Config, tmp_path: Path) -> None:
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        first = resolve_release(ledger, config, "demo", version="v1", sha="3f2a9c1deadbeef")
        again = resolve_release(ledger, config, "demo", version="v1", sha="3f2a9c1")
        assert again == first


def test_sealing_an_unshipped_release_is_refused(config: Config, ledger_url: str) -> None:
    with Ledger(ledger_url) as ledger:
        release = ledger.create_release("demo", "v1", "3f2a9c1")
        with pytest.raises(UsageError, match="is assembled, not shipped"):
            seal_release(config, ledger, release)
        assert ledger.seals(release.id) == []


@pytest.mark.component
def test_the_gate_waits_for_a_200(edge: Edge) -> None:
    said: list[str] = []
    wait_for_gate(edge.url, Gate(path="/flaky?n=2", timeout=10, interval=0.05), say=said.append)
    assert [m for _, m in edge.log] == ["/flaky"] * 3
    assert said[-1] == f"gate: {edge.url}/flaky?n=2 answered 200 after 3 attempts"
    assert [m for m in said if "attempt 1:" in m] == [
        "gate: attempt 1: status 503; retrying every 0.05 s"]
    assert not any("attempt 2:" in m for m in said)  # same answer: not said again


def test_two_seals_at_once_are_both_kept(serve: Callable[[ASGIApp], Served],
                                         write_config: Callable[[str], Path],
                                         ledger_url: str) -> None:
    # The slow check answers once both seals wait on it (an event, bounded), not after a
    # fixed delay that a slow start of either process could outlast.
    app, peak = meeting_point(2, bound=20)
    served = serve(app)
    path = write_config(f"apps:\n  demo:\n    url: {served.url}\n"
                        "    suite: [{get: /up}, {name: slow, get: /slow, timeout: 30}]\n")
    with Ledger(ledger_url) as ledger:
        release = ledger.mark_shipped(ledger.create_release("demo", "v1", "3f2a9c1").id)
    env = {**os.environ, "SMOKESEAL_DATABASE_URL": ledger_url, "SMOKESEAL_CONFIG": str(path)}
    pipelines = [subprocess.Popen([str(BIN / "smokeseal"), "seal", str(release.id), "--json"],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=60) for p in pipelines]
    assert [p.returncode for p in pipelines] == [0, 0], outputs
    assert peak[0] >= 2  # they really ran at the same time
    with Ledger(ledger_url) as ledger:
        history = ledger.seals(release.id)
        assert len(history) == 2
        latest = max(history, key=lambda h: (h["checked_at"], h["id"]))
        latest.pop("id")
        assert ledger.release(release.id).smoke_seal == latest
