"""How often page checks reuse a wiped tab on the demo app (no timed asserts: a measurement).

Runs the demo suite's page checks (and each page of the demo app) through one
BrowserSession, side by side as ``prod-smoke`` runs them and one after another, and prints how
many tabs were opened for how many page checks.

    PYTHONPATH=src python bench/reuse.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from smokeseal.browser.launch import find_browser
from smokeseal.browser.session import BrowserSession
from smokeseal.checks.page import run_page_check
from smokeseal.config import Check, Expect, load_config
from smokeseal.demo import DemoState, create_app, demo_config_yaml
from smokeseal.servers import BackgroundServer


async def _run(url: str, checks: list[Check], together: bool) -> tuple[int, int, bool]:
    async with BrowserSession(find_browser()) as session:
        session.plan(len(checks))
        if together:
            results = await asyncio.gather(*(run_page_check(session, c, url) for c in checks))
        else:
            results = []
            for check in checks:
                results.append(await run_page_check(session, check, url))
                await session.settle()
        return len(checks), session.tabs_opened, all(r.ok for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    state = DemoState()
    state.delay = 0
    pages = [Check(name=path, page=path, timeout=10, expect=Expect(status=200))
             for path in ("/", "/signin", "/tasks", "/visitor")] * 2
    with BackgroundServer(create_app(state)) as server, tempfile.TemporaryDirectory() as work:
        config = Path(work) / "smokeseal.yml"
        config.write_text(demo_config_yaml(server.url))
        suite = [c for c in load_config(config).suite_for("demo") if c.kind == "page"]
        for label, checks in (("demo suite", suite), ("every demo page twice", pages)):
            for together in (True, False):
                for _ in range(rounds):
                    count, tabs, ok = asyncio.run(_run(server.url, checks, together))
                    how = "side by side" if together else "one after another"
                    print(f"{label}, {how}: {count} page checks, {tabs} tabs opened, "
                          f"{count - tabs} reused{'' if ok else ' (a check failed)'}")


if __name__ == "__main__":
    main()
