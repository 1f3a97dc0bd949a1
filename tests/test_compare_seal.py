"""What changed since the last green, end to end: real Chromium against a stand-in whose
speed and console change between releases, the seals recorded in real SQLite and PostgreSQL,
commits read from a real git repository made here."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smokeseal.config import Config, load_config
from smokeseal.ledger import Ledger, Release
from smokeseal.seal import Seal
from smokeseal.ship import record_shipped, seal_release
from tests.checks.standins_compare import Tasks, tasks_app
from tests.conftest import _read_only_proof

pytestmark = pytest.mark.integration
CHECK = "page /"


@pytest.fixture
def tasks(request: pytest.FixtureRequest) -> Iterator[Tasks]:
    with tasks_app() as app:
        yield app
        _read_only_proof(request, list(app.log.seen), "the tasks stand-in")


@pytest.fixture
def make_config(tasks: Tasks, write_config: Callable[[str], Path], tmp_path: Path,
                browser_executable: str, monkeypatch: pytest.MonkeyPatch
                ) -> Callable[[str], Config]:
    monkeypatch.setenv("SMOKESEAL_BROWSER", browser_executable)

    def make(extra: str = "") -> Config:
        return load_config(write_config(f"""
evidence_dir: {tmp_path / "evidence"}
apps:
  tasks:
    url: {tasks.url}
    notify:
      github_release: {{repo: acme/tasks, token: not-a-real-token}}
{extra}    suite:
      - page: /
        expect: {{text: Every task of the team}}
"""))

    return make


def sealed(config: Config, ledger: Ledger, version: str, sha: str) -> Seal:
    release = record_shipped(config, ledger, "tasks", version, sha)
    seal, _ = seal_release(config, ledger, release)
    return seal


def git(checkout: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", "-C", str(checkout), *args], check=True, env=env,
                          capture_output=True, text=True).stdout.strip()


def test_an_unchanged_app_re_sealed_has_no_regression(make_config: Callable[[str], Config],
                                                      ledger_url: str) -> None:
    config = make_config("")
    with Ledger(ledger_url) as ledger:
        first = sealed(config, ledger, "v1", "1" * 40)
        assert first.green and first.to_dict()["comparison"] is None  # nothing to compare with
        release = ledger.find("tasks", "v1")
        assert release is not None
        for n in range(1, 6):
            seal, _ = seal_release(config, ledger, release)
            assert seal.green, seal.summary
            comparison = seal.comparison
            assert comparison is not None
            assert comparison["baseline"] == {"seals": n, "releases": [release.id]}
            assert comparison["regressions"] == [], comparison
            assert comparison["new_console_errors"] == []
            assert "slower" not in seal.summary
            assert set(comparison["checks"][CHECK]["vitals"]) >= {"ttfb_ms", "fcp_ms", "lcp_ms",
                                                                   "requests", "bytes"}


def test_a_slower_release_with_a_new_error_is_named_and_stays_green(
        make_config: Callable[[str], Config], tasks: Tasks, ledger_url: str,
        tmp_path: Path) -> None:
    config = make_config("")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "v1: list the tasks")
    v1 = git(tmp_path, "rev-parse", "HEAD")
    for n in range(21):
        git(tmp_path, "commit", "-q", "--allow-empty", "-m", f"tidy {n}")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "Load the tasks from <b>the</b> API")
    v2 = git(tmp_path, "rev-parse", "HEAD")
    with Ledger(ledger_url) as ledger:
        for _ in range(2):
            assert sealed(config, ledger, "v1", v1).green
        old = ledger.find("tasks", "v1")
        assert old is not None
        tasks.delay = 1.5
        tasks.console = "TypeError: cannot read 'done' of task 4411"
        seal = sealed(config, ledger, "v2", v2)
    assert seal.green, seal.summary  # a regression is a note
    comparison = seal.to_dict()["comparison"]
    assert comparison["baseline"] == {"seals": 2, "releases": [old.id]}
    lcp = next(r for r in comparison["regressions"] if r["metric"] == "lcp_ms")
    assert lcp["check"] == CHECK and not lcp["over_budget"]
    assert lcp["value"] >= 1500 and lcp["ratio"] >= 1.5
    assert lcp["value"] - lcp["baseline"] >= 1000
    assert seal.summary.startswith("1/1 passed; slower than the last green: ")
    assert f"{CHECK}: lcp_ms {lcp['value']} ms, {lcp['ratio']:g}× the last green's " \
           f"{lcp['baseline']} ms" in seal.summary
    assert comparison["new_console_errors"] == [
        {"check": CHECK, "message": "TypeError: cannot read 'done' of task N"}]
    assert comparison["since"] == {"id": old.id, "version": "v1", "sha": v1[:7]}
    assert comparison["commits"][0] == {"sha": v2[:7],
                                        "subject": "Load the tasks from <b>the</b> API"}
    assert [c["subject"] for c in comparison["commits"][1:]] == [
        f"tidy {n}" for n in range(20, 1, -1)]
    assert comparison["commits_more"] == 2
    assert comparison["commits_url"] == f"https://github.com/acme/tasks/compare/{v1}...{v2}"


def test_commits_are_left_out_where_the_checkout_lacks_them(
        make_config: Callable[[str], Config], tmp_path: Path) -> None:
    config = make_config("")
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        assert sealed(config, ledger, "v1", "a" * 40).green
        comparison = sealed(config, ledger, "v2", "b" * 40).comparison
    assert comparison is not None
    assert comparison["commits"] == [] and "commits_more" not in comparison
    assert comparison["since"]["version"] == "v1"  # the link needs no checkout
    assert comparison["commits_url"].endswith(f"/compare/{'a' * 40}...{'b' * 40}")


def test_a_budget_exceeded_turns_the_check_red(make_config: Callable[[str], Config],
                                               tasks: Tasks, ledger_url: str) -> None:
    config = make_config("    budget: {lcp_ms: 1000}\n")
    tasks.delay = 1.5
    with Ledger(ledger_url) as ledger:
        seal = sealed(config, ledger, "v1", "1" * 40)
        release: Release | None = ledger.find("tasks", "v1")
    assert not seal.green
    check = seal.checks[0]
    assert check.outcome == "failed"
    assert check.detail.startswith("over budget: lcp_ms ")
    assert check.detail.endswith(" ms, over its budget of 1000 ms")
    assert check.vitals is not None and check.vitals["lcp_ms"] > 1000
    assert release is not None and release.seal_status == "red"
    assert "1/1 passed" not in seal.summary and "over budget: lcp_ms" in seal.summary
