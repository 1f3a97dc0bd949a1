"""The GitHub Action (action.yml), run step by step as GitHub's runner runs a composite action.

Each `run:` step goes to `bash --noprofile --norc -eo pipefail` (GitHub's `shell: bash`) with
the environment the runner gives it: GITHUB_ACTIONS, a GITHUB_STEP_SUMMARY, GITHUB_OUTPUT,
GITHUB_PATH and GITHUB_ENV files of its own, GITHUB_ACTION_PATH (this checkout), RUNNER_TEMP,
and its `env:` mapping with `${{ inputs.* }}`, `${{ steps.*.outputs.* }}`, `${{ runner.temp }}`
and `${{ github.action_path }}` resolved. A composite action's inputs are not set as INPUT_*
variables by GitHub: a step sees only what its `env:` maps, so none are set here either.

Only the install step is not run (it needs PyPI): every scenario passes `install: "false"`,
as a workflow that installed smokeseal itself would, with smokeseal on the PATH.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from smokeseal.ledger import Ledger
from tests.conftest import Demo
from tests.github_runner import annotations, render

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
BIN = Path(sys.executable).parent
SHA = "3f2a9c1d4e5f60718293a4b5c6d7e8f901234567"
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_CONDITION = re.compile(r"inputs\.([\w-]+) (==|!=) '([^']*)'")


def _action() -> dict[str, Any]:
    action: dict[str, Any] = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    return action


@dataclass
class StepRun:
    name: str
    ran: bool
    code: int = 0
    stdout: str = ""
    stderr: str = ""
    summary: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class ActionRun:
    steps: list[StepRun]
    outputs: dict[str, str]

    @property
    def code(self) -> int:
        return next((s.code for s in self.steps if s.code), 0)

    def step(self, name: str) -> StepRun:
        return next(s for s in self.steps if s.name == name)


def _resolve(text: str, inputs: dict[str, str], steps: dict[str, dict[str, str]],
             temp: Path) -> str:
    def value(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression.startswith("inputs."):
            return inputs[expression.removeprefix("inputs.")]
        if match_ := re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expression):
            return steps.get(match_.group(1), {}).get(match_.group(2), "")
        known = {"github.action_path": str(ROOT), "runner.temp": str(temp)}
        assert expression in known, f"an expression this test does not know: {expression}"
        return known[expression]

    return _EXPRESSION.sub(value, text)


def _condition(expression: str, inputs: dict[str, str]) -> bool:
    match = _CONDITION.fullmatch(expression.strip())
    assert match, f"an if: this test does not know: {expression}"
    name, operator, wanted = match.groups()
    return (inputs[name] == wanted) == (operator == "==")


def _outputs(path: Path) -> dict[str, str]:
    text = path.read_text() if path.exists() else ""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def run_action(given: dict[str, str], tmp: Path, job_env: dict[str, str] | None = None
               ) -> ActionRun:
    """The action's steps, in order, until one fails: what the runner does."""
    action = _action()
    inputs = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    assert set(given) <= set(inputs), f"inputs the action does not declare: {given}"
    inputs.update(given)
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("SMOKESEAL_", "GITHUB_", "RUNNER_", "INPUT_"))}
    # install: "false" means smokeseal is already on the PATH.
    base["PATH"] = f"{BIN}{os.pathsep}{base.get('PATH', '')}"
    base.update(job_env or {})
    temp = tmp / "runner-temp"
    temp.mkdir(exist_ok=True)
    step_outputs: dict[str, dict[str, str]] = {}
    runs: list[StepRun] = []
    for index, step in enumerate(action["runs"]["steps"]):
        name = step["name"]
        if "if" in step and not _condition(step["if"], inputs):
            runs.append(StepRun(name, ran=False))
            continue
        files = {key: tmp / f"step{index}-{key.lower()}" for key in
                 ("GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "GITHUB_PATH", "GITHUB_ENV")}
        for path in files.values():
            path.write_text("")
        env = {**base, **{k: str(v) for k, v in files.items()},
               "GITHUB_ACTIONS": "true", "GITHUB_ACTION_PATH": str(ROOT),
               "RUNNER_TEMP": str(temp), "CI": "true"}
        env.update({k: _resolve(str(v), inputs, step_outputs, temp)
                    for k, v in (step.get("env") or {}).items()})
        script = tmp / f"step{index}.sh"
        script.write_text(step["run"])
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                              cwd=tmp, env=env, capture_output=True, text=True, timeout=180,
                              check=False)
        assert "Traceback" not in done.stderr, done.stderr
        outputs = _outputs(files["GITHUB_OUTPUT"])
        if "id" in step:
            step_outputs[step["id"]] = outputs
        for line in files["GITHUB_PATH"].read_text().splitlines():
            base["PATH"] = f"{line}{os.pathsep}{base['PATH']}"
        base.update(_outputs(files["GITHUB_ENV"]))
        runs.append(StepRun(name, True, done.returncode, done.stdout, done.stderr,
                            files["GITHUB_STEP_SUMMARY"].read_text(), outputs))
        if done.returncode != 0:
            break
    declared = {name: _resolve(str(spec["value"]), inputs, step_outputs, temp)
                for name, spec in (action.get("outputs") or {}).items()}
    return ActionRun(runs, declared)


# --- what the action declares -----------------------------------------------------------

@pytest.mark.unit
def test_the_action_declares_its_inputs_and_keeps_them_out_of_scripts() -> None:
    action = _action()
    assert action["runs"]["using"] == "composite"
    inputs = action["inputs"]
    assert set(inputs) == {"app", "version", "sha", "config", "database-url", "notes-file",
                           "install", "python"}
    assert [name for name, spec in inputs.items() if spec.get("required")] == ["app"]
    assert all(spec.get("description") for spec in inputs.values())
    steps = action["runs"]["steps"]
    for step in steps:
        assert step["shell"] == "bash"
        # Script injection: no expression is ever pasted into a script.
        assert "${{" not in step["run"], step["name"]
        # A script reads only the INPUT_* its step maps from the inputs.
        used = set(re.findall(r"\bINPUT_\w+", step["run"]))
        assert used <= set(step.get("env") or {}), step["name"]
        for variable, value in (step.get("env") or {}).items():
            if variable.startswith("INPUT_"):
                name = variable.removeprefix("INPUT_").lower().replace("_", "-")
                assert value == "${{ inputs." + name + " }}"
        syntax = subprocess.run(["bash", "-n"], input=step["run"], text=True,
                                capture_output=True, check=False)
        assert syntax.returncode == 0, syntax.stderr
    # The database URL reaches smokeseal as SMOKESEAL_DATABASE_URL, never as an argument.
    text = ACTION.read_text()
    assert "--database-url" not in text
    seal = next(step for step in steps if step.get("id") == "seal")
    assert seal["env"]["INPUT_DATABASE_URL"] == "${{ inputs.database-url }}"
    assert 'export SMOKESEAL_DATABASE_URL="$INPUT_DATABASE_URL"' in seal["run"]
    install = next(step for step in steps if step.get("id") == "install")
    assert install["if"] == "inputs.install == 'true'"
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"


@pytest.mark.unit
def test_the_readmes_example_passes_only_inputs_the_action_declares() -> None:
    section = (ROOT / "README.md").read_text().split("### GitHub Actions\n", 1)[1]
    workflow = yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    [step] = [s for s in workflow["jobs"]["seal"]["steps"] if "smokeseal" in s.get("uses", "")]
    assert "app" in step["with"]
    assert set(step["with"]) <= set(_action()["inputs"])


# --- the action, run -----------------------------------------------------------------------

@pytest.fixture
def project(demo: Demo, write_config: Callable[[str], Path], browser_executable: str) -> Path:
    return write_config(demo.config_yaml())


@pytest.mark.e2e
def test_an_unknown_release_is_recorded_shipped_and_sealed_green(
        project: Path, ledger_url: str, tmp_path: Path) -> None:
    run = run_action({"app": "demo", "version": "v1.2.3", "sha": SHA, "config": str(project),
                      "database-url": ledger_url, "install": "false"}, tmp_path)
    assert [(s.name, s.ran, s.code) for s in run.steps] == [
        ("Install smokeseal", False, 0), ("Find a browser", True, 0), ("Seal", True, 0)]
    assert run.step("Find a browser").stdout.startswith("browser: ")
    seal = run.step("Seal")
    assert run.outputs == {"status": "green"}
    assert render(seal.summary).headings == ["🟢 smokeseal: demo v1.2.3 (3f2a9c1) is green"]
    assert annotations(seal.stdout) == []
    with Ledger(ledger_url) as ledger:
        [release] = ledger.releases()
    assert (release.app, release.version, release.sha, release.state, release.seal_status) == (
        "demo", "v1.2.3", SHA, "shipped", "green")


@pytest.mark.e2e
def test_the_step_exits_as_the_seal_does(demo: Demo, project: Path, tmp_path: Path) -> None:
    given = {"app": "demo", "version": "v2", "sha": SHA, "config": str(project),
             "install": "false"}
    job_env = {"SMOKESEAL_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}"}
    demo.state.set_faults("devops_exposed")
    red = run_action(given, tmp_path, job_env)
    assert red.code == 1 and red.outputs == {"status": "red"}
    seal = red.step("Seal")
    page = render(seal.summary)
    assert page.headings == ["🔴 smokeseal: demo v2 (3f2a9c1) is red"]
    # The workspace is no git checkout holding the sha: both reverts, labelled.
    assert page.code == ["smokeseal release abandon 1\n"
                         "git revert 3f2a9c1 # on main, if 3f2a9c1 is a single commit\n"
                         "git revert -m 1 3f2a9c1 # on main, if 3f2a9c1 is a merge commit\n"]
    assert [a.properties["title"] for a in annotations(seal.stdout)] == [
        "smokeseal demo v2: devops hidden failed", "smokeseal demo v2: cycle hidden failed"]

    # The workflow re-run after a fix: the release is known (same sha), sealed again, green.
    demo.state.set_faults()
    green = run_action(given, tmp_path, job_env)
    assert green.code == 0 and green.outputs == {"status": "green"}
    with Ledger(job_env["SMOKESEAL_DATABASE_URL"]) as ledger:
        [release] = ledger.releases()
        assert [s["status"] for s in ledger.seals(release.id)] == ["red", "green"]
    assert release.seal_status == "green"


@pytest.mark.e2e
def test_without_a_version_it_smokes_and_records_nothing(demo: Demo, project: Path,
                                                         tmp_path: Path) -> None:
    demo.state.set_faults("signin_500")
    run = run_action({"app": "demo", "install": "false"}, tmp_path,
                     {"SMOKESEAL_CONFIG": str(project)})  # the job's own config variable
    assert run.code == 1 and run.outputs == {"status": "red"}
    seal = run.step("Seal")
    assert render(seal.summary).headings == ["🔴 smokeseal: demo is red"]
    assert "prod-smoke demo →" in seal.stdout
    assert not list(project.parent.glob("*.db"))


@pytest.mark.e2e
def test_inputs_stay_data(project: Path, tmp_path: Path) -> None:
    """A version or an app name from an event (a tag, a deployment's payload) is never code
    nor an option."""
    job_env = {"SMOKESEAL_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}"}
    evil = run_action({"app": "demo", "version": "$(touch pwned)`touch pwned`", "sha": SHA,
                       "config": str(project), "install": "false"}, tmp_path, job_env)
    assert evil.code == 2
    assert "error: --version: " in evil.step("Seal").stderr
    option = run_action({"app": "--all", "config": str(project), "install": "false"}, tmp_path,
                        job_env)
    assert option.code == 2
    assert "error: unknown app '--all'" in option.step("Seal").stderr
    assert not list(tmp_path.rglob("pwned"))


def _browser_step(tmp_path: Path, installed_python: str | None = None,
                  **env: str) -> subprocess.CompletedProcess[str]:
    """The action's browser step on a PATH with bash and no browser; ``installed_python``:
    a stand-in for the installed Python that fails (as ``playwright install`` does on a
    runner without sudo or network)."""
    step = next(s for s in _action()["runs"]["steps"] if s["name"] == "Find a browser")
    only = tmp_path / "bin"
    only.mkdir(exist_ok=True)
    bash = only / "bash"
    if not bash.exists():
        bash.symlink_to(subprocess.run(["bash", "-c", "command -v bash"],
                                       capture_output=True, text=True).stdout.strip())
    python = ""
    if installed_python is not None:
        failing = only / "python"
        failing.write_text(f"#!{bash}\n{installed_python}\n")
        failing.chmod(0o755)
        python = str(failing)
    environ = {"PATH": str(only), "HOME": str(tmp_path), "INSTALLED_PYTHON": python,
               "PLAYWRIGHT_BROWSERS_PATH": str(tmp_path / "none"), **env}
    return subprocess.run([str(bash), "--noprofile", "--norc", "-eo", "pipefail", "-c",
                           step["run"]], env=environ, capture_output=True, text=True,
                          check=False)


@pytest.mark.component
def test_with_no_browser_to_find_and_nothing_installed_the_browser_step_warns(
        tmp_path: Path) -> None:
    done = _browser_step(tmp_path)
    assert done.returncode == 0, done.stderr
    [warning] = annotations(done.stdout)
    assert warning.name == "warning" and warning.data.startswith("no Chromium found")
    found = _browser_step(tmp_path, SMOKESEAL_BROWSER="/opt/chrome")
    assert (found.returncode, found.stdout) == (0, "browser: SMOKESEAL_BROWSER=/opt/chrome\n")


@pytest.mark.component
def test_a_browser_install_that_fails_warns_and_lets_the_seal_run(tmp_path: Path) -> None:
    # A self-hosted runner without sudo or network: the seal must still run and be recorded
    # (its page checks then fail saying there is no browser), not the job stop here.
    done = _browser_step(tmp_path, "echo 'E: could not install' >&2; exit 1")
    assert done.returncode == 0, done.stderr
    [warning] = annotations(done.stdout)
    assert warning.name == "warning" and warning.data.startswith("could not install Chromium")
