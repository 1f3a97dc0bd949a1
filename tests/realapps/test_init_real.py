"""``smokeseal init`` pointed at each real app writes a config that fits it: the framework
named, its reads written, a text the page draws from its data expected, and the app sealed
green by that config as written, and its broken twin red; for the apps whose data arrives
over a WebSocket, Engine.IO or a GraphQL POST, green run after run."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from smokeseal.config import load_config
from tests.realapps.conftest import Fleet
from tests.realapps.test_realapps import READ
from tests.realapps.test_realapps_cli import smokeseal

pytestmark = pytest.mark.e2e

#: What init must recognise each app as, and the read it must write for it.
FOUND = {"streamlit": ("Streamlit", "WEBSOCKET /_stcore/stream"),
         "dash": ("Dash", "POST /_dash-update-component"),
         "graphql": ("GraphQL", "GRAPHQL /graphql"),
         "gradio": ("Gradio", "POST /gradio_api/queue/join")}
#: The apps whose served HTML is a frame (a title, a heading, "Loading…") and whose data comes
#: over a channel the guard refuses unless declared: a config that checks the frame is green
#: on the broken twin too.
CHANNEL_KINDS = ("shiny", "nicegui", "panel", "ariadne")
RUNS = 3
#: What init's home check expects of each: drawn from the app's data. Dash's H1 comes with its
#: layout over GET and Gradio's heading with its served config: both frame, never chosen.
DRAWN = {"streamlit": "Warehouse inventory", "dash": "Open orders: 17",
         "graphql": "widget: 1234 in stock", "gradio": "Tomorrow: sunny, 21 °C"}


@pytest.mark.parametrize("kind", list(FOUND))
def test_init_writes_a_config_that_seals_the_real_app_green(
        kind: str, realapps: Fleet, tmp_path: Path, browser_executable: str) -> None:
    app = realapps.app(kind)
    config = tmp_path / "smokeseal.yml"
    written = smokeseal("smokeseal", "init", app.url, "--app", kind, config=config,
                        browser=browser_executable)
    assert written.returncode == 0, written.stderr
    framework, read = FOUND[kind]
    assert framework in written.stderr, written.stderr
    loaded = load_config(config, environ={})
    assert [str(r) for r in loaded.app(kind).reads] == [read]
    # What the home check expects was drawn from the app's data, never served as its frame.
    assert "could not verify" not in written.stderr, written.stderr
    expected = loaded.suite_for(kind)[0].expect
    assert expected.text == DRAWN[kind]
    assert expected.text.casefold() not in httpx.get(app.url).text.casefold()
    done = smokeseal("prod-smoke", kind, "--json", config=config, browser=browser_executable)
    seal = json.loads(done.stdout)
    assert (done.returncode, seal["status"]) == (0, "green"), config.read_text() + done.stdout


@pytest.mark.parametrize("kind", list(FOUND))
def test_the_config_init_wrote_seals_the_broken_twin_red(
        kind: str, realapps: Fleet, tmp_path: Path, browser_executable: str) -> None:
    config = tmp_path / "smokeseal.yml"
    written = smokeseal("smokeseal", "init", realapps.app(kind).url, "--app", kind,
                        config=config, browser=browser_executable)
    assert written.returncode == 0, written.stderr
    done = smokeseal("prod-smoke", kind, "--url", realapps.app(kind, "broken").url, "--json",
                     config=config, browser=browser_executable)
    seal = json.loads(done.stdout)
    assert (done.returncode, seal["status"]) == (1, "red"), config.read_text() + done.stdout
    # The page names what broke; the health path still answers.
    assert [c["name"] for c in seal["checks"] if c["outcome"] == "failed"] == ["home renders"]


@pytest.mark.parametrize("kind", CHANNEL_KINDS)
def test_init_seals_a_data_channel_app_green_run_after_run_and_its_broken_twin_red(
        kind: str, realapps: Fleet, tmp_path: Path, browser_executable: str) -> None:
    config = tmp_path / "smokeseal.yml"
    written = smokeseal("smokeseal", "init", realapps.app(kind).url, "--app", kind,
                        config=config, browser=browser_executable)
    assert written.returncode == 0, written.stderr
    for attempt in range(RUNS):
        done = smokeseal("prod-smoke", kind, "--json", config=config,
                         browser=browser_executable)
        seal = json.loads(done.stdout)
        assert (done.returncode, seal["status"]) == (0, "green"), \
            f"run {attempt + 1}:\n{config.read_text()}{done.stdout}"
        # Green because the data channel was declared and used, not because the frame drew.
        [page] = [c for c in seal["checks"] if c["kind"] == "page"]
        assert any(r.startswith(READ[kind]) for r in page.get("reads", [])), page
    done = smokeseal("prod-smoke", kind, "--url", realapps.app(kind, "broken").url, "--json",
                     config=config, browser=browser_executable)
    seal = json.loads(done.stdout)
    assert (done.returncode, seal["status"]) == (1, "red"), config.read_text() + done.stdout
    # Only the page can tell: the frame and every GET still answer on the broken twin.
    failed = [c for c in seal["checks"] if c["outcome"] == "failed"]
    assert failed and {c["kind"] for c in failed} == {"page"}, seal["checks"]
    for check in failed:
        assert check["name"] in seal["summary"], seal["summary"]
