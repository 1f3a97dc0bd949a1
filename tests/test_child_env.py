"""What the commands smokeseal runs inherit (issue 16): a command check and a deploy get
smokeseal's environment without its own secrets or its start-up trims, and ``ship`` shows
the deploy line as written. Real console-script start-up, real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import smokeseal
from tests.conftest import Demo

pytestmark = pytest.mark.integration
SRC = str(Path(smokeseal.__file__).resolve().parent.parent)
DUMP = "import json, os, sys; open(sys.argv[1], 'w').write(json.dumps(dict(os.environ)))"

SECRETS = {
    "DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/1/own-hook-secret",
    "GITHUB_TOKEN": "ghp_ownsecrettoken",
    "SMOKESEAL_BOARD_TOKEN": "board-token-secret",
    "SMOKESEAL_DATABASE_URL": "postgresql://u:db-password@127.0.0.1:9/x",
    "SMOKESEAL_METRICS_TOKEN": "metrics-token-secret",
    "TEAM_HOOK": "https://discord.com/api/webhooks/2/team-hook-secret",
    "RELEASE_PAT": "ghp_releasepatsecret",
}


def config_text(url: str, deploy: str | None = None) -> str:
    return (f"apps:\n  demo:\n    url: {url}\n"
            + (f"    deploy: {json.dumps(deploy)}\n" if deploy else "")
            + "    gate: {timeout: 5, interval: 0.2}\n"
            "    notify:\n"
            "      discord: {webhook_url: ${TEAM_HOOK}}\n"
            "      github_release: {repo: o/n, token: ${RELEASE_PAT}}\n"
            "    suite:\n"
            "      - name: env\n"
            f"        command: {json.dumps(sys.executable + ' dump.py env.json')}\n"
            "        env: {HOOK_FOR_SPEC: '${RELEASE_PAT}'}\n")


def smokeseal_cli(tmp_path: Path, *args: str,
                  env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The console script's own start-up (``_startup.main``), from this source tree."""
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("SMOKESEAL_") and k not in ("PYDANTIC_DISABLE_PLUGINS",
                                                               "NODE_COMPILE_CACHE")}
    environ.update(PYTHONPATH=SRC, CUSTOM_VAR="ordinary", **env)
    return subprocess.run([sys.executable, "-c", "from smokeseal._startup import main; main()",
                           *args], cwd=tmp_path, env=environ, capture_output=True, text=True,
                          timeout=120, check=False)


def test_a_command_check_gets_no_secret_of_smokeseal_and_no_start_up_trim(
        tmp_path: Path) -> None:
    (tmp_path / "dump.py").write_text(DUMP)
    (tmp_path / "smokeseal.yml").write_text(config_text("http://127.0.0.1:9"))
    run = smokeseal_cli(tmp_path, "smoke", "demo", "--no-browser", env=SECRETS)
    assert (tmp_path / "env.json").is_file(), run.stdout + run.stderr
    seen = json.loads((tmp_path / "env.json").read_text())
    withheld = {k: v for k, v in SECRETS.items() if k != "RELEASE_PAT"}  # the check names it
    for name in withheld:
        assert name not in seen, name
    assert not set(withheld.values()) & set(seen.values())
    # Start-up's own trims stay in smokeseal.
    assert "PYDANTIC_DISABLE_PLUGINS" not in seen and "NODE_COMPILE_CACHE" not in seen
    # What the check names itself, and everything ordinary, it gets.
    assert seen["HOOK_FOR_SPEC"] == SECRETS["RELEASE_PAT"]
    assert seen["RELEASE_PAT"] == SECRETS["RELEASE_PAT"]
    assert seen["CUSTOM_VAR"] == "ordinary" and seen["PATH"] == os.environ["PATH"]
    assert seen["SMOKESEAL_URL"] == "http://127.0.0.1:9"


def test_a_start_up_variable_the_user_set_is_theirs_to_pass_on(tmp_path: Path) -> None:
    (tmp_path / "dump.py").write_text(DUMP)
    (tmp_path / "smokeseal.yml").write_text(config_text("http://127.0.0.1:9"))
    smokeseal_cli(tmp_path, "smoke", "demo", "--no-browser",
                  env={**SECRETS, "NODE_COMPILE_CACHE": "/tmp/mine"})
    seen = json.loads((tmp_path / "env.json").read_text())
    assert seen["NODE_COMPILE_CACHE"] == "/tmp/mine"
    assert "PYDANTIC_DISABLE_PLUGINS" not in seen


def test_ship_shows_the_deploy_line_as_written_and_its_env_has_no_start_up_trim(
        tmp_path: Path, demo: Demo) -> None:
    (tmp_path / "dump.py").write_text(DUMP)
    deploy = f"{sys.executable} dump.py deploy-env.json --token ${{DEPLOY_TOKEN}}"
    (tmp_path / "smokeseal.yml").write_text(config_text(demo.url, deploy=deploy))
    run = smokeseal_cli(tmp_path, "--database-url", f"sqlite:///{tmp_path}/ledger.db",
                        "ship", "demo", "--version", "v1", "--sha", "3f2a9c1",
                        env={**SECRETS, "DEPLOY_TOKEN": "tk"})
    shown = run.stdout + run.stderr
    assert "--token ${DEPLOY_TOKEN}" in shown, shown
    assert "tk" not in shown.replace("token", "")
    seen = json.loads((tmp_path / "deploy-env.json").read_text())
    assert "PYDANTIC_DISABLE_PLUGINS" not in seen and "NODE_COMPILE_CACHE" not in seen
    assert seen["CUSTOM_VAR"] == "ordinary" and seen["SMOKESEAL_VERSION"] == "v1"
