"""The README's command check, as written, running real Playwright Test (``@playwright/test``
from npm, installed by ``make test`` in tests/playwright) against the bundled demo app with
the system Chromium, through the real ``prod-smoke``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Demo

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
PROJECT = Path(__file__).resolve().parents[1] / "playwright"
# The README's example check, word for word (its `junit: results.xml` included).
README_CHECK = """\
      - name: existing spec
        command: npx playwright test --grep @qa-readonly --reporter=junit
        env: {BASE_URL: "{url}"}
        junit: results.xml
"""


@pytest.fixture(scope="session")
def playwright_project() -> Path:
    """tests/playwright with @playwright/test installed. CI must have it: there a missing
    Node.js or npm install is a failure, not a skip."""
    problem = None
    if shutil.which("npx") is None:
        problem = "Node.js is not installed (scripts/ensure-system node, or make test)"
    elif not (PROJECT / "node_modules" / "@playwright" / "test").is_dir():
        problem = "tests/playwright has no node_modules: run make test (it runs npm ci there)"
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs Playwright Test: {problem}")
        pytest.skip(problem)
    return PROJECT


def team_project(playwright_project: Path, where: Path) -> Path:
    """A team's repository: its Playwright config and spec, its installed packages."""
    where.mkdir()
    for name in ("package.json", "playwright.config.js", "smoke.spec.js"):
        shutil.copy(playwright_project / name, where / name)
    (where / "node_modules").symlink_to(playwright_project / "node_modules")
    return where


def prod_smoke(config: Path, browser: str) -> tuple[int, dict[str, Any], str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SMOKESEAL_")}
    # The project's playwright.config.js takes the browser from here.
    environ["SMOKESEAL_BROWSER"] = browser
    done = subprocess.run([str(BIN / "prod-smoke"), "--config", str(config), "demo", "--json"],
                          capture_output=True, text=True, env=environ, timeout=300,
                          check=False)
    try:
        return done.returncode, json.loads(done.stdout), done.stderr
    except json.JSONDecodeError:
        raise AssertionError(f"exit {done.returncode}: {done.stdout}\n{done.stderr}") from None


def outcomes(seal: dict[str, Any]) -> list[tuple[str, str]]:
    return [(check["name"], check["outcome"]) for check in seal["checks"]]


READ_ONLY_TESTS = ["home renders @qa-readonly", "up answers 200 @qa-readonly",
                   "devops hidden @qa-readonly"]


def test_the_readme_check_runs_real_playwright_test_as_written(
        tmp_path: Path, demo: Demo, browser_executable: str, playwright_project: Path) -> None:
    # Three projects, as three teams would have them: the README's check in the config's
    # own folder; one that names {junit} for Playwright; one that leaves JUnit on stdout.
    readme = team_project(playwright_project, tmp_path / "readme")
    team_project(playwright_project, tmp_path / "fresh")
    team_project(playwright_project, tmp_path / "printed")
    config = readme / "smokeseal.yml"
    config.write_text(f"apps:\n  demo:\n    url: {demo.url}\n    suite:\n" + README_CHECK + """\
      - name: fresh results
        command: npx playwright test --grep @qa-readonly --reporter=junit
        env: {BASE_URL: "{url}", PLAYWRIGHT_JUNIT_OUTPUT_NAME: "{junit}"}
        cwd: ../fresh
      - name: printed results
        command: npx playwright test --grep @qa-readonly --reporter=junit
        env: {BASE_URL: "{url}"}
        cwd: ../printed
""")
    code, seal, err = prod_smoke(config, browser_executable)
    assert outcomes(seal) == [(f"{check} › {test}", "passed")
                              for check in ("existing spec", "fresh results", "printed results")
                              for test in READ_ONLY_TESTS], seal["checks"]
    assert (code, seal["status"]) == (0, "green"), err
    assert (readme / "results.xml").exists()  # where the README says it will be
    # --grep kept the writing test away from production (the demo fixture checks, too).
    assert not any(method != "GET" and method != "HEAD" for method, _ in demo.state.requests)


def test_a_broken_release_fails_the_playwright_testcase_that_saw_it(
        tmp_path: Path, demo: Demo, browser_executable: str, playwright_project: Path) -> None:
    demo.state.set_faults("devops_exposed")
    project = team_project(playwright_project, tmp_path / "project")
    config = project / "smokeseal.yml"
    config.write_text(f"apps:\n  demo:\n    url: {demo.url}\n    suite:\n" + README_CHECK)
    code, seal, _ = prod_smoke(config, browser_executable)
    assert (code, seal["status"]) == (1, "red")
    assert outcomes(seal) == [("existing spec › home renders @qa-readonly", "passed"),
                              ("existing spec › up answers 200 @qa-readonly", "passed"),
                              ("existing spec › devops hidden @qa-readonly", "failed")]
    assert seal["checks"][2]["detail"] == ("expect(received).toBe(expected) // Object.is "
                                           "equality; Expected: 404; Received: 200")


def test_a_playwright_retry_that_passed_is_flaky_and_still_green(
        tmp_path: Path, demo: Demo, browser_executable: str, playwright_project: Path) -> None:
    project = team_project(playwright_project, tmp_path / "project")
    config = project / "smokeseal.yml"
    config.write_text(f"""\
apps:
  demo:
    url: {demo.url}
    suite:
      - name: retried spec
        command: npx playwright test --grep @flaky --retries=1 --reporter=junit
        env: {{BASE_URL: "{{url}}", PLAYWRIGHT_JUNIT_OUTPUT_NAME: "{{junit}}"}}
""")
    code, seal, err = prod_smoke(config, browser_executable)
    assert outcomes(seal) == [("retried spec › warms up @flaky", "flaky")], seal["checks"]
    assert "cold cache on the first try" in seal["checks"][0]["first_failure"]
    assert (code, seal["status"]) == (0, "green"), err
