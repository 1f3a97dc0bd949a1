"""The CI recipes in docs/recipes are run here for real, so they cannot rot.

Each recipe's smokeseal lines are executed by /bin/sh, in order, with the variables the CI
system would set, against the demo app as production and a fresh ledger; the Kamal hook is
executed as Kamal would, inside a git checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from smokeseal.ledger import Ledger
from tests.conftest import Demo

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


def test_every_recipe_is_listed_in_the_readme() -> None:
    readme = (RECIPES.parent.parent / "README.md").read_text()
    for recipe in RECIPES.iterdir():
        assert f"docs/recipes/{recipe.name}" in readme, recipe.name
