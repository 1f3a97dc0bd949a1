"""A failed page check keeps a Playwright trace that Playwright's own viewer opens, that holds
that check's visit and no other, and that holds none of the app's secrets."""

from __future__ import annotations

import asyncio
import base64
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from smokeseal.checks.base import CheckResult
from smokeseal.checks.trace import scrub_trace
from smokeseal.config import Check, Expect, load_config
from smokeseal.runner import run_app
from smokeseal.servers import BackgroundServer
from tests.checks.conftest import Shop
from tests.checks.pages import SharedBrowser, one_by_one

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
#: The trace viewer ``npx playwright show-trace`` serves, from the Node Playwright that the
#: command-check tier installs (``make test`` runs ``npm ci`` in tests/playwright).
VIEWER = ROOT / "tests/playwright/node_modules/playwright-core/lib/vite/traceViewer"


def page(path: str, timeout: float = 5, **expect: object) -> Check:
    return Check(name=f"page {path}", page=path, timeout=timeout, retries=0,
                 expect=Expect(**expect))  # type: ignore[arg-type]


def run_pages(browser: SharedBrowser, base_url: str, *checks: Check, evidence: Path,
              trace: bool = True) -> list[CheckResult]:
    return browser.one_by_one(base_url, *checks, evidence=evidence, trace=trace)


def entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as trace:
        return {name: trace.read(name) for name in trace.namelist()}


def events(data: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()]


def network_urls(kept: dict[str, bytes]) -> list[str]:
    return [str(e["snapshot"]["request"]["url"])  # type: ignore[index]
            for e in events(kept["trace.network"]) if e.get("type") == "resource-snapshot"]


def test_a_failed_page_check_keeps_a_trace_beside_its_screenshot(
        shared_browser: SharedBrowser, shop: Shop, tmp_path: Path) -> None:
    url = f"{shop.url}/bundle"
    [result] = run_pages(shared_browser, shop.url, page("/bundle", text="Sold out"),
                         evidence=tmp_path)
    assert not result.ok and result.evidence
    folder = Path(result.evidence)
    assert {p.name for p in folder.iterdir()} == {"console.txt", "screenshot.png", "trace.zip"}
    kept = entries(folder / "trace.zip")
    assert {"trace.trace", "trace.network"} <= set(kept)
    assert any(name.startswith("resources/") for name in kept)
    trace = events(kept["trace.trace"])
    assert trace[0]["type"] == "context-options"
    # The navigation is an action of the trace, with the page's URL.
    assert any(e.get("type") == "before" and e.get("method") == "goto"
               and e.get("params", {}).get("url") == url for e in trace)  # type: ignore[union-attr]
    assert url in network_urls(kept) and f"{shop.url}/static/app.css" in network_urls(kept)
    # What the network log points at is in the zip: the page's body among the resources.
    bodies = [e["snapshot"]["response"]["content"].get("_file")  # type: ignore[index]
              for e in events(kept["trace.network"])]
    assert any(b"Welcome to the shop" in kept.get(str(body), b"") for body in bodies)


@pytest.fixture
def viewer() -> Path:
    if not (VIEWER / "index.html").is_file():
        pytest.skip("no Node Playwright in tests/playwright (make test runs npm ci there)")
    return VIEWER


def test_playwrights_trace_viewer_opens_the_kept_trace(
        shared_browser: SharedBrowser, browser_executable: str, shop: Shop, tmp_path: Path,
        viewer: Path) -> None:
    """The viewer ``npx playwright show-trace`` serves, loading the kept (rewritten) zip in a
    real browser, lists the navigation to the page and its network requests."""
    [result] = run_pages(shared_browser, shop.url, page("/bundle", text="Sold out"),
                         evidence=tmp_path)
    assert result.evidence
    kept = Path(result.evidence) / "trace.zip"
    app = Starlette(routes=[Route("/trace.zip", lambda request: FileResponse(kept)),
                            Mount("/", StaticFiles(directory=viewer, html=True))])

    async def look(url: str) -> str:
        from playwright.async_api import async_playwright

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=browser_executable)
            try:
                tab = await browser.new_page()
                await tab.goto(f"{url}/index.html?trace={url}/trace.zip")
                # The action list shows the navigation once the zip is loaded.
                await tab.get_by_text(f"{shop.url.split('://')[1]}/bundle").first.wait_for(
                    timeout=20_000)
                return await tab.inner_text("body")
            finally:
                await browser.close()

    with BackgroundServer(app) as server:
        shown = asyncio.run(look(server.url))
    assert "Navigate" in shown
    assert "Could not load trace" not in shown


def test_a_passing_check_keeps_no_trace(shared_browser: SharedBrowser, shop: Shop,
                                        tmp_path: Path) -> None:
    [result] = run_pages(shared_browser, shop.url, page("/bundle", selector="main"),
                         evidence=tmp_path)
    assert result.ok and result.evidence is None
    assert list(tmp_path.iterdir()) == []


def test_trace_off_keeps_the_screenshot_and_no_trace(shared_browser: SharedBrowser,
                                                     shop: Shop, tmp_path: Path) -> None:
    [result] = run_pages(shared_browser, shop.url, page("/bundle", text="Sold out"),
                         evidence=tmp_path, trace=False)
    assert not result.ok and result.evidence
    assert {p.name for p in Path(result.evidence).iterdir()} == {"console.txt",
                                                                 "screenshot.png"}


def test_a_tab_reused_after_a_failure_traces_only_its_own_check(
        browser_executable: str, shop: Shop, tmp_path: Path) -> None:
    """Playwright keeps a context's network log across trace chunks: the second check's
    trace must hold neither the first page's requests nor its body."""
    first, second = page("/bundle", text="Sold out"), page("/landed", text="Sold out")
    # A browser of its own: it counts the tabs.
    results, tabs = one_by_one(browser_executable, shop.url, first, second, evidence=tmp_path)
    assert tabs == 1  # the tab was wiped and reused
    assert [r.ok for r in results] == [False, False]
    assert all(r.evidence for r in results)
    one, two = (entries(Path(str(r.evidence)) / "trace.zip") for r in results)
    assert f"{shop.url}/bundle" in network_urls(one)
    assert network_urls(two) == [f"{shop.url}/landed"]
    for name, data in two.items():
        assert b"/bundle" not in data and b"Welcome to the shop" not in data, name
        assert b"/static/app" not in data, name
    assert any(b"Please sign in" in data for data in two.values())


# --- secrets ------------------------------------------------------------------------------

KEY = "k3y-in-a-trace-0042"
TEAM = "team-literal-0042"  # written out in the config, not a ${VAR}: still a credential
SESSION = "s3ss10n-trace-0042"
USER, PASSWORD = "robot", "pa55-trace-0042"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def _echo_app() -> Starlette:
    async def echo(request: Request) -> Response:
        # A careless app: every credential it got, in its page, a script, an error, its
        # response headers and a cookie of its own.
        got = " ".join(f"{name}={value}" for name, value in request.headers.items())
        return HTMLResponse(
            f"<main>you sent {got}</main><script src='/echo.js'></script>"
            f"<script>console.error({json.dumps(got)}); throw new Error('bad key')</script>",
            headers={"X-Echo": request.headers.get("x-api-key", ""),
                     "Set-Cookie": f"mirror={SESSION}; Path=/"})

    async def script(request: Request) -> Response:
        return Response(f"window.auth = {json.dumps(request.headers.get('authorization'))}",
                        media_type="text/javascript")

    return Starlette(routes=[Route("/echo", echo), Route("/echo.js", script)])


@pytest.fixture(scope="module")
def echo_server() -> Iterator[str]:
    with BackgroundServer(_echo_app()) as server:
        yield server.url


def test_no_secret_is_in_any_entry_of_the_kept_trace(
        browser_executable: str, echo_server: str, write_config: Callable[[str], Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("KEY", KEY), ("SESSION", SESSION), ("PASSWORD", PASSWORD)):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SMOKESEAL_BROWSER", browser_executable)
    path = write_config(
        f"apps:\n  app:\n    url: {echo_server}\n"
        f"    headers: {{X-Api-Key: '${{KEY}}', X-Team: {TEAM}}}\n"
        "    cookies: {session: '${SESSION}'}\n"
        f"    basic_auth: {{username: {USER}, password: '${{PASSWORD}}'}}\n"
        "    suite:\n      - {name: echo, page: /echo, retries: 0, timeout: 10}\n")
    [result] = run_app(load_config(path), "app").results
    assert not result.ok and "bad key" in result.detail
    assert result.evidence
    kept = entries(Path(result.evidence) / "trace.zip")
    assert {"trace.trace", "trace.network"} <= set(kept)
    # The app did get the credentials (its page echoed them), and the trace still shows it.
    assert f"{echo_server}/echo" in network_urls(kept)
    assert any(b"you sent" in data and b"x-api-key=***" in data and b"x-team=***" in data
               for data in kept.values())
    secrets = [KEY, TEAM, SESSION, PASSWORD, BASIC, f"{USER}:{PASSWORD}"]
    forms = {s.encode() for s in secrets} | {base64.b64encode(s.encode()) for s in secrets}
    leaks = [(name, form) for name, data in kept.items() for form in forms if form in data]
    assert leaks == []


def test_scrub_trace_parses_json_lines_and_leaves_binary_entries_as_they_are(
        tmp_path: Path) -> None:
    secret = 'pa"ss\\w\u00f6rd-0042'
    raw, out = tmp_path / "raw.zip", tmp_path / "trace.zip"
    line = {"type": "resource-snapshot", "snapshot": {"request": {
        "url": "https://app.example.com/", "headers": [
            {"name": "X-Api-Key", "value": "not-a-var-but-configured"},
            {"name": "Cookie", "value": "anything=at-all"},
            {"name": "Accept", "value": "text/html"}],
        "cookies": [{"name": "session", "value": "cookie-value-here"}],
        "postData": {"text": f"echo {secret}"}}}}
    png = b"\x89PNG\r\n\x1a\n" + secret.encode() + b"\xff\x00"
    with zipfile.ZipFile(raw, "w") as trace:
        trace.writestr("trace.network", json.dumps(line) + "\n")
        trace.writestr("trace.trace", f"not json {secret}\n" + json.dumps(
            {"type": "before", "params": {"value": secret}}) + "\n")
        trace.writestr("resources/abc.html", f"<p>{secret}</p>".encode())
        trace.writestr("resources/abc.png", png)
    scrub_trace(raw, out, [secret], ["x-api-key"])
    kept = entries(out)
    assert set(kept) == {"trace.network", "trace.trace", "resources/abc.html",
                         "resources/abc.png"}
    [network] = events(kept["trace.network"])
    request = network["snapshot"]["request"]  # type: ignore[index]
    assert [h["value"] for h in request["headers"]] == ["***", "***", "text/html"]
    assert request["cookies"] == [{"name": "session", "value": "***"}]
    assert request["postData"] == {"text": "echo ***"}
    assert json.dumps(secret)[1:-1].encode() not in kept["trace.network"]
    assert kept["trace.trace"].decode().splitlines()[0] == "not json ***"
    assert events(kept["trace.trace"].split(b"\n", 1)[1]) == [
        {"type": "before", "params": {"value": "***"}}]
    assert kept["resources/abc.html"] == b"<p>***</p>"
    assert kept["resources/abc.png"] == png  # binary: as it was (the docs say so)
    assert not (tmp_path / "trace.zip.part").exists()


@pytest.mark.unit
def test_a_text_entry_that_is_not_utf8_is_dropped_rather_than_kept_unscrubbed(
        tmp_path: Path) -> None:
    secret = "sekret-value-0042-\u00e9t\u00e9"
    raw, out = tmp_path / "raw.zip", tmp_path / "trace.zip"
    png = b"\x89PNG\r\n\x1a\n" + secret.encode("latin-1") + b"\xff\x00"
    with zipfile.ZipFile(raw, "w") as trace:
        trace.writestr("trace.trace", json.dumps({"type": "before"}) + "\n")
        trace.writestr("resources/latin.html", f"<p>{secret}</p>".encode("latin-1"))
        trace.writestr("resources/wide.css", f"/* {secret} */".encode("utf-16"))
        trace.writestr("resources/body.dat", b"\xff\xfe\x00" + secret.encode("latin-1"))
        trace.writestr("resources/shot.png", png)
        trace.writestr("resources/font.woff2", b"wOF2\xff\x00")
    dropped = scrub_trace(raw, out, [secret])
    kept = entries(out)
    assert set(kept) == {"trace.trace", "resources/shot.png", "resources/font.woff2"}
    assert sorted(dropped) == ["resources/body.dat", "resources/latin.html",
                               "resources/wide.css"]
    assert kept["resources/shot.png"] == png  # images stay as they are


class _Tracing:
    def __init__(self, data: dict[str, bytes]) -> None:
        self.data = data

    async def stop(self, path: str | None = None) -> None:
        if path is not None:
            with zipfile.ZipFile(path, "w") as trace:
                for name, data in self.data.items():
                    trace.writestr(name, data)


class _Context:
    def __init__(self, data: dict[str, bytes]) -> None:
        self.tracing = _Tracing(data)


@pytest.mark.unit
def test_deeply_nested_json_costs_the_trace_and_says_so_never_an_exception(
        tmp_path: Path) -> None:
    from smokeseal.checks.trace import stop_trace

    folder = tmp_path / "tasks-render"
    folder.mkdir()
    (folder / "console.txt").write_text("url: https://app.example.com/\n")
    nested = "[" * 100_000 + "]" * 100_000
    context = _Context({"trace.trace": (nested + "\n").encode(),
                        "resources/a.html": b"<p>sekret-value-0042</p>"})
    stopped = asyncio.run(stop_trace(context, folder / "trace.zip",  # type: ignore[arg-type]
                                     ["sekret-value-0042"]))
    assert stopped is True
    assert not (folder / "trace.zip").exists()
    assert [p.name for p in folder.iterdir()] == ["console.txt"]
    assert "trace not kept" in (folder / "console.txt").read_text()
