"""The browser on a thread and event loop of its own, so that it can start early.

Starting Playwright's driver and Chromium is the longest wait of a run with page checks,
and none of it needs the config. So ``prod-smoke`` starts it first (:func:`prelaunch`),
while Python goes on importing and reading the config, and the runner takes that browser
when its suite has page checks (:func:`take_prelaunched`). Playwright's objects belong to
the event loop that made them, so the session lives on this thread's loop and page checks
are sent to it; the caller's loop awaits their results and runs its HTTP checks meanwhile.

This module does not import Playwright; its thread does.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from smokeseal.browser.session import BrowserSession

__all__ = ["BrowserThread", "prelaunch", "take_prelaunched"]

T = TypeVar("T")


class BrowserThread:
    """One :class:`~smokeseal.browser.session.BrowserSession`, launched and used on its thread.

    ``executable`` None means :func:`~smokeseal.browser.launch.find_browser`, asked on the
    thread. Failures to find or launch come out of :meth:`ready` and :meth:`run` as
    :class:`~smokeseal.errors.BrowserError`.
    """

    def __init__(self, executable: str | None = None, *, args: tuple[str, ...] = (),
                 ca_file: str | None = None) -> None:
        self.executable = executable
        self.args = args
        self.ca_file = ca_file
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="smokeseal-browser",
                                        daemon=True)
        self._opened: Future[BrowserSession] | None = None
        self._closed = False
        self._imported = threading.Event()
        self._launching: asyncio.Task[BrowserSession] | None = None
        self._relaunching = asyncio.Lock()

    def start(self, *, head_start: float = 0.0) -> BrowserThread:
        """Start launching. With ``head_start``, wait up to that long for the thread to
        import Playwright: imports hold the GIL, so the caller's own would slow the
        thread's to half speed and put off starting the driver."""
        self._thread.start()
        self._opened = asyncio.run_coroutine_threadsafe(self._open(), self._loop)
        if head_start:
            self._imported.wait(head_start)
        return self

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _open(self) -> BrowserSession:
        self._launching = asyncio.current_task()
        try:
            from smokeseal.browser.session import BrowserSession
        finally:
            self._imported.set()
        return await BrowserSession(self.executable, args=self.args,
                                    ca_file=self.ca_file).__aenter__()

    def _session(self) -> Future[BrowserSession]:
        if self._opened is None:
            raise RuntimeError("BrowserThread.start() was not called")
        return self._opened

    async def ready(self) -> None:
        """Return once the browser is up; raise BrowserError when it cannot be."""
        session = await asyncio.wrap_future(self._session())
        self.executable = session.executable

    def plan(self, checks: int) -> None:
        """Tell the session ``checks`` more page checks are coming (after :meth:`ready`)."""
        session = self._session().result(timeout=0)
        # On the browser's loop, ahead of the checks that are sent after this call.
        self._loop.call_soon_threadsafe(session.plan, checks)

    async def run(self, work: Callable[[BrowserSession], Awaitable[T]]) -> T:
        """``await work(session)`` on the browser's loop; the result comes back to this one."""
        opened = self._session()

        async def there() -> T:
            session = await asyncio.wrap_future(opened)
            if session.crashed and session.relaunches < MAX_RELAUNCHES:
                # A browser killed mid-run (the OOM killer, say) must not fail every page
                # check after it: the next one gets a fresh browser, once or twice per run.
                async with self._relaunching:
                    if session.crashed:
                        await session.relaunch()
            return await work(session)

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(there(), self._loop))

    async def aclose(self) -> str | None:
        """Close the browser and end the thread, without blocking this loop."""
        return await asyncio.to_thread(self.close)

    def close(self) -> str | None:
        """Close the browser (or stop its launch) and end the thread; idempotent.

        Returns the browser it was (``executable version``), if it had opened.
        """
        if self._closed:
            return None
        self._closed = True
        name = None
        if self._opened is not None:
            shutting = asyncio.run_coroutine_threadsafe(self._shut(), self._loop)
            try:
                name = shutting.result(timeout=CLOSE_DEADLINE)
            except (TimeoutError, concurrent.futures.CancelledError):
                # A wedged browser must not keep the run from its verdict.
                _kill_driver()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=CLOSE_DEADLINE)
        return name

    async def _shut(self) -> str | None:
        # _open was sent to this loop before _shut, so its task is there by now.
        launching = self._launching
        if launching is None:
            return None
        # Still launching: stop there (BrowserSession cleans up what it started).
        launching.cancel()
        try:
            session = await launching
        except BaseException:
            return None
        name = f"{session.executable} {session.version}"
        await session.__aexit__(None, None, None)
        return name


#: Seconds a browser gets to close before its driver and browser processes are killed.
CLOSE_DEADLINE = 20.0
#: Fresh browsers a run may launch in place of crashed ones.
MAX_RELAUNCHES = 2


def _kill_driver() -> None:
    """Kill Playwright's driver (a child of this process) and everything it started."""
    for pid in _children(os.getpid()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as file:
                command = file.read()
        except OSError:
            continue
        if b"playwright" in command:
            for victim in [*_descendants(pid), pid]:
                with contextlib.suppress(OSError):
                    os.kill(victim, signal.SIGKILL)


def _children(parent: int) -> list[int]:
    try:
        tasks = os.listdir(f"/proc/{parent}/task")
    except OSError:
        return []
    found: list[int] = []
    for task in tasks:
        try:
            with open(f"/proc/{parent}/task/{task}/children") as file:
                found += [int(pid) for pid in file.read().split()]
        except OSError:
            continue
    return found


def _descendants(parent: int) -> list[int]:
    out: list[int] = []
    for child in _children(parent):
        out += [child, *_descendants(child)]
    return out


_prelaunched: BrowserThread | None = None
_lock = threading.Lock()


def prelaunch(executable: str | None = None) -> BrowserThread:
    """Start the browser now for a run that will probably want it.

    If no runner takes it, it is closed at exit: a wrong guess costs a little time, never
    a result.
    """
    global _prelaunched
    with _lock:
        if _prelaunched is None:
            # The config is not read yet: only $SSL_CERT_FILE's CA keys can be given now.
            from smokeseal.trust import browser_trust_args

            ca_file = os.environ.get("SSL_CERT_FILE") or None
            _prelaunched = BrowserThread(executable, args=browser_trust_args(ca_file),
                                         ca_file=ca_file).start(head_start=1.0)
            atexit.register(_discard)
        return _prelaunched


def take_prelaunched(executable: str | None = None, *, args: tuple[str, ...] | None = None,
                     ca_file: str | None = None) -> BrowserThread | None:
    """The prelaunched browser, if there is one for ``executable`` (and, given ``args``,
    launched with them and trusting ``ca_file``); it is the caller's now."""
    global _prelaunched
    with _lock:
        found, _prelaunched = _prelaunched, None
    if found is None:
        return None
    if (executable is not None and executable != found.executable) \
            or (args is not None and (args, ca_file) != (found.args, found.ca_file)):
        found.close()  # made for another browser, or to trust other certificates
        return None
    return found


def _discard() -> None:
    global _prelaunched
    with _lock:
        found, _prelaunched = _prelaunched, None
    if found is not None:
        found.close()
