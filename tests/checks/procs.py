"""Helpers for tests about the processes a command check starts: real processes, read in /proc."""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path

#: A command that starts a child (a grandchild of smokeseal) which would outlive it, writes
#: "its pid and the child's" to pids.txt, then waits: what a stuck test runner looks like.
#: With IGNORE_TERM it ignores SIGTERM, and so does the child (the disposition is inherited).
SPAWNER = textwrap.dedent("""\
    import os, signal, subprocess, sys, time
    if "IGNORE_TERM" in sys.argv:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen(["sleep", "300"])
    with open("pids.tmp", "w") as handle:
        handle.write(f"{os.getpid()} {child.pid}")
    os.replace("pids.tmp", "pids.txt")
    print("started", flush=True)
    time.sleep(300)
""")


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process: a zombie (dead, waiting to be reaped by a parent
    that may never do so in a container) does not count."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:].split()[0] not in (b"Z", b"X")


def read_pids(folder: Path, timeout: float = 30.0) -> list[int]:
    """The pids SPAWNER wrote, once it has."""
    path = folder / "pids.txt"
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"the command never wrote {path}")
        time.sleep(0.05)
    return [int(pid) for pid in path.read_text().split()]


async def read_pids_async(folder: Path, timeout: float = 30.0) -> list[int]:
    path = folder / "pids.txt"
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"the command never wrote {path}")
        await asyncio.sleep(0.05)
    return [int(pid) for pid in path.read_text().split()]


def gone_soon(pids: list[int], timeout: float = 10.0) -> list[int]:
    """The pids still running after ``timeout`` seconds (an empty list is what tests want)."""
    deadline = time.monotonic() + timeout
    while any(running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [pid for pid in pids if running(pid)]
