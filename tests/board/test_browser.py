"""The board as people see it: `smokeseal serve` in a real process, real headless Chromium."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smokeseal.browser.launch import LAUNCH_ARGS
from smokeseal.ledger import Ledger
from tests.board.conftest import HOSTILE_VERSION, Story, tell_the_story

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
TOKEN = "e2e-board-token"


def start_serve(ledger_url: str, tmp_path: Path, *, settings: str = "",
                **environ: str) -> tuple[subprocess.Popen[str], str, Story, list[str]]:
    """``smokeseal serve`` on a free port, guarded by a token, over the story; ``settings``
    are more top-level config lines, ``environ`` more variables."""
    with Ledger(ledger_url) as ledger:
        story = tell_the_story(ledger, tmp_path / "evidence")
    config = tmp_path / "smokeseal.yml"
    config.write_text(f"{settings}evidence_dir: evidence\n"
                      "apps:\n  studio: {url: https://app.example.com}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMOKESEAL_")}
    env.update(SMOKESEAL_BOARD_TOKEN=TOKEN, SMOKESEAL_DATABASE_URL=ledger_url, **environ)
    process = subprocess.Popen([str(BIN / "smokeseal"), "--config", str(config), "serve",
                                "--port", "0"], stderr=subprocess.PIPE, text=True, env=env)
    assert process.stderr is not None
    lines: list[str] = []
    for line in process.stderr:
        lines.append(line)
        if match := re.search(r"board on (http://127\.0\.0\.1:\d+)/deployments", line):
            return process, match.group(1), story, lines
    process.kill()
    process.stderr.close()
    process.wait()
    pytest.fail("serve printed no URL: " + "".join(lines))


def stop(process: subprocess.Popen[str], lines: list[str]) -> int:
    """Ctrl-C, as an operator would; the rest of what it printed joins ``lines``."""
    assert process.stderr is not None
    process.send_signal(signal.SIGINT)
    lines += process.stderr.readlines()
    process.stderr.close()
    return process.wait(timeout=15)


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    """Both backends are covered route by route in test_app; the browser needs one."""
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def served(ledger_url: str, tmp_path: Path) -> Iterator[tuple[str, Story]]:
    process, url, story, lines = start_serve(ledger_url, tmp_path)
    yield url, story
    stop(process, lines)


@pytest.fixture
def browser(browser_executable: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=browser_executable,
                                              args=list(LAUNCH_ARGS))
        yield launched
        launched.close()


def watch(page: Any) -> list[str]:
    """Console errors, page errors and dialogs: the board must produce none."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    return problems


def test_the_board_in_a_browser(served: tuple[str, Story], browser: Any) -> None:
    from playwright.sync_api import expect

    url, story = served
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    page = context.new_page()
    problems = watch(page)

    # The token once in the URL; then a cookie, and a clean address bar.
    response = page.goto(f"{url}/deployments?token={TOKEN}")
    assert response.status == 200 and page.url == f"{url}/deployments"
    badges = page.locator("a.badge")
    assert badges.evaluate_all("els => els.map(e => e.dataset.badge)") == [
        "none", "pending", "red", "green"]
    assert page.locator("a.badge[data-badge=red]").inner_text() == "sealed red"
    # The hostile version is text on the page, never an element.
    assert page.get_by_text(HOSTILE_VERSION, exact=True).count() == 1
    assert page.locator("img").count() == 0

    page.locator("a.badge[data-badge=red]").click()
    page.wait_for_url(f"{url}/releases/{story.red}")
    assert page.locator(".hero-label").inner_text().lower() == "sealed red"
    assert page.locator("table.checks tr.check.failed").count() == 2
    screenshot = page.locator(".evidence img")
    screenshot.wait_for()
    assert screenshot.evaluate("img => img.complete && img.naturalWidth") == 1
    copy = page.locator("button.copy")
    assert copy.is_visible()  # the script ran under the CSP
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == (
        f"smokeseal release abandon {story.red}\ngit revert -m 1 4e5f6a7 # on main")
    assert problems == []
    context.close()


def test_the_board_on_a_phone(served: tuple[str, Story], browser: Any) -> None:
    url, story = served
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True,
                                  has_touch=True, extra_http_headers={
                                      "Authorization": f"Bearer {TOKEN}"})
    page = context.new_page()
    problems = watch(page)
    for path in ("/deployments", f"/releases/{story.red}", f"/releases/{story.green}"):
        assert page.goto(url + path).status == 200
        # Nothing wider than the screen: no sideways scrolling to read a seal.
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, path
    assert problems == []
    context.close()


def test_serve_logs_paths_not_tokens_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    import httpx

    process, url, _, lines = start_serve(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path)
    with httpx.Client(base_url=url) as client:
        assert client.get(f"/deployments?app=studio&token={TOKEN}").status_code == 303
        assert client.get("/api/releases", headers={"Authorization": f"Bearer {TOKEN}"}
                          ).status_code == 200
        assert client.get("/up").json() == {"status": "ok"}
    assert stop(process, lines) == 0
    printed = "".join(lines)
    assert "GET /deployments 303" in printed and "GET /api/releases 200" in printed
    assert TOKEN not in printed
    assert "Traceback" not in printed


def test_serve_on_a_taken_port_is_one_clear_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMOKESEAL_")}
        done = subprocess.run([str(BIN / "smokeseal"), "--database-url",
                               f"sqlite:///{tmp_path / 'l.db'}", "serve", "--port", str(port)],
                              capture_output=True, text=True, env=env, cwd=tmp_path,
                              timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: --host/--port: cannot listen on 127.0.0.1:{port}: Address already in use"]
