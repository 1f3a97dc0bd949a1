"""Fixtures for the checks' tests."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.checks.procs import running


@pytest.fixture
def strays(tmp_path: Path) -> Iterator[Path]:
    """The test's folder, where commands started from tests.checks.procs.SPAWNER write their
    pids; whatever of them still runs afterwards (a test that failed) is killed, so a
    failure never leaves processes behind on a shared machine."""
    yield tmp_path
    for pids in tmp_path.rglob("pids.txt"):
        for pid in (int(p) for p in pids.read_text().split()):
            if running(pid):
                os.kill(pid, signal.SIGKILL)
