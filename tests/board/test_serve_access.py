"""``smokeseal serve`` reads `badges:`, SMOKESEAL_PUBLIC_BADGES and SMOKESEAL_METRICS_TOKEN
(a real process, as an operator starts it)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.board.test_browser import BIN, TOKEN, start_serve, stop

pytestmark = pytest.mark.e2e
METRICS_TOKEN = "e2e-metrics-token"


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def test_serve_with_public_badges_and_a_metrics_token(ledger_url: str, tmp_path: Path) -> None:
    process, url, _, lines = start_serve(ledger_url, tmp_path, settings="badges: public\n",
                                         SMOKESEAL_METRICS_TOKEN=METRICS_TOKEN)
    try:
        assert httpx.get(f"{url}/badge/studio.svg", timeout=10).status_code == 200
        assert httpx.get(f"{url}/deployments", timeout=10).status_code == 401
        metrics = f"{url}/metrics"
        assert httpx.get(metrics, headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
                         timeout=10).status_code == 200
        assert httpx.get(metrics, headers={"Authorization": f"Bearer {TOKEN}"},
                         timeout=10).status_code == 401
    finally:
        assert stop(process, lines) == 0
    printed = "".join(lines)
    assert "public badges: /badge/APP.svg answers without the token" in printed
    assert "/metrics takes only SMOKESEAL_METRICS_TOKEN" in printed
    assert METRICS_TOKEN not in printed and TOKEN not in printed


def test_the_variable_wins_over_the_config(ledger_url: str, tmp_path: Path) -> None:
    process, url, _, lines = start_serve(ledger_url, tmp_path, settings="badges: public\n",
                                         SMOKESEAL_PUBLIC_BADGES="0")
    try:
        assert httpx.get(f"{url}/badge/studio.svg", timeout=10).status_code == 401
        # No metrics token: /metrics is the board's, under its token.
        assert httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"},
                         timeout=10).status_code == 200
    finally:
        stop(process, lines)


def test_a_wrong_public_badges_value_is_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "smokeseal.yml"
    config.write_text("badges: public\napps:\n  studio: {url: https://app.example.com}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMOKESEAL_")}
    env["SMOKESEAL_PUBLIC_BADGES"] = "maybe"
    done = subprocess.run([str(BIN / "smokeseal"), "--config", str(config), "--database-url",
                           f"sqlite:///{tmp_path / 'l.db'}", "serve", "--port", "0"],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: SMOKESEAL_PUBLIC_BADGES: expected 1 or 0, got 'maybe'"]
