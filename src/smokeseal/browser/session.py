"""One browser for a run: Playwright and one launched Chromium, lending wiped tabs to the
page checks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING

from playwright.async_api import Browser, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from smokeseal.browser import launch
from smokeseal.browser.launch import find_browser, launch_args
from smokeseal.browser.tab import Tab
from smokeseal.browser.visit import CLOSE_TIMEOUT, DEFAULT_TIMEOUT, first_line
from smokeseal.errors import BrowserError

if TYPE_CHECKING:
    import httpx

__all__ = ["BrowserSession"]

class BrowserSession:
    """Playwright and one launched browser, for the length of an ``async with``."""

    def __init__(self, executable: str | None = None, *, args: tuple[str, ...] = (),
                 ca_file: str | None = None) -> None:
        self.executable = executable
        #: Launch flags beside :data:`LAUNCH_ARGS` (a private CA's, see
        #: :func:`smokeseal.trust.browser_trust_args`).
        self.args = args
        self.ca_file = ca_file
        self._probe: httpx.AsyncClient | None = None
        self._playwright: Playwright | None = None
        self.browser: Browser | None = None
        self._idle: list[Tab] = []
        self._recycling: set[asyncio.Task[None]] = set()
        #: Tabs (contexts) opened in this session; fewer than page checks means reuse.
        self.tabs_opened = 0
        #: Browsers launched in place of one that crashed (see :meth:`relaunch`).
        self.relaunches = 0
        #: Page checks still to come (see :meth:`plan`): a used tab is wiped for reuse only
        #: while some are.
        self._planned = 0

    @property
    def probe(self) -> httpx.AsyncClient:
        """The HTTP client that looks where a navigation's redirects go before it is sent
        with the app's headers (see :meth:`Tab._read`); made on first use."""
        if self._probe is None:
            from smokeseal.checks.http import read_only_client

            self._probe = read_only_client(self.ca_file)
        return self._probe

    def plan(self, checks: int) -> None:
        """``checks`` more page checks will ask for a tab in this session."""
        self._planned += checks

    @contextlib.asynccontextmanager
    async def tab(self, timeout: float = DEFAULT_TIMEOUT,
                  proxy: Mapping[str, str] | None = None) -> AsyncIterator[Tab]:
        """A wiped tab from the pool going out through ``proxy`` (see
        :func:`smokeseal.checks.http.browser_proxy`), or a new one opened within ``timeout``
        seconds (else :class:`BrowserError`); back to the pool once wiped."""
        assert self.browser is not None
        self._planned -= 1
        same = [index for index, idle in enumerate(self._idle) if idle.proxy == proxy]
        if same:
            tab = self._idle.pop(same[-1])
        else:
            try:
                tab = await asyncio.wait_for(Tab.open(self.browser, proxy), timeout)
            except TimeoutError:
                raise BrowserError(f"no browser tab opened within {timeout:g} s") from None
            self.tabs_opened += 1
        keep = False
        try:
            yield tab
            # Nobody left to reuse it: wiping would only slow the checks still running.
            keep = tab.reusable and self._planned > 0
        finally:
            if keep:
                # Off the check's path: its result does not wait for the wipe.
                task = asyncio.create_task(self._recycle(tab))
                self._recycling.add(task)
                task.add_done_callback(self._recycling.discard)
            else:
                await tab.close()

    async def settle(self) -> None:
        """Wait until every used tab is wiped and back in the pool (or closed)."""
        while self._recycling:
            await asyncio.gather(*self._recycling, return_exceptions=True)

    async def _recycle(self, tab: Tab) -> None:
        if await tab.wipe():
            self._idle.append(tab)
        else:
            await tab.close()

    async def __aenter__(self) -> BrowserSession:
        executable = self.executable or find_browser()
        starting = asyncio.ensure_future(async_playwright().start())
        try:
            self._playwright = await asyncio.shield(starting)
        except asyncio.CancelledError:
            # Cancelled while the driver starts: let it finish starting, then stop it, or
            # it would outlive the session.
            with contextlib.suppress(Exception):
                await (await starting).stop()
            raise
        try:
            self.browser = await self._launch(executable)
        except BaseException:
            # Cancelled mid-launch too: the driver must not outlive the session.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._playwright.stop())
            raise
        self.executable = executable
        return self

    async def _launch(self, executable: str) -> Browser:
        assert self._playwright is not None
        try:
            return await self._playwright.chromium.launch(
                executable_path=executable, args=launch_args(self.args), headless=True,
                ignore_default_args=list(launch.IGNORED_DEFAULT_ARGS), timeout=30_000
            )
        except PlaywrightError as exc:
            raise BrowserError(f"could not launch {executable}: {first_line(exc)}") from exc

    @property
    def crashed(self) -> bool:
        """The browser went away under the session (killed, out of memory)."""
        return self.browser is not None and not self.browser.is_connected()

    async def relaunch(self) -> None:
        """A fresh browser in place of one that crashed; Playwright's driver stays. Tabs of
        the old one are dropped, so nothing of it is reused."""
        for task in list(self._recycling):
            task.cancel()
        self._idle.clear()
        if self.browser is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.browser.close(), CLOSE_TIMEOUT)
        assert self.executable is not None
        self.browser = await self._launch(self.executable)
        self.relaunches += 1

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        for task in list(self._recycling):
            task.cancel()
        self._idle.clear()  # closing the browser closes their contexts
        if self._probe is not None:
            with contextlib.suppress(Exception):
                await self._probe.aclose()
        try:
            if self.browser is not None:
                await self.browser.close()
        except PlaywrightError:
            pass  # a crashed browser has nothing left to close
        finally:
            if self._playwright is not None:
                await self._playwright.stop()

    @property
    def version(self) -> str:
        return self.browser.version if self.browser else "unknown"
