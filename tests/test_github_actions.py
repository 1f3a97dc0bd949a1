"""GitHub Actions: the job summary and the annotations, from the library and through the CLI.

What GitHub makes of the output is judged by tests/github_runner.py: the workflow commands the
runner would obey, and the summary rendered by a CommonMark parser with tables and raw HTML.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smokeseal.checks.base import CheckResult
from smokeseal.github_actions import (
    MAX_ROWS,
    SUMMARY_BYTES,
    Subject,
    annotation_lines,
    escape_data,
    escape_property,
    json_safe,
    summary_markdown,
)
from smokeseal.runner import RunResult
from smokeseal.seal import Seal, seal_from_run
from tests.conftest import Demo
from tests.github_runner import annotations, obeyed, render, unexpected_tags
from tests.test_cli import cli

#: Production text that tries to be a workflow command, on lines of its own and inside one.
INJECTION = ("boom\n::add-mask::hunter2\r::set-output name=deployed::false\n"
             "  ::stop-commands::x\n##[set-env name=NODE_OPTIONS]--require=/tmp/evil.js")
#: Production text that tries to be Markdown or HTML.
MARKUP = ("<img src=x onerror=alert(1)> | ``` **bold** [click](https://evil.example) "
          "<!-- x --> $x^2$ ~~gone~~ &lt;b&gt; \\| # heading")


def _seal(*results: CheckResult, secrets: tuple[str, ...] = ()) -> Seal:
    run = RunResult(base_url="https://app.example.com", checked_at=datetime(2026, 11, 24, 10,
                    tzinfo=UTC), duration_ms=2140, results=list(results))
    return seal_from_run(run, secrets=secrets)


def _red(seal: Seal) -> Seal:
    seal.rollback = ["smokeseal release abandon 42", "git revert -m 1 3f2a9c1 # on main"]
    seal.last_green = {"id": 41, "version": "v1.4.1", "sha": "1a2b3c4"}
    return seal


RELEASE = Subject("studio", "v1.4.2", "3f2a9c1d4e5f", 42)


# --- the library: pure functions of the seal ----------------------------------------------

@pytest.mark.unit
def test_workflow_command_text_is_escaped_by_githubs_rules() -> None:
    assert escape_data("50%\r\n::set-output name=x::y") == "50%25%0D%0A::set-output name=x::y"
    assert escape_property("a: b, c%\n") == "a%3A b%2C c%25%0A"


@pytest.mark.unit
def test_each_failed_check_is_one_error_and_each_flaky_one_a_warning() -> None:
    seal = _red(_seal(CheckResult("devops hidden", "get", False, "expected 404, got 200", 41),
                      CheckResult("up", "get", True, "200", 3, first_failure="got 502"),
                      CheckResult("home renders", "page", True, "200", 400)))
    found = annotations("\n".join(annotation_lines(RELEASE, seal)))
    assert [(c.name, c.properties, c.data) for c in found] == [
        ("error", {"title": "smokeseal studio v1.4.2: devops hidden failed"},
         "expected 404, got 200"),
        ("warning", {"title": "smokeseal studio v1.4.2: up is flaky"},
         "failed on the first try: got 502"),
    ]


@pytest.mark.unit
def test_a_red_seal_where_nothing_ran_still_gets_an_error() -> None:
    lines = annotation_lines(Subject("studio"), _seal())
    [error] = annotations("\n".join(lines))
    assert error.name == "error" and error.data == "no checks ran"


@pytest.mark.unit
def test_production_text_cannot_start_a_workflow_command_of_its_own() -> None:
    seal = _seal(CheckResult("home, renders: ok", "page", False, INJECTION, 41))
    lines = annotation_lines(Subject("studio"), seal)
    assert len(lines) == 1  # the whole detail on one line
    [command] = obeyed("\n".join(lines))
    assert command.name == "error"
    assert command.properties == {"title": "smokeseal studio: home, renders: ok failed"}
    # The message shows production's text (a carriage return read as a line break), but the
    # runner obeys none of it.
    assert command.data == INJECTION.replace("\r", "\n")


@pytest.mark.unit
def test_the_summary_says_the_verdict_lists_every_check_and_the_rollback() -> None:
    seal = _red(_seal(CheckResult("home renders", "page", True, "200", 412),
                      CheckResult("devops hidden", "get", False, "expected 404, got 200", 41),
                      CheckResult("tasks render", "page", True, "200", 455,
                                  first_failure="expected 2xx, got 500"),
                      CheckResult("signin renders", "page", False, "no browser", 0,
                                  skipped=True)))
    page = render(summary_markdown(RELEASE, seal))
    assert page.headings == ["🔴 smokeseal: studio v1.4.2 (3f2a9c1) is red"]
    assert page.rows == [
        ["check", "kind", "result", "duration", "detail"],
        ["home renders", "page", "✅ passed", "412 ms", "200"],
        ["devops hidden", "get", "❌ failed", "41 ms", "expected 404, got 200"],
        ["tasks render", "page", "⚠️ flaky", "455 ms",
         "200\nflaky: failed on the first try: expected 2xx, got 500"],
        ["signin renders", "page", "⏭️ skipped", "0 ms", "no browser\nnot verified"],
    ]
    assert page.code == ["smokeseal release abandon 42\ngit revert -m 1 3f2a9c1 # on main\n"]
    assert "Last green release: v1.4.1 (id 41, sha 1a2b3c4)" in page.paragraphs
    assert any(p.startswith("Summary: 2/4 passed, 1 flaky: tasks render") for p in page.paragraphs)
    assert any("release id 42" in p and "sha 3f2a9c1d4e5f" in p for p in page.paragraphs)
    assert unexpected_tags(page) == []


@pytest.mark.unit
def test_a_green_summary_has_no_rollback() -> None:
    page = render(summary_markdown(Subject("studio"), _seal(
        CheckResult("up", "get", True, "200", 3))))
    assert page.headings == ["🟢 smokeseal: studio is green"]
    assert page.code == [] and "Rollback" not in page.html


@pytest.mark.unit
def test_markup_from_production_shows_as_the_text_it_is() -> None:
    seal = _red(_seal(CheckResult("home renders", "page", False, MARKUP, 41)))
    markdown = summary_markdown(RELEASE, seal)
    page = render(markdown)
    assert unexpected_tags(page) == [] and page.comments == []
    assert [len(row) for row in page.rows] == [5, 5]  # its | made no cell
    assert page.rows[1][4] == MARKUP
    assert "<img" not in page.html and "<!--" not in page.html


@pytest.mark.unit
def test_long_details_and_long_suites_are_cut() -> None:
    output = "\n".join(f"line {n} " + "Ω" * 400 for n in range(40))
    checks = [CheckResult("spec", "command", False, output, 9)]
    checks += [CheckResult(f"case {n}", "command", True, "passed", 1) for n in range(300)]
    markdown = summary_markdown(Subject("studio"), _seal(*checks))
    page = render(markdown)
    assert len(page.rows) == 1 + MAX_ROWS
    assert page.rows[1][0] == "spec"  # what failed is always listed
    detail = page.rows[1][4].split("\n")
    assert len(detail) == 10 and detail[-1] == "… 31 more lines"
    assert all(len(line) <= 200 for line in detail)
    assert "101 more checks are not listed (the summary's size has a limit; smokeseal " \
        "release show has them all)." in page.paragraphs
    assert len(markdown) < 100_000


@pytest.mark.unit
def test_a_summary_of_many_hostile_failures_stays_under_githubs_limit() -> None:
    # HTML entities make an escaped detail several times its length: 300 failing checks of
    # it once came to 1.2 MB, and GitHub drops a step summary over 1 MiB whole.
    hostile = "\n".join('<"&>' * 50 for _ in range(10))
    checks = [CheckResult(f"check {n}", "get", False, hostile, 1) for n in range(300)]
    markdown = summary_markdown(Subject("studio"), _red(_seal(*checks)))
    assert len(markdown.encode()) <= SUMMARY_BYTES
    page = render(markdown)
    assert 0 < len(page.rows) - 1 < 300
    assert any(p.endswith("more checks are not listed (the summary's size has a limit; "
                          "smokeseal release show has them all).") for p in page.paragraphs)
    assert page.code  # the rollback block is kept whatever the table's size


@pytest.mark.unit
def test_secrets_the_seal_redacted_stay_redacted() -> None:
    token = "ghp_S3cretT0kenForTests0000000000000000"
    seal = _red(_seal(CheckResult("spec", "command", False, f"exit status 1; output ends:\n"
                                  f"Authorization: Bearer {token}\n**{token[:20]}…", 9),
                      secrets=(token,)))
    markdown = summary_markdown(RELEASE, seal)
    lines = annotation_lines(RELEASE, seal)
    for text in (markdown, *lines):
        assert token not in text and token[:8] not in text
    assert render(markdown).rows[1][4].startswith(
        "exit status 1; output ends:\nAuthorization: Bearer ***\n")
    assert annotations("\n".join(lines))[0].data.startswith(
        "exit status 1; output ends:\nAuthorization: Bearer ***")


@pytest.mark.unit
def test_json_loses_the_runners_old_command_prefix_and_keeps_its_value() -> None:
    data = {"detail": "x ##[add-mask]hunter2 ###[set-output name=a]b"}
    text = json_safe(json.dumps(data, indent=2))
    assert "##[" not in text and json.loads(text) == data
    assert obeyed(text) == []


# --- through the command line, against the demo app -----------------------------------------

@pytest.fixture
def workdir(demo: Demo, write_config: Callable[[str], Path], browser_executable: str) -> Path:
    return write_config(demo.config_yaml()).parent


def _github_env(workdir: Path, summary: Path | None) -> dict[str, str]:
    env = {"SMOKESEAL_DATABASE_URL": f"sqlite:///{workdir / 'ledger.db'}",
           "GITHUB_ACTIONS": "true"}
    if summary is not None:
        env["GITHUB_STEP_SUMMARY"] = str(summary)
    return env


@pytest.mark.e2e
def test_a_red_seal_writes_its_summary_and_annotates_each_failure(
        demo: Demo, workdir: Path) -> None:
    summary = workdir / "step_summary.md"
    summary.write_text("an earlier step's summary\n")
    env = _github_env(workdir, summary)
    created = cli("smokeseal", "release", "create", "demo", "--version", "v2", "--sha",
                  "3f2a9c1dead", "--shipped", cwd=workdir, env=env)
    assert created.returncode == 0, created.stderr
    assert summary.read_text() == "an earlier step's summary\n"  # create has no summary
    demo.state.set_faults("devops_exposed")
    done = cli("smokeseal", "seal", "demo@v2", cwd=workdir, env=env)
    assert done.returncode == 1, done.stderr
    written = summary.read_text()
    assert written.startswith("an earlier step's summary\n### 🔴 ")  # appended
    page = render(written)
    assert page.headings == ["🔴 smokeseal: demo v2 (3f2a9c1) is red"]
    rows = {row[0]: row[1:] for row in page.rows[1:]}
    assert list(rows) == ["home renders", "signin renders", "tasks render", "up",
                          "devops hidden", "cycle hidden"]
    assert rows["devops hidden"][:2] == ["get", "❌ failed"]
    assert rows["devops hidden"][2].endswith(" ms")
    assert rows["devops hidden"][3] == "expected 404, got 200"
    assert [r[1] for r in rows.values()].count("✅ passed") == 4
    # The rollback commands are the ones recorded, and the ones the terminal shows.
    shown = json.loads(cli("smokeseal", "release", "show", "demo@v2", "--json", cwd=workdir,
                           env=env).stdout)
    rollback = shown["smoke_seal"]["rollback"]
    assert rollback == ["smokeseal release abandon 1",
                        "git revert 3f2a9c1 # on main, if 3f2a9c1 is a single commit",
                        "git revert -m 1 3f2a9c1 # on main, if 3f2a9c1 is a merge commit"]
    assert page.code == ["\n".join(rollback) + "\n"]
    assert "".join(f"  {command}\n" for command in rollback) in done.stdout
    assert [(c.name, c.properties["title"], c.data) for c in annotations(done.stdout)] == [
        ("error", "smokeseal demo v2: devops hidden failed", "expected 404, got 200"),
        ("error", "smokeseal demo v2: cycle hidden failed", "expected 404, got 200"),
    ]
    # The table is printed while the runner obeys nothing; the annotations after it.
    commands = obeyed(done.stdout)
    assert [c.name for c in commands][:2] == ["stop-commands", commands[0].data]
    assert "Rollback, if you decide to" in done.stdout.split(f"::{commands[0].data}::")[0]


@pytest.mark.e2e
def test_a_green_seal_summarises_without_errors(workdir: Path) -> None:
    summary = workdir / "step_summary.md"
    env = _github_env(workdir, summary)
    assert cli("smokeseal", "release", "create", "demo", "--version", "v1", "--sha", "1111111",
               "--shipped", cwd=workdir, env=env).returncode == 0
    done = cli("smokeseal", "seal", "demo@v1", cwd=workdir, env=env)
    assert done.returncode == 0, done.stderr
    page = render(summary.read_text())
    assert page.headings == ["🟢 smokeseal: demo v1 (1111111) is green"]
    assert [row[2] for row in page.rows[1:]] == ["✅ passed"] * 6
    assert page.code == []
    assert annotations(done.stdout) == []
    assert "🟢 green · 6/6 passed" in done.stdout


@pytest.mark.e2e
def test_prod_smoke_summarises_and_no_github_summary_writes_nothing(
        demo: Demo, workdir: Path) -> None:
    demo.state.set_faults("signin_500")
    summary = workdir / "step_summary.md"
    env = _github_env(workdir, summary)
    done = cli("prod-smoke", "demo", cwd=workdir, env=env)
    assert done.returncode == 1
    page = render(summary.read_text())
    assert page.headings == ["🔴 smokeseal: demo is red"]
    assert [row[:3] for row in page.rows[1:] if row[2] != "✅ passed"] == [
        ["signin renders", "page", "❌ failed"]]
    assert page.code == []  # prod-smoke records no release: nothing to roll back
    [error] = annotations(done.stdout)
    assert error.properties["title"] == "smokeseal demo: signin renders failed"
    assert error.data.startswith("expected 2xx, got 500")

    summary.unlink()
    quiet = cli("prod-smoke", "demo", "--no-github-summary", cwd=workdir, env=env)
    assert quiet.returncode == 1
    assert not summary.exists()
    assert len(annotations(quiet.stdout)) == 1  # annotations are the runner's, not the file's


@pytest.mark.e2e
def test_json_stays_json_and_annotations_go_to_stderr(demo: Demo, workdir: Path) -> None:
    demo.state.set_faults("devops_exposed")
    done = cli("prod-smoke", "demo", "--json", "--no-browser", cwd=workdir,
               env=_github_env(workdir, None))
    assert done.returncode == 1
    assert json.loads(done.stdout)["status"] == "red"
    assert [c.properties["title"] for c in annotations(done.stderr)] == [
        "smokeseal demo: home renders not verified", "smokeseal demo: signin renders not "
        "verified", "smokeseal demo: tasks render not verified",
        "smokeseal demo: devops hidden failed", "smokeseal demo: cycle hidden failed"]


@pytest.mark.e2e
def test_without_github_actions_nothing_changes(workdir: Path) -> None:
    done = cli("prod-smoke", "demo", "--no-browser", cwd=workdir)
    assert "::" not in done.stdout and not list(workdir.glob("*.md"))
    asked = cli("prod-smoke", "demo", "--github-summary", cwd=workdir)
    assert asked.returncode == 2
    assert asked.stderr == ("error: --github-summary: GITHUB_STEP_SUMMARY is not set (GitHub "
                            "Actions sets it in every step)\n")


@pytest.mark.e2e
def test_release_show_and_list_in_a_workflow_obey_no_command_from_production(
        tmp_path: Path) -> None:
    from smokeseal.ledger import Ledger
    from tests.github_runner import obeyed
    from tests.test_cli import cli

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger(url) as ledger:
        release = ledger.create_release("demo", "v2", "3f2a9c1")
        ledger.mark_shipped(release.id)
        ledger.record_seal(release.id, {
            "status": "red", "summary": "1/2 passed", "checked_at": "2026-11-25T10:00:00Z",
            "base_url": "https://app.example.com", "duration_ms": 5, "rollback": [],
            "checks": [{"name": "spec", "kind": "command", "ok": False, "duration_ms": 1,
                        "detail": "::add-mask::hunter2\n   ::error::forged\n##[set-env name=X]y"}]})
    env = {"SMOKESEAL_DATABASE_URL": url, "GITHUB_ACTIONS": "true"}
    for args in (("release", "show", "demo@v2"), ("release", "list")):
        done = cli("smokeseal", *args, cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
        # Only the pause and its resume: nothing production wrote is acted on.
        acted = {c.name for c in obeyed(done.stdout)}
        assert not acted & {"add-mask", "error", "set-env"}, done.stdout
