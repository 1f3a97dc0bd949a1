from __future__ import annotations

import io
import time

import pytest
from rich.console import Console

from smokeseal.report import Waiting

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
