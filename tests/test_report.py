from __future__ import annotations

import io
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text

from smokeseal.report import Waiting, print_seal, write_junit
from smokeseal.seal import Seal

pytestmark = pytest.mark.unit


def test_a_long_wait_in_a_log_says_it_is_still_going() -> None:
    log = io.StringIO()
    with Waiting(Console(file=log, force_terminal=False, width=200), "deploying a@v1",
                 heartbeat=0.1):
        time.sleep(0.35)
    lines = log.getvalue().splitlines()
    assert len(lines) >= 2
    assert all(line.startswith("… still deploying a@v1 (") for line in lines)


def test_a_quick_wait_in_a_log_prints_nothing() -> None:
    log = io.StringIO()
    with Waiting(Console(file=log, force_terminal=False), "gate", heartbeat=30):
        pass
    assert log.getvalue() == ""


def test_on_a_terminal_the_spinner_shows_the_time_so_far() -> None:
    screen = io.StringIO()
    with Waiting(Console(file=screen, force_terminal=True, width=100), "deploying a@v1"):
        time.sleep(1.3)
    assert "deploying a@v1 · 1 s" in screen.getvalue()


def _mixed_seal() -> Seal:
    from datetime import UTC, datetime

    from smokeseal.checks.base import CheckResult
    from smokeseal.runner import RunResult
    from smokeseal.seal import seal_from_run

    return seal_from_run(RunResult("https://app.example.com", datetime.now(UTC), 900, [
        CheckResult("home", "page", True, "200", 300, first_failure="expected 200, got 500",
                    attempts=2),
        CheckResult("tasks", "page", False, "skipped: --no-browser", 0, skipped=True),
        CheckResult("devops hidden", "get", False, "expected 404, got 200", 12),
        CheckResult("up", "get", True, "200", 10),
    ]))


def test_junit_tells_flaky_skipped_and_failed_apart(tmp_path: Path) -> None:
    path = tmp_path / "smoke.xml"
    write_junit(path, [("app", _mixed_seal())])
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "1", "1")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    flaky = cases["home"].find("flakyFailure")
    assert flaky is not None and flaky.get("message") == "expected 200, got 500"
    assert cases["home"].find("failure") is None
    assert cases["tasks"].find("skipped") is not None
    assert cases["devops hidden"].find("failure") is not None
    assert list(cases["up"]) == []


def test_the_terminal_marks_flaky_and_unverified_checks() -> None:
    screen = io.StringIO()
    print_seal(Console(file=screen, width=200), _mixed_seal(), Text("seal app"))
    out = screen.getvalue()
    assert "flaky: failed on the first try: expected 200, got 500" in out
    assert "not verified" in out
    assert "🔴 red · 2/4 passed, 1 flaky: home (expected 200, got 500 on the first try); " \
           "devops hidden: expected 404, got 200; not verified: 1 check skipped (tasks)" in out


def test_a_green_run_says_in_one_line_what_the_guard_refused() -> None:
    from smokeseal.report import guard_line
    from smokeseal.seal import CheckRecord

    def page(name: str, blocked: list[str]) -> CheckRecord:
        return CheckRecord(name=name, kind="page", ok=True, outcome="passed",
                           blocked_writes=blocked)

    assert guard_line([page("home", [])]) is None
    line = guard_line([page("home", ["POST https://app.example.com/collect"]),
                       page("tasks", ["POST https://app.example.com/collect", "WEBSOCKET x"])])
    assert line is not None and line.startswith(
        "the read-only guard refused 3 requests on 2 pages (POST https://app.example.com/"
        "collect, …)")
