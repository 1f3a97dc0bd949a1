"""``smokeseal init`` looks at the home page in the guarded browser: the reads its data needs,
and a text it draws only once that data loaded, so the config it writes is red when the data
does not load (see tests/init_standins.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from smokeseal.init_browser import Block, Sight, choose
from smokeseal.servers import BackgroundServer
from tests import init_standins as standins
from tests.conftest import READ_ONLY, Recorder
from tests.test_cli import cli
from tests.test_init import home, parse_written, reads_line


@dataclass
class Running:
    url: str
    app: standins.DataApp
    recorder: Recorder


STANDINS = {"websocket": standins.websocket_app, "graphql": standins.graphql_app,
            "engineio": standins.engineio_app, "canvas": standins.canvas_app,
            "spin": standins.spin_app, "headline": standins.headline_app}


@pytest.fixture
def data_app(request: pytest.FixtureRequest) -> Iterator[Callable[[str], Running]]:
    """Serve a stand-in of :mod:`tests.init_standins`. Afterwards it must have received
    nothing but GET, HEAD and its one read (see ``READS``), and no GraphQL mutation."""
    started: list[tuple[BackgroundServer, Running, str]] = []

    def start(kind: str) -> Running:
        app, asgi = STANDINS[kind]()
        recorder = Recorder()
        server = BackgroundServer(recorder.wrap(asgi)).start()
        running = Running(server.url, app, recorder)
        started.append((server, running, kind))
        return running

    yield start
    for server, running, kind in started:
        server.stop()
        read = standins.READS.get(kind, "").replace("GRAPHQL", "POST").split()
        writes = [(method, path) for method, path in running.recorder.seen
                  if method not in READ_ONLY and [method, path] != read]
        assert not writes, f"the {kind} stand-in (production) received writes: {writes}"
        sneaked = [body for body in running.app.graphql_bodies if b"mutation" in body]
        assert not sneaked, f"GraphQL writes reached production: {sneaked}"


def init(url: str, folder: Path, browser: str, *args: str) -> tuple[str, str]:
    """``smokeseal init URL`` in ``folder``: the config it wrote, and what it said."""
    done = cli("smokeseal", "init", url, "--app", "app", *args, cwd=folder,
               env={"SMOKESEAL_BROWSER": browser})
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return (folder / "smokeseal.yml").read_text(encoding="utf-8"), done.stderr


def seal(folder: Path, browser: str) -> dict[str, object]:
    done = cli("prod-smoke", "app", "--json", cwd=folder, env={"SMOKESEAL_BROWSER": browser})
    assert "Traceback" not in done.stderr, done.stderr
    record: dict[str, object] = json.loads(done.stdout)
    assert done.returncode == (0 if record["status"] == "green" else 1)
    return record


def failed(record: dict[str, object]) -> list[str]:
    checks = record["checks"]
    assert isinstance(checks, list)
    return [check["name"] for check in checks if check["outcome"] == "failed"]


# --- the data arrives over a channel the guard refuses until it is declared ------------------

@pytest.mark.e2e
@pytest.mark.parametrize("kind", ["websocket", "graphql", "engineio"])
def test_the_config_init_writes_is_green_on_the_healthy_app_and_red_when_its_data_breaks(
        kind: str, data_app: Callable[[str], Running], tmp_path: Path,
        browser_executable: str) -> None:
    running = data_app(kind)
    text, said = init(running.url, tmp_path, browser_executable)
    # Exactly the read the page needs: the mutation beside the GraphQL query is no read.
    assert reads_line(text) == [standins.READS[kind]]
    expect = home(parse_written(text)).expect
    # The heading the page drew from its data, never the frame the HTML serves.
    assert expect.text == standins.DRAWN[kind]
    assert expect.text.casefold() not in running.app.page.casefold()
    assert f'home: text "{standins.DRAWN[kind]}"' in said
    assert "could not verify" not in text + said
    assert "not in its served HTML, and not drawn while its reads were refused: a page " \
        "whose data does not load does not show it" in " ".join(
            line.strip(" #") for line in text.splitlines())
    assert (green := seal(tmp_path, browser_executable))["status"] == "green", green
    running.app.broken = True
    red = seal(tmp_path, browser_executable)
    assert red["status"] == "red" and failed(red) == ["home renders"], red


@pytest.mark.e2e
def test_init_names_on_the_terminal_the_read_the_page_needed(
        data_app: Callable[[str], Running], tmp_path: Path, browser_executable: str) -> None:
    running = data_app("engineio")
    text, said = init(running.url, tmp_path, browser_executable)
    assert "✓ / needed POST /socket.io/ on load" in said
    assert "#   POST /socket.io/: / reads its data through Engine.IO long-polling" in text


@pytest.mark.e2e
def test_a_headline_that_changes_on_every_load_is_never_the_text_init_writes(
        data_app: Callable[[str], Running], tmp_path: Path, browser_executable: str) -> None:
    """The page is visited again before a line is chosen: a line shown on one load only
    (a rotating headline, drawn as the page's first heading) would make the check flap."""
    running = data_app("headline")
    text, _ = init(running.url, tmp_path, browser_executable)
    assert home(parse_written(text)).expect.text == "Harbour news"
    for _ in range(3):
        assert (green := seal(tmp_path, browser_executable))["status"] == "green", green
    running.app.broken = True
    red = seal(tmp_path, browser_executable)
    assert red["status"] == "red" and failed(red) == ["home renders"], red


# --- what init cannot verify, it says --------------------------------------------------------

@pytest.mark.e2e
def test_a_page_that_draws_its_data_as_no_text_is_written_unverified(
        data_app: Callable[[str], Running], tmp_path: Path, browser_executable: str) -> None:
    running = data_app("canvas")
    text, said = init(running.url, tmp_path, browser_executable)
    assert home(parse_written(text)).expect.text == "Tides"  # the served <h1>, as before
    assert reads_line(text) is None
    why = "could not verify that the page's data loads"
    assert why in said and why in " ".join(line.strip(" #") for line in text.splitlines())
    assert "cannot tell a broken data channel from a healthy one" in said


@pytest.mark.e2e
def test_a_page_whose_script_never_yields_does_not_hang_init(
        data_app: Callable[[str], Running], tmp_path: Path, browser_executable: str) -> None:
    running = data_app("spin")
    text, said = init(running.url, tmp_path, browser_executable)
    assert home(parse_written(text)).expect.text == "Spin"
    assert "could not verify that the page's data loads: / stopped answering" in said


@pytest.mark.e2e
@pytest.mark.parametrize(("args", "browser", "said"), [
    (("--no-browser",), None, "! --no-browser: looked over HTTP only"),
    ((), "/nonexistent/chromium", "! no browser (SMOKESEAL_BROWSER=/nonexistent/chromium: "
                                  "not an executable file): looked over HTTP only"),
])
def test_without_a_browser_init_looks_over_http_and_says_so_in_one_line(
        args: tuple[str, ...], browser: str | None, said: str,
        data_app: Callable[[str], Running], tmp_path: Path, browser_executable: str) -> None:
    running = data_app("websocket")
    text, told = init(running.url, tmp_path, browser or browser_executable, *args)
    assert told.count("looked over HTTP only") == 1 and said in told
    assert reads_line(text) is None
    assert home(parse_written(text)).expect.text == "Depot"  # the frame: it cannot know
    assert "could not verify that the page's data loads" in text.replace("\n      # ", " ")
    assert [m for m, _ in running.recorder.seen] == ["GET"] * len(running.recorder.seen)
    assert "/" in [p for _, p in running.recorder.seen]


# --- choosing the text -----------------------------------------------------------------------

def sight(text: str, *blocks: Block, needed: dict[str, str] | None = None) -> Sight:
    return Sight(declared=(), needed=needed or {}, text=text, blocks=list(blocks))


SERVED = "<title>Shop</title><h1>Shop</h1><main>Loading…</main><script>x = 'Static'</script>"


@pytest.mark.unit
def test_the_text_is_a_heading_drawn_with_the_data_and_never_the_frame() -> None:
    frame = sight("Shop Connecting… Static", Block("Static", "Static", 2))
    blocks = [Block("Shop", "Shop", 1), Block("Static", "Static", 2),
              Block("Open orders: 17", "Open orders: 17", 0), Block("Something went wrong",
                                                                    "Something went wrong", 3),
              Block("Loading more…", "Loading more…", 0), Block("Orders", "ORDERS", 2),
              Block("Shipped today", "Shipped today", 0)]
    final = sight("Shop Static Open orders: 17 Something went wrong Loading more… ORDERS "
                  "Shipped today", *blocks)
    assert choose(final, frame, SERVED) == Block("Orders", "ORDERS", 2)


@pytest.mark.unit
def test_a_line_without_digits_is_preferred_and_one_as_shown_beats_a_restyled_one() -> None:
    final = sight("Total 17 ORDERS Widgets in stock", Block("Total 17", "Total 17", 1),
                  Block("Orders", "ORDERS", 0), Block("Widgets in stock", "Widgets in stock", 0))
    assert choose(final, None, SERVED).text == "Widgets in stock"  # type: ignore[union-attr]


@pytest.mark.unit
def test_no_text_is_chosen_when_everything_drawn_was_served_or_drawn_without_data() -> None:
    frame = sight("Shop Ready", Block("Ready", "Ready", 0))
    final = sight("Shop Ready Error: Failed to fetch", Block("Shop", "Shop", 1),
                  Block("Ready", "Ready", 0), Block("Error: Failed to fetch",
                                                    "Error: Failed to fetch", 0))
    assert choose(final, frame, SERVED) is None


@pytest.mark.unit
def test_a_text_the_check_would_not_find_is_never_chosen() -> None:
    hidden = sight("Visible", Block("Visible Hidden part", "Visible", 2))
    assert choose(hidden, None, SERVED) is None


@pytest.mark.unit
def test_a_line_the_page_showed_without_its_data_then_swapped_away_is_still_frame() -> None:
    # Gradio draws its footer, then, its queue refused, swaps the page for "Loading...".
    frame = sight("Loading...")
    frame.ever = "Weather\nUse via API · Settings\nLoading..."
    final = sight("Weather Tomorrow: sunny, 21 °C Use via API · Settings",
                  Block("Tomorrow: sunny, 21 °C", "Tomorrow: sunny, 21 °C", 0),
                  Block("Use via API", "Use via API", 0))
    assert choose(final, frame, SERVED) == final.blocks[0]


@pytest.mark.unit
def test_a_line_the_visit_made_again_did_not_show_is_never_chosen() -> None:
    final = sight("Storm over the harbour Harbour news",
                  Block("Storm over the harbour", "Storm over the harbour", 1),
                  Block("Harbour news", "Harbour news", 2))
    again = sight("Ferries back on time Harbour news")
    assert choose(final, None, SERVED) == final.blocks[0]
    assert choose(final, None, SERVED, again) == final.blocks[1]
    assert choose(final, None, SERVED, sight("Loading…")) is None


@pytest.mark.unit
def test_a_recognised_read_the_page_did_not_use_is_left_as_a_comment() -> None:
    from smokeseal.config import parse_config
    from smokeseal.init import Content, Survey, config_text

    found = Survey("https://a.example.com", reads=["WEBSOCKET /ws"],
                   unused_reads=["POST /_dash-update-component"],
                   content=Content("text", "Orders", "drawn", verified=True))
    text = config_text(found.url, "a", found)
    assert parse_config(text, environ={}).apps["a"].reads == ["WEBSOCKET /ws"]
    assert "#   not declared: POST /_dash-update-component: recognised, but / did not use it" \
        in text
