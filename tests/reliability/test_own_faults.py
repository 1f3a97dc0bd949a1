"""smokeseal's own parts failing: the browser, the evidence folder, the ledger, the sinks.

Whatever breaks, a ship keeps its outcome, the seal is recorded (or ``seal`` exits 3 saying
why), and nothing prints a traceback without ``--debug``.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from smokeseal.browser.visit import BROWSER_GONE
from smokeseal.config import Config
from smokeseal.ledger import Ledger
from smokeseal.outbox import deliver
from tests.conftest import Api, Demo, Edge, shipped
from tests.reliability.conftest import Hostile
from tests.standins import DISCORD_TOKEN

BIN = Path(sys.executable).parent


def run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / args[0]), *args[1:]], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMOKESEAL_")}
    return {**env, **extra}


# --- the browser ----------------------------------------------------------------------------

@pytest.mark.e2e
def test_a_browser_that_dies_mid_run_fails_its_page_checks_and_nothing_else(
        hostile: Hostile, browser_executable: str, tmp_path: Path) -> None:
    # A browser that is killed (as by the OOM killer) two seconds after it starts, while a
    # page check is still waiting on a page that never finishes loading.
    doomed = tmp_path / "doomed-chromium"
    doomed.write_text(f'#!/bin/sh\n(sleep 2; kill -9 $$) &\nexec "{browser_executable}" "$@"\n')
    doomed.chmod(doomed.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "smokeseal.yml").write_text(
        f"apps:\n  prod:\n    url: {hostile.url}\n    suite:\n"
        "      - {name: slow page, page: /never-loads, timeout: 20}\n"
        "      - {name: hung page, page: /hang, timeout: 20}\n"
        "      - {name: up, get: /up}\n")
    started = time.monotonic()
    done = run("prod-smoke", "prod", "--json", env=clean_env(SMOKESEAL_BROWSER=str(doomed)),
               cwd=tmp_path)
    took = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    record = json.loads(done.stdout)
    slow, hung, up = record["checks"]
    assert (record["status"], up["ok"], slow["ok"], hung["ok"]) == ("red", True, False, False)
    for page in (slow, hung):
        assert page["detail"] == f"could not load: {BROWSER_GONE}"
    assert took < 20  # the crash ended the wait; the check did not sit out its timeout


@pytest.mark.e2e
def test_a_browser_killed_once_is_relaunched_and_the_retry_judges_production(
        edge: Edge, browser_executable: str, tmp_path: Path) -> None:
    # Killed two seconds in, while the page takes four: only the first browser dies.
    doomed = tmp_path / "once-doomed-chromium"
    marker = tmp_path / "killed-once"
    doomed.write_text(f'#!/bin/sh\nif [ ! -e "{marker}" ]; then touch "{marker}"; '
                      f'(sleep 2; kill -9 $$) & fi\nexec "{browser_executable}" "$@"\n')
    doomed.chmod(doomed.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "smokeseal.yml").write_text(
        f"apps:\n  prod:\n    url: {edge.url}\n    suite:\n"
        "      - {name: slow page, page: '/slow?s=4', timeout: 20}\n")
    done = run("prod-smoke", "prod", "--json", env=clean_env(SMOKESEAL_BROWSER=str(doomed)),
               cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    [page] = json.loads(done.stdout)["checks"]
    assert page["outcome"] == "flaky"
    assert page["first_failure"] == f"could not load: {BROWSER_GONE}"


# --- the evidence folder --------------------------------------------------------------------

@pytest.mark.e2e
def test_an_unwritable_evidence_folder_costs_the_evidence_only(
        demo: Demo, browser_executable: str, tmp_path: Path) -> None:
    (tmp_path / "smokeseal.yml").write_text(demo.config_yaml())
    # A file where the evidence folder should go: even root cannot create folders in it.
    (tmp_path / ".smokeseal").write_text("in the way")
    demo.state.set_faults("tasks_js_error")
    done = run("prod-smoke", "demo", "--json",
               env=clean_env(SMOKESEAL_BROWSER=browser_executable), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    record = json.loads(done.stdout)
    tasks = next(c for c in record["checks"] if c["name"] == "tasks render")
    assert not tasks["ok"] and "uncaught page error: TypeError" in tasks["detail"]
    assert tasks.get("evidence") is None
    assert (tmp_path / ".smokeseal").read_text() == "in the way"


# --- the ledger -----------------------------------------------------------------------------

@pytest.mark.e2e
def test_a_ledger_locked_by_another_writer_is_waited_for_not_lost(
        demo: Demo, tmp_path: Path) -> None:
    (tmp_path / "smokeseal.yml").write_text(demo.config_yaml())
    env = clean_env()
    ledger = tmp_path / "smokeseal.db"
    shipped_ = run("smokeseal", "release", "create", "demo", "--version", "v1", "--sha",
                   "3f2a9c1", "--shipped", env=env, cwd=tmp_path)
    assert shipped_.returncode == 0, shipped_.stderr
    # Another process holds the write lock for two seconds (a long migration, a backup).
    with subprocess.Popen([sys.executable, "-c", (
            "import sqlite3, sys, time\n"
            f"db = sqlite3.connect({str(ledger)!r}, isolation_level=None)\n"
            "db.execute('BEGIN EXCLUSIVE'); print('locked', flush=True)\n"
            "time.sleep(2); db.execute('COMMIT')\n")], stdout=subprocess.PIPE,
            text=True) as holder:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        sealed = run("smokeseal", "seal", "demo@v1", "--no-browser", env=env, cwd=tmp_path)
    # Red (its page checks were skipped, so unverified), and recorded despite the lock.
    assert sealed.returncode == 1, sealed.stderr
    with Ledger(f"sqlite:///{ledger}") as opened:
        assert len(opened.seals(opened.find("demo", "v1").id)) == 1  # type: ignore[union-attr]


# --- Discord and GitHub ---------------------------------------------------------------------

SINK_FAULTS = [
    ("discord", "500", 5), ("discord", "429", 1), ("discord", "garbage", 5),
    ("github", "500", 5), ("github", "secondary", 1), ("github", "primary", 1),
    ("github", "garbage", 5),
]


@pytest.mark.integration
@pytest.mark.parametrize(("sink", "fault", "times"), SINK_FAULTS)
def test_a_misbehaving_sink_never_changes_the_ship_and_gets_each_message_once(
        make_config: Callable[..., Config], discord: Api, github: Api, tmp_path: Path,
        sink: str, fault: str, times: int) -> None:
    github.state.add_release("v1", "Notes.")
    config = make_config(discord, github, suite="[{name: up, get: /up}]")
    target = discord if sink == "discord" else github
    target.state.fail_next(*[fault] * times)
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        result = shipped(config, ledger, "v1")
        assert result.seal is not None and result.seal.status == "green"
        assert ledger.release(result.release.id).state == "shipped"
        deliver(config, ledger, due_only=False)  # `outbox flush`, once the sink is back
        assert ledger.messages(("pending", "failed")) == []
    assert target.state.faults == []  # every fault was served
    _assert_each_once(discord, github)


@pytest.mark.integration
@pytest.mark.parametrize("sink", ["discord", "github"])
def test_a_sink_that_never_answers_costs_the_budget_and_nothing_more(
        make_config: Callable[..., Config], discord: Api, github: Api, tmp_path: Path,
        sink: str) -> None:
    github.state.add_release("v1", "Notes.")
    config = make_config(discord, github, suite="[{name: up, get: /up}]")
    target = discord if sink == "discord" else github
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        target.state.fail_next("500", "500", "500")  # the ship's own delivery gives up on it
        shipped(config, ledger, "v1")
        assert ledger.messages(("pending",)) != []
        target.state.fail_next("hang")
        started = time.monotonic()
        report = deliver(config, ledger, budget=2.0, due_only=False)
        took = time.monotonic() - started
        assert took < 6, took  # the budget, a connect and a little bookkeeping
        assert report.pending >= 1
        assert any("could not reach it" in error for error in report.errors), report.errors
        deliver(config, ledger, due_only=False)
        assert ledger.messages(("pending", "failed")) == []
    _assert_each_once(discord, github)


def _assert_each_once(discord: Api, github: Api) -> None:
    posts = [p.json["content"] or p.json["embeds"][0]["title"]
             for p in discord.state.posts() if p.path.endswith(DISCORD_TOKEN)]
    stored = list(discord.state.messages.values())
    assert len(stored) == 2, stored  # the release notes, then the seal
    assert len({m["content"] or m["embeds"][0]["title"] for m in stored}) == 2
    assert len(posts) >= 2
    edits = [m for m in stored if m.get("edited")]
    assert len(edits) == 1  # the notes, edited once to carry the seal line
    bodies = [r["body"] for r in github.state.releases.values()]
    assert all(b.count("smokeseal") >= 1 for b in bodies)
    assert all(b.count("<!-- smokeseal:seal -->") <= 1 for b in bodies)



# --- the deploy command ---------------------------------------------------------------------

@pytest.mark.e2e
@pytest.mark.parametrize(("deploy", "says"), [
    ("./deploy.sh", "exited 126 (not executable)"),
    ("./no-such-deploy.sh --now", "exited 127 (command not found)"),
])
def test_a_deploy_that_cannot_run_fails_the_ship_cleanly_and_seals_nothing(
        demo: Demo, tmp_path: Path, deploy: str, says: str) -> None:
    (tmp_path / "deploy.sh").write_text("#!/bin/sh\necho deployed\n")  # not executable
    (tmp_path / "smokeseal.yml").write_text(demo.config_yaml().replace(
        "    suite: qa-readonly\n", f"    suite: qa-readonly\n    deploy: '{deploy}'\n"))
    env = clean_env()
    done = run("smokeseal", "ship", "demo", "--version", "v1", "--sha", "3f2a9c1", env=env,
               cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert f"deploy: '{deploy}' {says}" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    shown = run("smokeseal", "release", "show", "demo@v1", "--json", env=env, cwd=tmp_path)
    assert json.loads(shown.stdout)["state"] == "assembled"
    assert demo.state.requests == []  # production was not even asked
