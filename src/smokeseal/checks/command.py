"""``command`` checks: run a team's existing suite (a Playwright spec, pytest, Maven, …).

``{url}`` in the arguments and in ``env`` becomes the app's URL; ``{junit}`` becomes a fresh
results file for this run only (in a temporary folder, removed afterwards), read back when
``junit`` is not set. The command runs under a time limit in its own process group, so a
timeout, the run's deadline, Ctrl-C or SIGTERM stop everything it started. Its JUnit XML (the
``junit`` file, ``{junit}``, or printed on stdout) becomes one result per testcase.

Nothing unverified passes: a JUnit document with no testcases, a results file that is missing
or unreadable, or JUnit on stdout that does not parse is a failure, whatever the exit status;
a skipped testcase is a skipped result. Only a command that gives no JUnit at all is judged by
its exit status, and its result says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import signal
import tempfile
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from smokeseal.checks.base import CheckResult, Stopwatch
from smokeseal.checks.junit import JUnitError, parse_junit, read_junit_file
from smokeseal.childenv import child_environ
from smokeseal.config import Check

__all__ = [
    "DEFAULT_TIMEOUT",
    "NO_CASES",
    "STDOUT_LIMIT",
    "STOP_GRACE",
    "TAIL_LINES",
    "run_command_check",
]

DEFAULT_TIMEOUT = 300.0
TAIL_LINES = 20
_TAIL_BYTES = 64 * 1024
#: JUnit printed on stdout is kept up to this size; a larger report belongs in a file.
STDOUT_LIMIT = 16 * 1024 * 1024
#: Seconds between SIGTERM and SIGKILL when the command's process group is stopped.
STOP_GRACE = 2.0
#: Seconds to wait, once the command has exited, for processes it left holding its output.
_LEFTOVER_GRACE = 2.0
#: Files up to this size get a second, lenient read when they are not well-formed XML.
NO_CASES = "JUnit has no test cases: nothing was verified"

_PLACEHOLDER = re.compile(r"\{(url|junit)\}")
_JUNIT_ON_STDOUT = re.compile(rb"<(testsuites?)[\s>/]")


# --- the check ---------------------------------------------------------------------------


async def run_command_check(check: Check, base_url: str, base_dir: Path, *,
                            turn_taken: bool = False,
                            withheld: Sequence[str] = ()) -> list[CheckResult]:
    """Run the check's command; one result per JUnit testcase, or one for the whole run.

    Never raises (but for cancellation, which it passes on once the command's process group
    is stopped): whatever goes wrong is this check's failed result. With ``turn_taken``, the
    caller holds :func:`results_turn` already. The command gets smokeseal's environment
    without smokeseal's own secrets, ``withheld`` among them, unless the check names them
    (see :func:`smokeseal.childenv.child_environ`).
    """
    watch = Stopwatch()
    try:
        with _fresh_results(check) as fresh:
            plan = _plan(check, base_url, base_dir, fresh, withheld)
            if isinstance(plan, str):
                return [_whole(check, False, plan, watch.ms())]
            if plan.junit is None or not plan.shared or turn_taken:
                return await _run(check, plan)
            return await _run_alone(check, plan)
    except Exception as exc:  # a bug or an odd system error: this check fails, the run goes on
        return [_whole(check, False, f"could not run the command check: "
                                     f"{type(exc).__name__}: {exc}", watch.ms())]


def _whole(check: Check, ok: bool, detail: str, ms: int) -> CheckResult:
    return CheckResult(check.label, "command", ok, detail, ms)


@dataclass(frozen=True)
class _Plan:
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    #: The results file to read; None: look for JUnit on stdout.
    junit: Path | None
    #: ``junit`` is a fixed path that other runs in this process may write too.
    shared: bool
    timeout: float


def _uses_fresh_junit(check: Check) -> bool:
    texts = [check.target, check.junit or "", *check.env.values()]
    return any("{junit}" in text for text in texts)


@contextlib.contextmanager
def _fresh_results(check: Check) -> Iterator[Path | None]:
    """``{junit}``'s file: unique to this run, so no other run can read or overwrite it."""
    if not _uses_fresh_junit(check):
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="smokeseal-junit-",
                                     ignore_cleanup_errors=True) as folder:
        yield Path(folder) / "results.xml"


def _fill(text: str, values: Mapping[str, str]) -> str:
    """Replace ``{url}`` and ``{junit}`` in one pass (a URL holding "{junit}" stays as is)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _plan(check: Check, base_url: str, base_dir: Path, fresh: Path | None,
          withheld: Sequence[str] = ()) -> _Plan | str:
    """What to run, where, and where its results will be; or why it cannot run."""
    try:
        words = shlex.split(check.target)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        return f"cannot read the command line: {exc}: {check.target}"
    if not words:
        return "empty command"
    values = {"url": base_url} | ({"junit": str(fresh)} if fresh is not None else {})
    argv = [_fill(word, values) for word in words]
    cwd = base_dir / check.cwd if check.cwd else base_dir
    if not cwd.is_dir():
        return f"cwd {cwd} is not a directory"
    junit = cwd / _fill(check.junit, values) if check.junit else fresh
    user_env = {key: _fill(value, values) for key, value in check.env.items()}
    inherited = child_environ(withheld, named=check.variables)
    env = {**inherited, "SMOKESEAL_URL": base_url, **user_env}
    _playwright_defaults(env, user_env, junit)
    return _Plan(argv, env, cwd, junit, shared=junit is not None and junit != fresh,
                 timeout=check.timeout or DEFAULT_TIMEOUT)


def _playwright_defaults(env: dict[str, str], user_env: Mapping[str, str],
                         junit: Path | None) -> None:
    """Point Playwright Test's junit reporter at the file smokeseal reads, and have it report
    a test that passed on a retry as flaky; other runners ignore these variables."""
    names = ("PLAYWRIGHT_JUNIT_OUTPUT_NAME", "PLAYWRIGHT_JUNIT_OUTPUT_FILE")
    if junit is not None and not any(name in user_env for name in names):
        # Without it the reporter prints to stdout and `junit: results.xml` would never
        # appear; an inherited *_OUTPUT_FILE would win over the name, so it goes.
        env.pop("PLAYWRIGHT_JUNIT_OUTPUT_FILE", None)
        env["PLAYWRIGHT_JUNIT_OUTPUT_NAME"] = str(junit)
    env.setdefault("PLAYWRIGHT_JUNIT_INCLUDE_RETRIES", "1")


# One lock per results file and event loop: apps that share a fixed `junit` path in one
# `prod-smoke --all` run take turns, so none reads another's results. The loop is part of the
# key because an asyncio.Lock binds to the loop it is first awaited on.
_LOCKS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, weakref.WeakValueDictionary[str, asyncio.Lock]
] = weakref.WeakKeyDictionary()


def _results_lock(path: Path) -> asyncio.Lock:
    locks = _LOCKS.setdefault(asyncio.get_running_loop(), weakref.WeakValueDictionary())
    key = os.path.realpath(path)
    lock = locks.get(key)
    if lock is None:
        lock = locks[key] = asyncio.Lock()
    return lock


@dataclass
class Turn:
    """A check's turn at a shared results file: what it says when it had to wait."""

    note: str | None = None

    def tell(self, results: list[CheckResult]) -> list[CheckResult]:
        if self.note and results:
            results[0].notes.append(self.note)
        return results


@contextlib.asynccontextmanager
async def results_turn(check: Check, base_url: str, base_dir: Path) -> AsyncIterator[Turn]:
    """Wait for this check's turn at a fixed results file other runs in this process write
    too (nothing to wait for with ``{junit}`` or no file). The runner waits here before the
    check's deadline starts: time spent waiting for another app's run is not this one's."""
    # A fixed results file is shared even when `{junit}` is used elsewhere in the check.
    if check.kind != "command" or not check.junit or "{junit}" in check.junit:
        yield Turn()
        return
    cwd = base_dir / check.cwd if check.cwd else base_dir
    path = cwd / _fill(check.junit, {"url": base_url})
    try:
        lock = _results_lock(path)
    except (OSError, ValueError):  # a NUL in the path: the check itself says what is wrong
        yield Turn()
        return
    contended = lock.locked()
    waiting = Stopwatch()
    async with lock:
        yield Turn(f"waited {waiting.ms()} ms for another run writing {path}"
                   if contended else None)


async def _run_alone(check: Check, plan: _Plan) -> list[CheckResult]:
    assert plan.junit is not None
    lock = _results_lock(plan.junit)
    contended = lock.locked()
    waiting = Stopwatch()
    async with lock:
        waited_ms = waiting.ms()
        results = await _run(check, plan)
    if contended:
        results[0].notes.append(f"waited {waited_ms} ms for another run writing {plan.junit}")
    return results


async def _run(check: Check, plan: _Plan) -> list[CheckResult]:
    watch = Stopwatch()
    if plan.junit is not None and plan.shared:
        # A results file left by an earlier run must never pass for this one.
        try:
            plan.junit.unlink(missing_ok=True)
        except OSError as exc:
            return [_whole(check, False, f"cannot remove the previous results at {plan.junit} "
                                         f"({exc.strerror or exc}): they could pass for this "
                                         "run", watch.ms())]
    finished = await _execute(plan)
    if isinstance(finished, str):
        return [_whole(check, False, finished, watch.ms())]
    ms = watch.ms()
    results = _judge(check, plan, finished, ms)
    results = _within_max_ms(check, results, ms)
    if finished.leftovers:
        results[0].notes.append("processes the command left running were stopped")
    return results


# --- running the command -------------------------------------------------------------------


@dataclass
class _Output:
    """The tail of the command's output, and (for JUnit on stdout) all of it, within limits."""

    capture: bool
    tail: bytearray
    captured: bytearray
    overflow: bool = False

    async def read(self, stream: asyncio.StreamReader) -> None:
        # Chunks, not lines: one line can be longer than a StreamReader's line limit.
        while chunk := await stream.read(64 * 1024):
            self.tail += chunk
            if len(self.tail) > 2 * _TAIL_BYTES:
                del self.tail[:-_TAIL_BYTES]
            if self.capture:
                room = STDOUT_LIMIT - len(self.captured)
                if len(chunk) > room:
                    self.overflow = True
                self.captured += chunk[:max(room, 0)]

    def tail_text(self) -> str:
        text = bytes(self.tail[-_TAIL_BYTES:]).decode("utf-8", errors="replace")
        return "\n".join(text.rstrip().splitlines()[-TAIL_LINES:])


@dataclass
class _Finished:
    code: int | None  # None: stopped at the time limit
    output: _Output
    leftovers: bool


async def _execute(plan: _Plan) -> _Finished | str:
    """Run the command to its end or its time limit; a string says why it could not start."""
    name = plan.argv[0]
    try:
        process = await asyncio.create_subprocess_exec(
            *plan.argv, cwd=plan.cwd, env=plan.env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group, so it can be stopped whole
        )
    except FileNotFoundError:
        return f"command not found: {name}"
    except PermissionError:
        return f"command not executable: {name}"
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in an argument or env
        return f"could not start {name}: {getattr(exc, 'strerror', None) or exc}"
    assert process.stdout is not None
    output = _Output(plan.junit is None, bytearray(), bytearray())
    reader = asyncio.create_task(output.read(process.stdout))
    timed_out = False
    leftovers = False
    try:
        async with asyncio.timeout(plan.timeout):
            await _exited(process)
            # It has exited, but processes it started may still hold its output open.
            await asyncio.wait({reader}, timeout=_LEFTOVER_GRACE)
    except TimeoutError:
        timed_out = True
    finally:
        # Also when cancelled (the run's deadline, Ctrl-C, SIGTERM): nothing the command
        # started outlives this check.
        leftovers = await _stop_group(process) and not timed_out
        await _finish_reading(process, reader)
    return _Finished(None if timed_out else process.returncode, output, leftovers)


async def _exited(process: asyncio.subprocess.Process) -> None:
    """Until the command itself has exited. ``process.wait()`` alone also waits until every
    process holding its output has closed it, which a server it left behind never does."""
    waiter = asyncio.ensure_future(process.wait())
    try:
        while not waiter.done() and process.returncode is None:
            await asyncio.wait({waiter}, timeout=0.1)
    finally:
        waiter.cancel()


async def _finish_reading(process: asyncio.subprocess.Process, reader: asyncio.Task[None]
                          ) -> None:
    await asyncio.wait({reader}, timeout=1.0)
    if not reader.done():
        # A process outside the group (it left the session) still holds the pipe.
        reader.cancel()
        transport = getattr(process, "_transport", None)
        if transport is not None:
            transport.close()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await reader


def _group_running(pgid: int) -> bool:
    """Whether any process of the group is still running (zombies, waiting for a parent
    that may never reap them, do not count)."""
    try:
        entries = os.listdir("/proc")
    except OSError:  # not Linux: ask the kernel, zombies included
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _stop_group(process: asyncio.subprocess.Process) -> bool:
    """SIGTERM to the command's process group, SIGKILL after :data:`STOP_GRACE`; True when
    something of it was still running."""
    pgid = process.pid
    if process.returncode is not None and not _group_running(pgid):
        return False
    _signal_group(pgid, signal.SIGTERM)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_GRACE
        while loop.time() < deadline and _group_running(pgid):
            await asyncio.sleep(0.05)
    finally:
        # Reached even when cancelled again during the grace: nothing is left running.
        _signal_group(pgid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), 3.0)
    # A killed grandchild is gone only once the kernel has torn it down, which a busy
    # machine puts off: the caller is told "stopped" once nothing of the group runs.
    deadline = asyncio.get_running_loop().time() + 3.0
    while _group_running(pgid) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    return True


# --- judging what it left ------------------------------------------------------------------


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _with_tail(detail: str, tail: str) -> str:
    return f"{detail}; output ends:\n{tail}" if tail else detail


def _judge(check: Check, plan: _Plan, run: _Finished, ms: int) -> list[CheckResult]:
    tail = run.output.tail_text()
    if run.code is None:
        return [_whole(check, False, _with_tail(f"timed out after {plan.timeout:g} s", tail),
                       ms)]
    status = _exit_text(run.code)
    try:
        if plan.junit is not None:
            cases = read_junit_file(plan.junit, check.label)
        else:
            document = _junit_on_stdout(bytes(run.output.captured), run.output.overflow)
            if document is None:
                ok = run.code == 0
                detail = f"{status}; no JUnit results, so judged by the exit status alone"
                return [_whole(check, ok, detail if ok else _with_tail(detail, tail), ms)]
            cases = parse_junit(document, check.label)
    except JUnitError as exc:
        return [_whole(check, False, _with_tail(f"{exc} ({status})", tail), ms)]
    if not cases:
        return [_whole(check, False, _with_tail(f"{NO_CASES} ({status})", tail), ms)]
    if run.code != 0 and not any(case.outcome == "failed" for case in cases):
        cases.append(_whole(check, False, _with_tail(f"{status} although no test failed", tail),
                            ms))
    return cases


def _within_max_ms(check: Check, results: list[CheckResult], ms: int) -> list[CheckResult]:
    """``expect.max_ms`` bounds the whole command, however its testcases did."""
    limit = check.expect.max_ms
    if limit is None or ms <= limit:
        return results
    over = f"took {ms} ms, over max_ms {limit}"
    if len(results) == 1 and results[0].name == check.label:
        result = results[0]
        result.detail = over if result.ok else f"{result.detail}\n{over}"
        result.ok = False
        return results
    return [*results, _whole(check, False, over, ms)]


def _junit_on_stdout(output: bytes, overflow: bool) -> bytes | None:
    """The JUnit document a runner printed (Playwright's junit reporter does), if any."""
    found = _JUNIT_ON_STDOUT.search(output)
    if found is None:
        return None
    if overflow:
        raise JUnitError(f"JUnit on stdout was cut at {STDOUT_LIMIT // 2**20} MiB: have the "
                         "runner write it to a file ({junit})")
    closing = b"</" + found.group(1) + b">"
    end = output.rfind(closing)
    # No closing tag: hand over everything, so the parser says what is missing.
    return output[found.start():end + len(closing) if end > found.start() else len(output)]
