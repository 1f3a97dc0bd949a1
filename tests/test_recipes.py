"""The CI recipes in docs/recipes are run here for real, so they cannot rot.

Each recipe's smokeseal lines are executed by /bin/sh, in order, with the variables the CI
system would set, against the demo app as production and a fresh ledger; the Kamal hook is
executed as Kamal would, inside a git checkout.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from smokeseal.ledger import Ledger
from tests.conftest import Api, Demo, notify_yaml

pytestmark = pytest.mark.e2e
RECIPES = Path(__file__).resolve().parent.parent / "docs" / "recipes"
BIN = Path(sys.executable).parent
SHA = "3f2a9c1d4e5f60718293a4b5c6d7e8f901234567"


@pytest.fixture
def project(demo: Demo, tmp_path: Path, browser_executable: str) -> Iterator[Path]:
    """A checkout whose smokeseal.yml names the demo app "studio", as the recipes do."""
    (tmp_path / "smokeseal.yml").write_text(f"apps:\n  studio:\n    url: {demo.url}\n")
    (tmp_path / "CHANGELOG.md").write_text("## v1.2.3\n- faster tasks\n")
    yield tmp_path


def environment(project: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMOKESEAL_", "KAMAL_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["SMOKESEAL_DATABASE_URL"] = f"sqlite:///{project / 'ledger.db'}"
    return {**env, **extra}


def run_lines(lines: list[str], project: Path, env: dict[str, str]) -> list[int]:
    codes = []
    for line in lines:
        done = subprocess.run(["/bin/sh", "-c", line], cwd=project, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert "Traceback" not in done.stderr, done.stderr
        codes.append(done.returncode)
    return codes


def smokeseal_lines(commands: list[str]) -> list[str]:
    return [c for c in commands if c.lstrip().startswith("smokeseal ")]


def assert_sealed_green(project: Path) -> None:
    with Ledger(f"sqlite:///{project / 'ledger.db'}") as ledger:
        [release] = ledger.releases()
        assert (release.app, release.version, release.state) == ("studio", "v1.2.3", "shipped")
        assert release.seal_status == "green"


def test_the_github_actions_recipe(project: Path) -> None:
    workflow = yaml.safe_load((RECIPES / "github-actions.yml").read_text())
    job = workflow["jobs"]["deploy"]
    steps = [step["run"] for step in job["steps"] if "run" in step]
    lines = smokeseal_lines(steps)
    assert [line.split()[1] for line in lines] == ["release", "seal", "outbox"]
    env = environment(project, GITHUB_REF_NAME="v1.2.3", GITHUB_SHA=SHA)
    assert run_lines(lines, project, env) == [0, 0, 0]
    assert_sealed_green(project)
    junit = (project / "smokeseal-junit.xml").read_text()
    assert 'tests="2"' in junit and 'failures="0"' in junit
    # The seal step may go red without failing the workflow; the flush runs regardless.
    seal_step = next(s for s in job["steps"] if "smokeseal seal" in s.get("run", ""))
    assert seal_step["continue-on-error"] is True
    flush_step = next(s for s in job["steps"] if "outbox flush" in s.get("run", ""))
    assert flush_step["if"] == "always()"


@pytest.mark.slow  # a whole flow
def test_the_gitlab_ci_recipe(project: Path) -> None:
    pipeline = yaml.safe_load((RECIPES / "gitlab-ci.yml").read_text())
    job = pipeline["seal"]
    lines = smokeseal_lines(job["script"] + job["after_script"])
    env = environment(project, CI_COMMIT_TAG="v1.2.3", CI_COMMIT_SHA=SHA)
    assert run_lines(lines, project, env) == [0, 0, 0]
    assert_sealed_green(project)
    # Only a red seal (exit 1) is allowed to fail; usage errors and ledger errors are not.
    assert job["allow_failure"] == {"exit_codes": [1]}
    assert job["artifacts"]["reports"]["junit"] == "smokeseal-junit.xml"
    assert (project / "smokeseal-junit.xml").exists()


@pytest.mark.slow  # a whole flow
def test_the_kamal_post_deploy_hook(project: Path, demo: Demo) -> None:
    hook = RECIPES / "kamal-post-deploy"
    assert os.access(hook, os.X_OK)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "release"], cwd=project,
                   check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True,
                          text=True, check=True).stdout.strip()
    env = environment(project, KAMAL_VERSION="v1.2.3", KAMAL_DESTINATION="production")
    done = subprocess.run([str(hook)], cwd=project, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert_sealed_green(project)
    with Ledger(f"sqlite:///{project / 'ledger.db'}") as ledger:
        assert ledger.releases()[0].sha == head
    # A red seal is said, and the hook still exits 0: the deploy stands.
    demo.state.set_faults("up_500")
    red = subprocess.run([str(hook)], cwd=project, env={**env, "KAMAL_VERSION": "v1.2.4"},
                         capture_output=True, text=True, timeout=120, check=False)
    assert red.returncode == 0
    assert "smokeseal: studio@v1.2.4 is not sealed green" in red.stderr
    assert "🔴 red" in red.stdout
    # The rollback, as the README says: abandon, then `kamal rollback v1.2.3` runs the hook
    # with the version it put back, from a checkout that has moved on.
    demo.state.set_faults()
    assert run_lines(["smokeseal release abandon studio@v1.2.4"], project, env) == [0]
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "next"], cwd=project,
                   check=True)
    back = subprocess.run([str(hook)], cwd=project, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert back.returncode == 0, back.stderr
    assert "🟢 green" in back.stdout and "not sealed green" not in back.stderr
    assert run_lines(["smokeseal seal studio --current"], project, env) == [0]
    with Ledger(f"sqlite:///{project / 'ledger.db'}") as ledger:
        v1 = ledger.release("studio@v1.2.3")
        assert (v1.state, v1.sha, len(ledger.seals(v1.id))) == ("shipped", head, 3)


def test_every_recipe_is_listed_in_the_readme() -> None:
    readme = (RECIPES.parent.parent / "README.md").read_text()
    for recipe in RECIPES.iterdir():
        assert f"docs/recipes/{recipe.name}" in readme, recipe.name


@pytest.mark.slow  # a whole flow
def test_the_scheduled_github_workflow_recipe(project: Path, demo: Demo) -> None:
    workflow = yaml.safe_load((RECIPES / "github-scheduled.yml").read_text())
    assert workflow[True]["schedule"] == [{"cron": "*/15 * * * *"}]  # YAML reads "on" as True
    job = workflow["jobs"]["reseal"]
    lines = smokeseal_lines([step["run"] for step in job["steps"] if "run" in step])
    assert [line.split()[1] for line in lines] == ["seal", "outbox"]
    env = environment(project)
    assert run_lines([f"smokeseal release create studio --version v1.2.3 --sha {SHA} "
                      "--shipped"], project, env) == [0]
    assert run_lines(lines, project, env) == [0, 0]
    demo.state.set_faults("up_500")
    assert run_lines(lines, project, env) == [1, 0]  # red: the step, not the flush
    seal_step = next(s for s in job["steps"] if "smokeseal seal" in s.get("run", ""))
    assert seal_step["continue-on-error"] is True
    with Ledger(f"sqlite:///{project / 'ledger.db'}") as ledger:
        [release] = ledger.releases()
        assert [s["status"] for s in ledger.seals(release.id)] == ["green", "red"]


def cron_recipe() -> tuple[dict[str, str], str]:
    """The README's crontab: its variables, and the command of its one schedule line."""
    readme = (RECIPES.parent.parent / "README.md").read_text()
    section = readme.split("\n### cron\n", 1)[1]
    block = re.search(r"```crontab\n(.*?)```", section, re.S)
    assert block is not None
    variables, commands = {}, []
    for line in block.group(1).splitlines():
        if re.match(r"^[A-Z_]+=", line):
            name, value = line.split("=", 1)
            variables[name] = value.strip('"')
        elif line.strip():
            commands.append(line.split(maxsplit=5)[5])
    [command] = commands
    return variables, command


@pytest.mark.slow  # a whole flow
def test_the_cron_recipe_alerts_once_per_change(
        project: Path, demo: Demo, discord: Api, ledger_url: str) -> None:
    """The README's cron line, five runs: green, green, red, red, green."""
    (project / "smokeseal.yml").write_text(
        f"apps:\n  studio:\n    url: {demo.url}\n"
        "    suite: [{name: up, get: /up}, {name: devops hidden, get: /devops, "
        "expect: {status: 404}}]\n" + notify_yaml(discord, None))
    variables, command = cron_recipe()
    assert command.startswith("cd /srv/studio && smokeseal seal studio --current")
    (project / ".venv").symlink_to(BIN.parent)  # the recipe's /srv/studio/.venv
    env = environment(project, SMOKESEAL_DATABASE_URL=ledger_url,
                      DISCORD_WEBHOOK_URL=discord.state.webhook_url(discord.url))
    env.update({k: v.replace("/srv/studio", str(project)) for k, v in variables.items()})
    line = command.replace("/srv/studio", str(project))
    assert run_lines([f"smokeseal release create studio --version v1.2.3 --sha {SHA} "
                      "--shipped"], project, environment(
                          project, SMOKESEAL_DATABASE_URL=ledger_url,
                          DISCORD_WEBHOOK_URL=env["DISCORD_WEBHOOK_URL"])) == [0]

    def cron(faults: tuple[str, ...]) -> tuple[int, list[str]]:
        demo.state.set_faults(*faults)
        before = len(discord.state.posts())
        [code] = run_lines([line], project, env)
        return code, [p.json["content"] or p.json["embeds"][0]["title"]
                      for p in discord.state.posts()[before:]]

    assert cron(()) == (0, ["🟢 studio v1.2.3 sealed green"])  # the first seal
    assert cron(()) == (0, [])                                 # still green: nothing
    code, posts = cron(("devops_exposed",))
    assert code == 1 and posts[0] == "🔴 studio v1.2.3 sealed red"
    assert [p for p in posts if p.startswith("<@111>")] == posts[1:] and len(posts) == 2
    assert cron(("devops_exposed",)) == (1, [])                 # still red: no second alert
    code, posts = cron(())
    assert code == 0 and len(posts) == 1
    assert posts[0].startswith("🟢 **studio v1.2.3** (`3f2a9c1`) recovered: sealed green again")
    log = (project / "smokeseal-cron.log").read_text()
    assert log.count("seal studio@v1.2.3") == 5 and "Traceback" not in log
    with Ledger(ledger_url) as ledger:
        [release] = ledger.releases()
        assert [s["status"] for s in ledger.seals(release.id)] == [
            "green", "green", "red", "red", "green"]
