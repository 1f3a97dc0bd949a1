"""docs/apps.md's recipes against the real apps (Streamlit, Dash, GraphQL, Gradio, Shiny,
NiceGUI, Panel, Ariadne): green run after run with their reads listed, red without their
``reads:`` (naming the read blocked), red when the app's own code raises (naming the page
check), while the frameworks' health endpoints (or frames) still answer 200."""

from __future__ import annotations

from pathlib import Path

import pytest

from smokeseal.checks.base import CheckResult
from smokeseal.config import load_config
from smokeseal.runner import RunResult, run_app
from tests.realapps.conftest import RealApp
from tests.realapps.recipes import recipe_config

pytestmark = pytest.mark.integration

#: What each app's page reads beyond GET, as its recipe declares it and the check lists it.
READ = {
    "streamlit": "WEBSOCKET /_stcore/stream",
    "dash": "POST /_dash-update-component",
    "graphql": "GRAPHQL /graphql",
    "gradio": "POST /gradio_api/queue/join",
    "shiny": "WEBSOCKET /websocket/",
    "nicegui": "WEBSOCKET /_nicegui_ws/socket.io/",
    "panel": "WEBSOCKET /ws",
    "ariadne": "GRAPHQL /graphql",
}
#: How the guard names that read when it was not declared (after the app's URL).
BLOCKED = {
    "streamlit": "WEBSOCKET ws://{host}/_stcore/stream",
    "dash": "POST http://{host}/_dash-update-component?endId=",
    "graphql": "POST http://{host}/graphql",
    "gradio": "POST http://{host}/gradio_api/queue/join",
    "shiny": "WEBSOCKET ws://{host}/websocket/",
    "nicegui": "WEBSOCKET ws://{host}/_nicegui_ws/socket.io/",
    "panel": "WEBSOCKET ws://{host}/ws",
    "ariadne": "POST http://{host}/graphql",
}
#: What the page check says when the app's own code raises: the error box Streamlit, Shiny and
#: the page's script draw, or the text that never came and what the page showed instead (the
#: frame, still "Loading…"), and the error a GraphQL read answered.
BROKEN_DETAIL = {
    "streamlit": ("page shows 'Traceback'",),
    "dash": ("text 'Open orders:' not found", "page shows: 'Orders'"),
    "graphql": ("page shows 'Error:'",),
    "gradio": ("text 'Tomorrow:' not found", "page shows: 'Weather forecast Error"),
    "shiny": ("page shows 'An error has occurred'",),
    "nicegui": ("text 'Open tickets:' not found",
                "page shows: 'Support queue Loading tickets…'"),
    "panel": ("text 'Revenue this week:' not found",
              "page shows: 'Sales dashboard Loading sales…'"),
    "ariadne": ("text 'Dune by Frank Herbert' not found", "page shows: 'Library Loading books…'",
                "catalogue database unreachable"),
}
RUNS = 3
#: The apps whose broken page draws its error: red as soon as it shows. The others' red is
#: a text that never comes, which waits out the page check's timeout.
DRAWS_ITS_ERROR = {"streamlit", "graphql"}


@pytest.fixture(autouse=True)
def _browser(browser_executable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOKESEAL_BROWSER", browser_executable)


def run(app: RealApp, where: Path, **options: object) -> RunResult:
    name, path = recipe_config(app.kind.name, app.url, where, **options)  # type: ignore[arg-type]
    return run_app(load_config(path), name)


def page_check(run: RunResult) -> CheckResult:
    [page] = [r for r in run.results if r.kind == "page"]
    return page


def named(entries: list[str], start: str) -> bool:
    return any(entry.startswith(start) for entry in entries)


def test_each_real_app_is_green_run_after_run_with_its_reads_listed(
        healthy_app: RealApp, tmp_path: Path) -> None:
    kind = healthy_app.kind.name
    for attempt in range(RUNS):
        result = run(healthy_app, tmp_path)
        assert result.passed, f"run {attempt + 1}: {[r.detail for r in result.results]}"
        assert {r.outcome for r in result.results} == {"passed"}, "a flaky check"
        page = page_check(result)
        assert named(page.reads, READ[kind]), page.reads
        assert page.blocked_writes == []


def test_without_its_reads_each_real_app_is_red_and_the_blocked_read_is_named(
        healthy_app: RealApp, tmp_path: Path) -> None:
    kind = healthy_app.kind.name
    result = run(healthy_app, tmp_path, reads=False, timeout=6, retries=0)
    assert not result.passed
    page = page_check(result)
    assert page.outcome == "failed"
    blocked = BLOCKED[kind].format(host=healthy_app.url.removeprefix("http://"))
    assert named(page.blocked_writes, blocked), page.blocked_writes
    assert page.reads == []
    # The health endpoint cannot tell: only the page can.
    assert [r.outcome for r in result.results if r.kind == "get"] == ["passed"]


def test_a_real_app_whose_code_raises_is_red_naming_its_page_check(
        broken_app: RealApp, tmp_path: Path) -> None:
    kind = broken_app.kind.name
    # Waiting for an error to be drawn costs nothing once it is, so it gets the recipe's own
    # timeout, however busy the machine; a text that never comes is waited for 6 s only.
    result = run(broken_app, tmp_path, timeout=None if kind in DRAWS_ITS_ERROR else 6,
                 retries=0)
    assert not result.passed
    page = page_check(result)
    assert [r.name for r in result.failed] == [page.name]
    for said in BROKEN_DETAIL[kind]:
        assert said in page.detail, page.detail
    # The read happened and production answered it; what it answered was broken.
    assert named(page.reads, READ[kind]), page.reads
    assert [r.outcome for r in result.results if r.kind == "get"] == ["passed"]
