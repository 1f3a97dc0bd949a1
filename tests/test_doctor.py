"""`smokeseal doctor` against real servers: the demo app, a stranger, a redirector."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from starlette.routing import Route

from smokeseal.demo import create_app
from smokeseal.doctor import Finding, diagnose
from smokeseal.servers import BackgroundServer
from tests.conftest import Broken, Demo, Edge

pytestmark = pytest.mark.component


@pytest.fixture
def twin() -> Iterator[str]:
    """A second instance of the demo app: the same app on another host."""
    with BackgroundServer(create_app()) as server:
        yield server.url


@pytest.fixture
def redirector(demo: Demo) -> Iterator[str]:
    """A host that redirects everything to the demo app, as an apex domain to www would."""
    async def away(request: object) -> RedirectResponse:
        return RedirectResponse(demo.url + "/", status_code=301)

    app = Starlette(routes=[Route("/{path:path}", away)])
    with BackgroundServer(app) as server:
        yield server.url


def config(demo_url: str, *extra: str, aliases: tuple[str, ...] = ()) -> str:
    alias_line = f"    aliases: [{', '.join(aliases)}]\n" if aliases else ""
    return (f"apps:\n  demo:\n    url: {demo_url}\n{alias_line}" + "".join(extra))


def run(path: Path, tmp_path: Path, **env: str) -> list[Finding]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SMOKESEAL_")}
    return diagnose(path, f"sqlite:///{tmp_path / 'ledger.db'}", {**environ, **env})


def problems(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if not f.ok]


def test_a_healthy_setup_has_no_problems(demo: Demo, twin: str, redirector: str,
                                         write_config: Callable[[str], Path],
                                         tmp_path: Path, browser_executable: str) -> None:
    path = write_config(config(demo.url, aliases=(redirector, twin)))
    findings = run(path, tmp_path)
    assert problems(findings) == []
    said = [f.message for f in findings]
    assert f'canonical host: {demo.url} answers 200 ("Demo Studio")' in said
    assert "gate /up answers 200" in said
    assert f"alias {redirector} redirects to the canonical host" in said
    assert any(m.startswith(f"alias {twin} serves the same app") for m in said)
    assert any(f.area == "browser" and "Chromium" in f.message for f in findings)
    # Doctor reads only: the ledger it was pointed at is still not there.
    assert not (tmp_path / "ledger.db").exists()


def test_an_alias_that_serves_another_app_is_a_problem_with_a_fix(
        demo: Demo, edge: Edge, write_config: Callable[[str], Path], tmp_path: Path) -> None:
    path = write_config(config(demo.url, aliases=(edge.url,)))
    [problem] = problems(run(path, tmp_path))
    assert problem.area == "app demo"
    assert problem.message == (f'alias {edge.url} serves a different app (status 404, where '
                               f'{demo.url} shows "Demo Studio")')
    assert problem.fix == (f"redirect {edge.url} to {demo.url} or serve the same app there; "
                           "otherwise remove it from apps.demo.aliases")


def test_a_canonical_url_that_redirects_elsewhere_is_named(
        demo: Demo, redirector: str, write_config: Callable[[str], Path],
        tmp_path: Path) -> None:
    path = write_config(config(redirector))
    found = problems(run(path, tmp_path))
    assert found[0].message.startswith(f"{redirector} redirects to {demo.url}/")
    assert found[0].fix == (f"if {demo.url} serves the app, in apps.demo, set url: {demo.url} "
                            f"and aliases: [{redirector}]")


def test_a_gate_that_does_not_answer_200_is_a_problem(edge: Edge, closed_port: int,
                                                      write_config: Callable[[str], Path],
                                                      tmp_path: Path) -> None:
    path = write_config(config(edge.url, aliases=(f"http://127.0.0.1:{closed_port}",)))
    found = problems(run(path, tmp_path))
    assert [f.message for f in found] == [
        f"gate {edge.url}/up answers 404: ship would fail its gate",
        f"alias http://127.0.0.1:{closed_port} is unreachable: connection refused"]
    assert found[0].fix and "gate.path" in found[0].fix


def test_every_missing_variable_is_named_at_once(demo: Demo,
                                                 write_config: Callable[[str], Path],
                                                 tmp_path: Path) -> None:
    path = write_config(config(
        demo.url,
        "    notify:\n      discord: {webhook_url: '${HOOK_A}'}\n",
        "      github_release: {repo: o/r, token: '${TOKEN_B}'}\n",
        "# a comment that mentions ${NOT_USED} is not a use\n"))
    found = problems(run(path, tmp_path))
    assert [f.message for f in found] == [
        f"${{HOOK_A}} is not set (used by apps.demo.notify.discord.webhook_url at {path}:5)",
        f"${{TOKEN_B}} is not set (used by apps.demo.notify.github_release.token at {path}:6)"]
    assert found[0].fix == ("export HOOK_A=… where smokeseal runs, or write "
                            "${HOOK_A:-default} in the config")
    # With them set, nothing is left to say about the environment but that it is complete.
    fine = run(path, tmp_path, HOOK_A="https://discord.test/x", TOKEN_B="t")
    assert problems(fine) == []
    assert "every ${VAR} is set: HOOK_A, TOKEN_B" in [f.message for f in fine]


def test_a_broken_config_stops_at_the_config(write_config: Callable[[str], Path],
                                             tmp_path: Path) -> None:
    path = write_config("apps:\n  demo:\n    url: https://x.test\n    suit: health\n")
    [problem] = run(path, tmp_path)
    assert problem.message == (f"{path}:4: apps.demo.suit: unknown key (did you mean "
                               "'suite'?)")
    assert problem.fix == f"edit {path}:4; see README 'Config'"
    [missing] = run(tmp_path / "nowhere.yml", tmp_path)
    assert missing.fix == "smokeseal init URL writes one (or pass --config)"


def test_a_missing_browser_and_an_unreachable_ledger(demo: Demo, closed_port: int,
                                                     write_config: Callable[[str], Path],
                                                     tmp_path: Path) -> None:
    path = write_config(config(demo.url))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SMOKESEAL_")}
    environ["SMOKESEAL_BROWSER"] = str(tmp_path / "no-chromium")
    url = f"postgresql://smokeseal:hunter2@127.0.0.1:{closed_port}/ledger"
    found = {f.area: f for f in problems(diagnose(path, url, environ))}
    assert set(found) == {"browser", "ledger"}
    assert "not an executable file" in found["browser"].message
    assert found["ledger"].message.startswith(
        f"ledger postgresql+psycopg://smokeseal:***@127.0.0.1:{closed_port}/ledger: ")
    assert "hunter2" not in found["ledger"].message


@pytest.mark.slow  # a whole flow
@pytest.mark.e2e
def test_init_then_doctor_is_healthy_and_the_suite_green(demo: Demo, tmp_path: Path,
                                                          browser_executable: str) -> None:
    """The first-run path: init for the demo app, doctor, prod-smoke."""
    from tests.test_cli import cli

    written = cli("smokeseal", "init", demo.url, cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert f"wrote {tmp_path / 'smokeseal.yml'} for app 'app'" in written.stderr
    assert "✓ /up answers 200 (the suite expects 200)" in written.stderr
    doctor = cli("smokeseal", "doctor", cwd=tmp_path)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert doctor.stdout.strip().endswith("healthy")
    smoke = cli("prod-smoke", "app", cwd=tmp_path)
    assert smoke.returncode == 0, smoke.stdout
    assert "🟢 green · 5/5 passed" in smoke.stdout
    again = cli("smokeseal", "init", demo.url, cwd=tmp_path)
    assert again.returncode == 2 and "already exists; pass --force" in again.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["smokeseal.yml"]  # doctor made nothing


@pytest.mark.e2e
def test_doctor_reports_a_stranger_alias_and_exits_1(demo: Demo, edge: Edge, tmp_path: Path,
                                                     browser_executable: str) -> None:
    from tests.test_cli import cli

    (tmp_path / "smokeseal.yml").write_text(config(demo.url, aliases=(edge.url,)))
    done = cli("smokeseal", "doctor", cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if "serves a different app" in line)
    assert lines[at].startswith("✗ app demo")
    assert lines[at + 1].strip().startswith(f"fix: redirect {edge.url} to {demo.url}")
    assert lines[-1] == "1 problem"


def test_doctor_reads_the_revision_served_or_says_why_it_cannot(
        broken: Broken, write_config: Callable[[str], Path], tmp_path: Path) -> None:
    good = write_config(config(broken.url, "    version: {path: /version, json: sha}\n"))
    said = [f.message for f in run(good, tmp_path) if f.area == "app demo"]
    assert any(m.startswith("version: production serves 3f2a9c1b7d0e (") for m in said), said
    wrong = write_config(config(broken.url, "    version: {path: /version, json: build.sha}\n"))
    [problem] = [f for f in problems(run(wrong, tmp_path)) if f.area == "app demo"]
    assert problem.message.startswith("version: cannot read the revision served: ")
    assert "build" in problem.message
    assert problem.fix is not None and "apps.demo.version" in problem.fix


def test_a_title_production_serves_reaches_the_terminal_without_control_sequences(
        write_config: Callable[[str], Path], tmp_path: Path) -> None:
    async def home(request: object) -> HTMLResponse:
        # ESC [2J clears the screen, OSC 52 writes the clipboard, BEL rings.
        return HTMLResponse("<title>Shop\x1b[2J\x1b]52;c;ZXZpbA==\x07 &#27;[31mred</title>"
                            "<main>shop</main>")

    async def up(request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/", home), Route("/up", up)])
    with BackgroundServer(app) as server:
        said = " ".join(f.message for f in run(write_config(config(server.url)), tmp_path))
    assert '("Shop[2J]52;c;ZXZpbA== [31mred")' in said
    assert "\x1b" not in said and "\x07" not in said
