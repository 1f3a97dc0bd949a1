"""A page that tries every way a browser can ask a real GraphQL server (Strawberry) to run a
mutation, sealed with ``reads: ["GRAPHQL /graphql"]``: production runs none of them, and the
check names each one blocked. Without smokeseal's guard the same page runs four."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from smokeseal.config import load_config
from smokeseal.runner import run_app
from tests.realapps.conftest import Fleet

pytestmark = pytest.mark.integration

ATTACK_SUITE = """\
apps:
  catalog:
    url: {url}
    suite:
      - name: attack
        page: /attack
        reads: ["GRAPHQL /graphql"]
        expect: {{text: All attacks tried}}
"""
#: What the page's mutations record when they run (graphql_app.py's ``restock(item:)``).
MUTATIONS_UNGUARDED = ["plain", "mixed", "batch", "graphql-body"]


def test_the_attack_page_runs_no_mutation_in_production_and_names_each_one_blocked(
        realapps: Fleet, tmp_path: Path, browser_executable: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOKESEAL_BROWSER", browser_executable)
    app = realapps.app("graphql")
    assert app.get("/mutations-executed")["count"] == 0
    config = tmp_path / "smokeseal.yml"
    config.write_text(ATTACK_SUITE.format(url=app.url), encoding="utf-8")

    result = run_app(load_config(config), "catalog")

    assert app.get("/mutations-executed") == {"count": 0, "items": []}
    [check] = result.results
    assert check.outcome == "passed", check.detail  # the page drew its log: it ran
    graphql = f"POST {app.url}/graphql (GRAPHQL /graphql: "
    blocked = "\n".join(check.blocked_writes)
    assert f"{graphql}a mutation, not a query) ×2" in blocked  # plain, application/graphql
    assert f"{graphql}the document holds a mutation Restock" in blocked  # either selection
    assert f"{graphql}batch [1]: a mutation, not a query)" in blocked
    assert "blocked 5 write attempts" in check.detail
    # Nothing the page sent as a query was a mutation: no read was let through.
    assert check.reads == []


def test_without_the_guard_the_same_page_runs_four_mutations(
        realapps: Fleet, browser_executable: str) -> None:
    """The control: production takes these attempts (the broken instance: only its query
    resolver raises), so the zero above is the guard's doing. The GET is refused by the
    server itself, as the GraphQL-over-HTTP spec asks."""
    app = realapps.app("graphql", "broken")
    before = app.get("/mutations-executed")["count"]

    async def visit() -> str:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=browser_executable)
            try:
                page = await browser.new_page()
                await page.goto(app.url + "/attack")
                await page.get_by_text("All attacks tried").wait_for(timeout=15_000)
                return await page.inner_text("ol")
            finally:
                await browser.close()

    log = asyncio.run(visit())
    executed = app.get("/mutations-executed")
    assert executed["count"] - before == len(MUTATIONS_UNGUARDED), log
    assert executed["items"][before:] == MUTATIONS_UNGUARDED
    assert "GET mutation: 400" in log
