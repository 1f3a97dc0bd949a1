"""``release``, ``ship``, ``seal`` and ``db`` as an operator runs them, on both ledgers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from smokeseal.ledger import HEAD_REVISION, Ledger
from tests.conftest import Demo
from tests.test_cli import cli

pytestmark = pytest.mark.e2e


@pytest.fixture
def workdir(demo: Demo, write_config: Callable[[str], Path], browser_executable: str) -> Path:
    path = write_config(demo.config_yaml().replace(
        "    suite: qa-readonly\n",
        "    suite: qa-readonly\n    deploy: echo deploying $SMOKESEAL_VERSION\n"
        "    gate: {timeout: 2, interval: 0.2}\n"))
    return path.parent


def run(workdir: Path, ledger_url: str, *args: str):  # type: ignore[no-untyped-def]
    return cli("smokeseal", *args, cwd=workdir, env={"SMOKESEAL_DATABASE_URL": ledger_url})


@pytest.mark.slow
def test_the_whole_flow(workdir: Path, ledger_url: str, demo: Demo) -> None:
    notes = workdir / "notes.md"
    notes.write_text("## v1\n- faster tasks\n")
    created = run(workdir, ledger_url, "release", "create", "demo", "--version", "v1",
                  "--sha", "1111111", "--notes-file", str(notes))
    assert created.returncode == 0, created.stderr
    assert created.stdout == "1\n"  # only the id: RELEASE_ID=$(smokeseal release create ...)

    shipped = run(workdir, ledger_url, "ship", "demo", "--release", "1")
    assert shipped.returncode == 0, shipped.stderr
    assert "deploying v1" in shipped.stderr
    assert "🟢 green · 6/6 passed" in shipped.stdout

    demo.state.set_faults("devops_exposed")
    red = run(workdir, ledger_url, "ship", "demo", "--version", "v2", "--sha", "3f2a9c1dead")
    assert red.returncode == 0, red.stderr  # a red seal never fails the ship
    assert "🔴 red · 4/6 passed; devops hidden: expected 404, got 200" in red.stdout
    assert "Rollback, if you decide to (smokeseal runs none of these):" in red.stdout
    assert ("  smokeseal release abandon 2\n"
            "  git revert 3f2a9c1 # on main, if 3f2a9c1 is a single commit\n"
            "  git revert -m 1 3f2a9c1 # on main, if 3f2a9c1 is a merge commit\n") in red.stdout
    assert "last green release: v1 (id 1, sha 1111111)" in red.stdout

    demo.state.set_faults("up_500")
    gated = run(workdir, ledger_url, "ship", "demo", "--version", "v3", "--sha", "4444444")
    assert gated.returncode == 1
    assert gated.stderr.strip().splitlines()[-1].startswith("error: gate: ")

    listed = json.loads(run(workdir, ledger_url, "release", "list", "--json").stdout)
    assert [(r["version"], r["state"], (r["smoke_seal"] or {}).get("status")) for r in listed] \
        == [("v3", "assembled", None), ("v2", "shipped", "red"), ("v1", "shipped", "green")]

    shown = json.loads(run(workdir, ledger_url, "release", "show", "demo@v1", "--json").stdout)
    assert shown["notes"].startswith("## v1\n- faster tasks\n\n<!-- smokeseal:seal -->")
    assert shown["notes"].count("### Smoke seal: 🟢 green") == 1
    assert shown["smoke_seal"]["summary"] == "6/6 passed"
    assert len(shown["seals"]) == 1

    demo.state.set_faults()
    resealed = run(workdir, ledger_url, "seal", "demo@v2", "--json")
    assert resealed.returncode == 0
    assert json.loads(resealed.stdout)["release"] == {"id": 2, "app": "demo", "version": "v2",
                                                      "sha": "3f2a9c1dead"}
    demo.state.set_faults("signin_500")
    assert run(workdir, ledger_url, "seal", "2").returncode == 1
    history = json.loads(run(workdir, ledger_url, "release", "show", "2", "--json").stdout)
    assert [s["status"] for s in history["seals"]] == ["red", "green", "red"]

    abandoned = run(workdir, ledger_url, "release", "abandon", "2")
    assert abandoned.returncode == 0
    assert "abandoned release 2 (demo@v2)" in abandoned.stdout
    assert demo.state.writes() == []


@pytest.mark.parametrize(("args", "message"), [
    (["seal", "demo@v9"], "error: no release demo@v9 in the ledger"),
    (["seal", "1"], "error: release 1 (demo@v1) is assembled, not shipped"),
    (["release", "create", "demo", "--version", "v1", "--sha", "2222222"],
     "error: demo@v1 already exists (duplicate version)"),
    (["release", "create", "nope", "--version", "v1", "--sha", "2222222"],
     "error: unknown app 'nope'"),
    (["release", "create", "demo", "--version", "v2", "--sha", "2222222",
      "--notes-file", "missing.md"], "error: --notes-file: cannot read missing.md"),
    (["ship", "demo", "--release", "1", "--version", "v2"], "error: give either --release ID"),
    (["release", "show", "newest"], "error: RELEASE: 'newest' is neither an id nor APP@VERSION"),
])
def test_bad_input_exits_2_and_changes_nothing(workdir: Path, ledger_url: str,
                                               args: list[str], message: str) -> None:
    with Ledger(ledger_url) as ledger:
        ledger.create_release("demo", "v1", "1111111")
        before = ledger.releases()
    done = run(workdir, ledger_url, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith(message)
    assert len(done.stderr.strip().splitlines()) == 1
    with Ledger(ledger_url) as ledger:
        assert ledger.releases() == before


def test_seal_exits_3_when_the_ledger_is_unreachable(workdir: Path, closed_port: int) -> None:
    done = run(workdir, f"postgresql://ops:s3cret@127.0.0.1:{closed_port}/ledger", "seal", "1")
    assert done.returncode == 3
    assert done.stderr.startswith(f"error: ledger postgresql+psycopg://ops:***@127.0.0.1:"
                                  f"{closed_port}/ledger: could not ")
    assert "s3cret" not in done.stderr


def test_db_upgrade_reports_the_revision(workdir: Path, ledger_url: str) -> None:
    done = run(workdir, ledger_url, "db", "upgrade")
    assert done.returncode == 0
    assert done.stdout.strip().endswith(f"is at revision {HEAD_REVISION} (current)")


def test_the_default_ledger_is_sqlite_beside_the_config(workdir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = cli("smokeseal", "--config", str(workdir / "smokeseal.yml"), "release", "create",
               "demo", "--version", "v1", "--sha", "1111111", cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert (workdir / "smokeseal.db").exists()
    assert not (elsewhere / "smokeseal.db").exists()


def test_a_pipeline_that_deploys_itself_records_shipped_then_seals(workdir: Path,
                                                                   ledger_url: str) -> None:
    """The recipes' two steps: `release create --shipped`, then `seal APP@VERSION`."""
    first = run(workdir, ledger_url, "release", "create", "demo", "--version", "v7",
                "--sha", "7777777", "--shipped")
    assert (first.returncode, first.stdout) == (0, "1\n"), first.stderr
    assert "demo@v7 (7777777), shipped" in first.stderr
    assert "deploying" not in first.stderr  # smokeseal's own deploy never ran
    again = run(workdir, ledger_url, "release", "create", "demo", "--version", "v7",
                "--sha", "7777777", "--shipped")
    assert (again.returncode, again.stdout) == (0, "1\n")  # a re-run pipeline is a no-op
    other = run(workdir, ledger_url, "release", "create", "demo", "--version", "v7",
                "--sha", "8888888", "--shipped")
    assert other.returncode == 2 and "duplicate version" in other.stderr
    sealed = run(workdir, ledger_url, "seal", "demo@v7", "--json")
    assert sealed.returncode == 0, sealed.stderr
    assert json.loads(sealed.stdout)["status"] == "green"
