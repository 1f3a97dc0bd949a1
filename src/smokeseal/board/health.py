"""``/up``: whether the board can read its ledger, told within a second whatever it does.

A monitor (or a proxy in front of the board) asks ``/up`` to learn whether the board can show
its pages. The answer comes from one short read of the schema version, on a thread of its
own: never on the event loop, never queued behind pages, and never waited for longer than
:data:`UP_BUDGET`. A read still under way when the budget is spent is ``slow``; the next
``/up`` waits on that same read instead of starting another, so a database that hangs costs
one thread, not one per request.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future, ThreadPoolExecutor

from smokeseal.database import schema_age
from smokeseal.errors import LedgerError
from smokeseal.ledger import Ledger

__all__ = ["UP_BUDGET", "LedgerProbe"]

#: Seconds ``/up`` waits for the ledger before it answers ``slow``.
UP_BUDGET = 0.8

_log = logging.getLogger("smokeseal.board")


class LedgerProbe:
    """``await probe.status()``: ``ok``, ``newer`` (ok, on a ledger a newer smokeseal
    migrated), ``older`` (a ledger that needs ``smokeseal db upgrade``), ``unavailable``
    (an error, no schema) or ``slow`` (no answer within :data:`UP_BUDGET`)."""

    def __init__(self, ledger: Ledger, timeout: float, budget: float = UP_BUDGET) -> None:
        self.ledger = ledger
        self.timeout = timeout
        self.budget = budget
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smokeseal-up")
        self._running: Future[str] | None = None

    def _check(self) -> str:
        try:
            age = schema_age(self.ledger.revision(timeout=self.timeout))
        except LedgerError as exc:
            _log.warning("GET /up: %s", exc)
            return "unavailable"
        # A rolling upgrade: a newer smokeseal migrated the shared ledger first. Its
        # migrations are additive, so this board still reads it: up, and says so.
        return {"current": "ok", "newer": "newer", "older": "older"}.get(age, "unavailable")

    async def status(self) -> str:
        # Only the event loop's thread starts reads, so this needs no lock.
        if self._running is None or self._running.done():
            self._running = self._thread.submit(self._check)
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self._running)),
                                          self.budget)
        except TimeoutError:
            return "slow"
