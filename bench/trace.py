"""What tracing page checks costs: the demo's three pages, traced and not, side by side.

    python bench/trace.py [--rounds N]

Each round opens one browser and runs the demo suite's page checks twice over (six checks,
side by side, tabs reused as in a real run) with an evidence folder, so every check is
traced; the other contender runs the same with ``trace=False``. Rounds alternate; medians
(min–max) are quoted. Then one failed check is timed with and without keeping its trace, and
the kept trace's size is given. Not part of ``make test``; no figure here is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from smokeseal.browser.launch import find_browser
from smokeseal.browser.session import BrowserSession
from smokeseal.checks.page import run_page_check
from smokeseal.config import Check, Expect
from smokeseal.demo import DemoState, create_app
from smokeseal.servers import BackgroundServer

PAGES = [Check(name="home renders", page="/", expect=Expect(status=200, selector="main")),
         Check(name="signin renders", page="/signin", expect=Expect(selector="form")),
         Check(name="tasks render", page="/tasks", expect=Expect(selector="[data-test=tasks]"))]
FAILING = Check(name="tasks render", page="/tasks", retries=0, timeout=5,
                expect=Expect(selector="[data-test=tasks]", text="no such text"))


async def _round(browser: str, url: str, evidence: Path, trace: bool) -> float:
    async with BrowserSession(browser) as session:
        checks = PAGES * 2
        session.plan(len(checks))
        started = time.perf_counter()
        results = await asyncio.gather(*(run_page_check(session, c, url, evidence, trace=trace)
                                         for c in checks))
        took = time.perf_counter() - started
    if not all(r.ok for r in results):
        raise SystemExit(f"the demo's pages failed: {[r.detail for r in results]}")
    return took


async def _failure(browser: str, url: str, evidence: Path, trace: bool) -> tuple[float, int]:
    async with BrowserSession(browser) as session:
        started = time.perf_counter()
        result = await run_page_check(session, FAILING, url, evidence, trace=trace)
        took = time.perf_counter() - started
    assert not result.ok and result.evidence
    kept = Path(result.evidence) / "trace.zip"
    return took, kept.stat().st_size if kept.exists() else 0


def _show(samples: list[float]) -> str:
    return (f"{statistics.median(samples) * 1000:6.0f} ms "
            f"({min(samples) * 1000:.0f}–{max(samples) * 1000:.0f})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=8)
    rounds = parser.parse_args().rounds
    browser = find_browser()
    times: dict[bool, list[float]] = {False: [], True: []}
    failures: dict[bool, list[float]] = {False: [], True: []}
    sizes: list[int] = []
    with BackgroundServer(create_app(DemoState())) as server, \
            tempfile.TemporaryDirectory() as work:
        for n in range(rounds):
            for trace in ((False, True) if n % 2 == 0 else (True, False)):
                evidence = Path(work) / f"r{n}-{trace}"
                times[trace].append(asyncio.run(_round(browser, server.url, evidence, trace)))
                took, size = asyncio.run(_failure(browser, server.url, evidence, trace))
                failures[trace].append(took)
                if trace:
                    sizes.append(size)
    print(f"six passing page checks side by side, {rounds} rounds each, {sys.platform}")
    print(f"  untraced        {_show(times[False])}")
    print(f"  traced          {_show(times[True])}  "
          f"×{statistics.median(times[True]) / statistics.median(times[False]):.2f}")
    print("one failing page check (its evidence kept)")
    print(f"  without trace   {_show(failures[False])}")
    print(f"  with trace.zip  {_show(failures[True])}  "
          f"trace.zip {statistics.median(sizes) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
