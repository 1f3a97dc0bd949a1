"""Secrets come from the environment and go nowhere else: not the ledger, the output, the
logs, the evidence or the board, even when the places they guard fail."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import Api, Broken, Demo, notify_yaml
from tests.standins import DISCORD_TOKEN, GITHUB_TOKEN, SLACK_TOKEN, WEBHOOK_PATH, WEBHOOK_SECRET

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
BOARD_TOKEN = "board-T0ken-n3ver-logged"
METRICS_TOKEN = "metrics-T0ken-n3ver-logged"


@pytest.mark.slow  # a day of trouble
def test_no_token_appears_anywhere_after_a_day_of_trouble(
        demo: Demo, discord: Api, github: Api, slack: Api, webhook: Api, tmp_path: Path,
        browser_executable: str, write_config: Callable[..., Path]) -> None:
    github.state.add_release("v1", "Notes.")
    config = write_config(demo.config_yaml().replace(
        "    suite: qa-readonly\n",
        "    suite: qa-readonly\n    deploy: 'true'\n    gate: {timeout: 3, interval: 0.2}\n"
        + notify_yaml(discord, github, slack=slack, webhook=webhook)))
    hook = webhook.state.url(webhook.url)
    webhook = discord.state.webhook_url(discord.url)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SMOKESEAL_")},
           "SMOKESEAL_CONFIG": str(config), "SMOKESEAL_BROWSER": browser_executable,
           "DISCORD_WEBHOOK_URL": webhook, "GITHUB_TOKEN": GITHUB_TOKEN,
            "SMOKESEAL_BOARD_TOKEN": BOARD_TOKEN, "SMOKESEAL_METRICS_TOKEN": METRICS_TOKEN,
           "SLACK_BOT_TOKEN": SLACK_TOKEN, "SMOKESEAL_WEBHOOK_URL": hook,
           "SMOKESEAL_WEBHOOK_SECRET": WEBHOOK_SECRET}
    said: list[str] = []

    def smokeseal(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(BIN / args[0]), *args[1:]], env={**env, **extra},
                              cwd=tmp_path, capture_output=True, text=True, timeout=120,
                              check=False)
        said.append(done.stdout + done.stderr)
        return done

    # A red ship while Discord answers 500s and GitHub refuses the token.
    demo.state.set_faults("devops_exposed", "tasks_js_error")
    discord.state.fail_next(*["500"] * 10)
    slack.state.fail_next("invalid_auth")
    shipped = smokeseal("smokeseal", "ship", "demo", "--version", "v1", "--sha", "3f2a9c1",
                        GITHUB_TOKEN="ghp_wrongTokenAlsoSecret000000000000000000")
    assert shipped.returncode == 0, shipped.stderr
    # A dead webhook (the connection error names the URL it tried), then a re-seal, listed.
    dead = f"http://127.0.0.1:9/api/webhooks/1187000000000000001/{DISCORD_TOKEN}"
    dead_hook = "http://127.0.0.1:9" + WEBHOOK_PATH
    smokeseal("smokeseal", "seal", "demo@v1", "--json", DISCORD_WEBHOOK_URL=dead,
              SMOKESEAL_WEBHOOK_URL=dead_hook)
    smokeseal("smokeseal", "outbox", "list", "--json", DISCORD_WEBHOOK_URL=dead,
              SMOKESEAL_WEBHOOK_URL=dead_hook)
    smokeseal("smokeseal", "outbox", "flush", "--debug", DISCORD_WEBHOOK_URL=dead,
              SMOKESEAL_WEBHOOK_URL=dead_hook)
    smokeseal("smokeseal", "outbox", "flush")
    smokeseal("smokeseal", "release", "show", "demo@v1", "--json")
    smokeseal("smokeseal", "release", "list", "--json")
    smokeseal("smokeseal", "doctor")
    smokeseal("prod-smoke", "demo", "--json")
    assert any("could not reach it" in text for text in said)  # the failures did happen

    # The board, its pages and API, and its own log of what was asked.
    board = subprocess.Popen([str(BIN / "smokeseal"), "serve", "--port", "0"], env=env,
                             cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    assert board.stderr is not None
    base = None
    for line in board.stderr:
        said.append(line)
        if found := re.search(r"(http://127\.0\.0\.1:\d+)/deployments", line):
            base = found.group(1)
            break
    assert base is not None
    with httpx.Client(base_url=base, follow_redirects=True) as client:
        pages = [client.get("/deployments", params={"token": BOARD_TOKEN}).text]
        for path in ("/deployments", "/releases/1", "/api/releases", "/api/releases/1",
                     "/badge/demo.svg"):
            pages.append(client.get(path).text)
        scraped = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert scraped.status_code == 200 and "smokeseal_seal_green" in scraped.text
        pages += [scraped.text, client.get("/metrics", params={"token": METRICS_TOKEN}).text]
    board.send_signal(signal.SIGINT)
    said.append(board.communicate(timeout=20)[1])

    files = [path for path in tmp_path.rglob("*") if path.is_file()
             and path.name != "smokeseal.yml"]  # the config holds ${VAR}s, never values
    assert any(path.suffix == ".db" for path in files)
    assert any(path.name == "screenshot.png" for path in files)  # evidence was kept
    places = {"output and logs": "\n".join(said), "board": "\n".join(pages)}
    places |= {str(path): path.read_bytes().decode("utf-8", "replace") for path in files}
    assert any("invalid_auth" in text for text in said)  # Slack refused once, too
    for secret in (DISCORD_TOKEN, GITHUB_TOKEN, "ghp_wrongTokenAlsoSecret", BOARD_TOKEN,
                   METRICS_TOKEN, SLACK_TOKEN, WEBHOOK_SECRET, WEBHOOK_PATH.rsplit("/", 1)[1]):
        leaks = [place for place, text in places.items() if secret in text]
        assert not leaks, f"{secret[:8]}… found in {leaks}"
    assert "${DISCORD_WEBHOOK_URL}" in config.read_text()


def test_a_command_check_that_prints_a_secret_does_not_put_it_in_the_seal(
        broken: Broken, discord: Api, github: Api, write_config: Callable[..., Path],
        secrets_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from smokeseal.config import load_config
    from smokeseal.ledger import Ledger
    from smokeseal.ship import record_shipped, seal_release

    # A `set -x`-style script echoes its environment, then fails: its output is the detail.
    monkeypatch.setenv("E2E_TOKEN", "e2e-s3cret-for-the-suite")
    config = load_config(write_config(
        f"apps:\n  shop:\n    url: {broken.url}\n"
        "    suite:\n"
        "      - {name: spec, command: \"sh -c 'echo hook=$DISCORD_WEBHOOK_URL "
        "token=$GITHUB_TOKEN e2e=$E2E_TOKEN; exit 1'\", env: {E2E_TOKEN: '${E2E_TOKEN}'}}\n"
        + notify_yaml(discord, github)))
    database = tmp_path / "ledger.db"
    with Ledger(f"sqlite:///{database}") as ledger:
        release = record_shipped(config, ledger, "shop", "v1", "3f2a9c1")
        seal, _ = seal_release(config, ledger, release)
    assert seal.status == "red"
    [spec] = seal.checks
    assert "hook=***" in spec.detail and "token=***" in spec.detail
    assert "e2e=***" in spec.detail
    stored = database.read_bytes()
    for secret in (DISCORD_TOKEN, GITHUB_TOKEN, "e2e-s3cret-for-the-suite"):
        assert secret.encode() not in stored
