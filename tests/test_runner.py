from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.types import ASGIApp

from smokeseal.config import Check, Expect, parse_config
from smokeseal.runner import run_app, run_suite
from smokeseal.seal import seal_from_run
from tests.conftest import Demo, Edge, Served, meeting_point

pytestmark = pytest.mark.integration

NAMES = ["home renders", "signin renders", "tasks render", "up", "devops hidden", "cycle hidden"]


def demo_suite(demo: Demo) -> tuple[Check, ...]:
    return parse_config(demo.config_yaml()).suite_for("demo")


def test_the_demo_suite_is_green_in_suite_order(browser_executable: str, demo: Demo) -> None:
    seen: list[str] = []
    run = run_suite(demo_suite(demo), demo.url, browser_executable=browser_executable,
                    on_result=lambda r: seen.append(r.name))
    assert [r.name for r in run.results] == NAMES
    assert all(r.ok for r in run.results), [r.detail for r in run.results]
    assert sorted(seen) == sorted(NAMES)
    seal = seal_from_run(run)
    assert (seal.status, seal.summary, seal.base_url) == ("green", "6/6 passed", demo.url)
    assert run.browser is not None and browser_executable in run.browser
    assert demo.state.writes() == []


@pytest.mark.parametrize(("fault", "failing", "detail"), [
    ("devops_exposed", {"devops hidden", "cycle hidden"}, "expected 404, got 200"),
    ("tasks_js_error", {"tasks render"}, "uncaught page error: TypeError"),
    ("signin_500", {"signin renders"}, "expected 2xx, got 500"),
    ("up_500", {"up"}, "expected 200, got 500"),
])
def test_each_fault_fails_exactly_its_check(browser_executable: str, demo: Demo,
                                            fault: str, failing: set[str], detail: str) -> None:
    demo.state.set_faults(fault)
    checks = tuple(c.model_copy(update={"timeout": 4}) for c in demo_suite(demo))
    run = run_suite(checks, demo.url, browser_executable=browser_executable)
    assert {r.name for r in run.failed} == failing
    for result in run.failed:
        assert result.detail.startswith(detail), result.detail
    seal = seal_from_run(run)
    assert seal.status == "red"
    assert seal.summary.startswith(f"{6 - len(failing)}/6 passed; ")
    for name in failing:
        assert f"{name}: {detail}" in seal.summary


def test_checks_run_side_by_side(browser_executable: str,
                                 serve: Callable[[ASGIApp], Served]) -> None:
    # Each answer waits for all six checks to be waiting on the server (an event, bounded),
    # not for a fixed delay: however long the browser takes to start, the GETs still wait.
    app, peak = meeting_point(6, bound=20)
    served = serve(app)
    checks = [Check(name=f"get {i}", get=f"/slow?n={i}", timeout=30) for i in range(3)] + \
             [Check(name=f"page {i}", page=f"/slow?n={i}", timeout=30,
                    expect=Expect(selector="main")) for i in range(3)]
    run = run_suite(checks, served.url, browser_executable=browser_executable)
    assert all(r.ok for r in run.results), [r.detail for r in run.results]
    # Six checks were all waiting on the server at once.
    assert peak[0] >= 6


def test_no_browser_skips_page_checks_says_so_and_is_never_green(demo: Demo) -> None:
    run = run_suite(demo_suite(demo), demo.url, use_browser=False)
    assert [r.outcome for r in run.results] == ["skipped"] * 3 + ["passed"] * 3
    seal = seal_from_run(run)
    assert seal.summary == ("3/6 passed; not verified: 3 checks skipped "
                            "(home renders, signin renders, tasks render)")
    assert seal.status == "red"
    assert sorted(path for _, path in demo.state.requests) == ["/devops", "/devops/cycle", "/up"]


def test_a_missing_browser_fails_page_checks_and_http_checks_still_run(
        demo: Demo, tmp_path: Path) -> None:
    run = run_suite(demo_suite(demo), demo.url,
                    browser_executable=str(tmp_path / "no-chromium-here"))
    assert [r.ok for r in run.results] == [False] * 3 + [True] * 3
    assert run.results[0].detail.startswith("no browser: could not launch ")
    assert seal_from_run(run).status == "red"


def test_nothing_ran_is_not_green(demo: Demo) -> None:
    run = run_suite([Check(page="/")], demo.url, use_browser=False)
    assert seal_from_run(run).status == "red"
    assert seal_from_run(run).summary.startswith("0/1 passed; not verified")


@pytest.mark.component
def test_a_check_that_passes_on_its_retry_is_flaky_and_keeps_its_first_failure(
        edge: Edge) -> None:
    run = run_suite([Check(name="warm", get="/flaky?n=1")], edge.url)
    [warm] = run.results
    assert (warm.outcome, warm.attempts) == ("flaky", 2)
    assert warm.first_failure == "expected 2xx, got 503"
    assert seal_from_run(run).status == "green"


@pytest.mark.component
def test_retries_zero_turns_the_retry_off(edge: Edge) -> None:
    run = run_suite([Check(name="warm", get="/flaky?n=1", retries=0)], edge.url)
    assert [r.outcome for r in run.results] == ["failed"]
    assert [path for _, path in edge.log] == ["/flaky"]


@pytest.mark.component
def test_a_check_failing_every_try_is_failed_with_its_last_answer(edge: Edge) -> None:
    run = run_suite([Check(name="warm", get="/flaky?n=5", retries=2)], edge.url)
    [warm] = run.results
    assert (warm.outcome, warm.attempts, warm.detail) == ("failed", 3, "expected 2xx, got 503")
    assert len(edge.log) == 3


@pytest.mark.component
@pytest.mark.timeout(60)
def test_the_run_budget_fails_what_has_not_answered_and_keeps_the_rest(
        edge: Edge, tmp_path: Path) -> None:
    checks = [Check(name="slow suite", command="sleep 30", timeout=60),
              Check(name="ok", get="/ok")]
    run = run_suite(checks, edge.url, budget=1.5, base_dir=tmp_path)
    slow, ok = run.results
    assert slow.outcome == "failed"
    assert "seal_timeout 1.5 s" in slow.detail
    assert ok.outcome == "passed"
    assert run.duration_ms < 30_000  # it ended: the 30 s command was not waited out


@pytest.mark.component
def test_a_check_that_raises_is_its_own_failure_and_the_others_stand(edge: Edge) -> None:
    # A path httpx refuses to build a URL from: a surprise inside one check.
    run = run_suite([Check(name="odd", get="/bad\x7fpath"), Check(name="ok", get="/ok")],
                    edge.url)
    odd, ok = run.results
    assert odd.outcome == "failed" and odd.detail
    assert ok.outcome == "passed"


def test_run_app_uses_the_canonical_url_and_keeps_evidence_beside_the_config(
        browser_executable: str, demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMOKESEAL_BROWSER", browser_executable)
    demo.state.set_faults("tasks_js_error")
    path = tmp_path / "smokeseal.yml"
    path.write_text(demo.config_yaml())
    from smokeseal.config import load_config

    run = run_app(load_config(path), "demo")
    assert run.base_url == demo.url
    [failed] = run.failed
    assert failed.evidence is not None
    assert Path(failed.evidence).is_relative_to(tmp_path / ".smokeseal" / "evidence")
    assert (Path(failed.evidence) / "screenshot.png").exists()


@pytest.mark.component
def test_an_http_only_suite_never_imports_playwright(demo: Demo) -> None:
    import subprocess
    import sys

    code = ("import sys\n"
            "from smokeseal.config import Check\n"
            "from smokeseal.runner import run_suite\n"
            f"run = run_suite([Check(get='/up')], {demo.url!r})\n"
            "assert run.passed, run.results\n"
            "print(sorted(m for m in sys.modules if m.startswith('playwright')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "[]"
