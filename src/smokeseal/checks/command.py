"""``command`` checks: run a team's existing suite (a Playwright spec, pytest, …).

``{url}`` in the arguments and in ``env`` becomes the app's canonical URL. The command runs
under a time limit in its own process group (so a timeout kills its children too), and its
JUnit XML becomes one result per testcase.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import xml.etree.ElementTree as ET
from collections import deque
from pathlib import Path

from smokeseal.checks.base import CheckResult, Stopwatch, shorten
from smokeseal.config import Check

__all__ = ["DEFAULT_TIMEOUT", "TAIL_LINES", "parse_junit", "run_command_check"]

DEFAULT_TIMEOUT = 300.0
TAIL_LINES = 20
_TAIL_BYTES = 64 * 1024


async def run_command_check(check: Check, base_url: str, base_dir: Path) -> list[CheckResult]:
    """Run the check's command; one result per JUnit testcase, or one for the whole run."""
    argv = [arg.replace("{url}", base_url) for arg in shlex.split(check.target)]
    env = {**os.environ, "SMOKESEAL_URL": base_url}
    env.update({key: value.replace("{url}", base_url) for key, value in check.env.items()})
    cwd = base_dir / check.cwd if check.cwd else base_dir
    junit = cwd / check.junit if check.junit else None
    timeout = check.timeout or DEFAULT_TIMEOUT
    watch = Stopwatch()

    def whole(ok: bool, detail: str) -> list[CheckResult]:
        return [CheckResult(check.label, "command", ok, detail, watch.ms())]

    if junit is not None:
        # A results file left by an earlier run must never pass for this one.
        with contextlib.suppress(FileNotFoundError):
            junit.unlink()
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except FileNotFoundError:
        return whole(False, f"command not found: {argv[0]}" if argv else "empty command")
    except PermissionError:
        return whole(False, f"command not executable: {argv[0]}")
    except OSError as exc:
        return whole(False, f"could not start {argv[0]}: {exc.strerror or exc}")

    assert process.stdout is not None
    tail: deque[bytes] = deque()
    kept = 0
    everything = bytearray()  # for JUnit printed on stdout; capped like the tail

    async def drain() -> None:
        nonlocal kept
        async for line in process.stdout:  # type: ignore[union-attr]
            tail.append(line)
            kept += len(line)
            while kept > _TAIL_BYTES and len(tail) > 1:
                kept -= len(tail.popleft())
            if junit is None and len(everything) < 8 * _TAIL_BYTES:
                everything.extend(line)

    timed_out = False
    try:
        await asyncio.wait_for(asyncio.gather(drain(), process.wait()), timeout)
    except TimeoutError:
        timed_out = True
        await _kill_group(process)
    output_tail = _tail_text(tail)
    if timed_out:
        return whole(False, f"timed out after {timeout:g} s; output ends:\n{output_tail}")
    code = process.returncode
    xml_text = _read_junit(junit) if junit is not None else _junit_from_stdout(bytes(everything))
    cases = parse_junit(xml_text, check.label) if xml_text else []
    if junit is not None and xml_text is None:
        return whole(False, f"exit status {code}; no JUnit file at {junit}; output ends:\n"
                            f"{output_tail}")
    if not cases:
        if code == 0:
            return whole(True, "exit status 0")
        return whole(False, f"exit status {code}; output ends:\n{output_tail}")
    if code != 0 and all(case.ok for case in cases):
        cases.append(CheckResult(check.label, "command", False,
                                 f"exit status {code} although every test passed; output ends:\n"
                                 f"{output_tail}", watch.ms()))
    return cases


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            await asyncio.wait_for(process.wait(), grace)
            return
        except TimeoutError:
            continue


def _tail_text(tail: deque[bytes]) -> str:
    text = b"".join(tail).decode("utf-8", errors="replace")
    return "\n".join(text.rstrip().splitlines()[-TAIL_LINES:])


def _read_junit(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _junit_from_stdout(output: bytes) -> str | None:
    """The JUnit document in a runner's stdout (Playwright's junit reporter prints it)."""
    text = output.decode("utf-8", errors="replace")
    for opening, closing in (("<testsuites", "</testsuites>"), ("<testsuite", "</testsuite>")):
        start, end = text.find(opening), text.rfind(closing)
        if start != -1 and end > start:
            return text[start:end + len(closing)]
    return None


def parse_junit(xml_text: str, prefix: str) -> list[CheckResult]:
    """Turn JUnit XML into one result per ``<testcase>``, named ``prefix › case``."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError:
        return []
    results = []
    for case in root.iter("testcase"):
        name = case.get("name") or "unnamed test"
        ms = round(float(case.get("time") or 0) * 1000)
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        skipped = case.find("skipped") is not None
        if problem is not None:
            message = problem.get("message") or (problem.text or "").strip() or problem.tag
            results.append(CheckResult(f"{prefix} › {name}", "command", False,
                                       shorten(message, 300), ms))
        else:
            results.append(CheckResult(f"{prefix} › {name}", "command", True,
                                       "skipped" if skipped else "passed", ms, skipped=skipped))
    return results
