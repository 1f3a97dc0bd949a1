from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from smokeseal.config import Check, Config, parse_config
from smokeseal.init import (
    HEALTH_PATHS,
    INTERNAL_ROUTES,
    STREAMLIT_SELECTOR,
    Survey,
    app_name_for,
    config_text,
    sanitize,
    survey,
)
from tests import framework_standins as standins
from tests.conftest import Served
from tests.test_cli import cli

Serve = Callable[..., Served]
GENERIC_404S = [("get", "/devops", 404), ("get", "/.env", [403, 404]),
                ("get", "/.git/config", [403, 404])]


def parse_written(text: str) -> Config:
    """The written config, parsed whole; its ``reads:`` are the ones the text names."""
    config = parse_config(text, environ={})
    for app in config.apps.values():
        assert list(app.reads) == (reads_line(text) or [])
    return config


def reads_line(text: str) -> list[str] | None:
    lines = [line for line in text.splitlines() if line.startswith("    reads: ")]
    assert len(lines) <= 1
    return yaml.safe_load(lines[0].split(":", 1)[1]) if lines else None


def summary(checks: tuple[Check, ...]) -> list[tuple[str, str, int | list[int] | None]]:
    return [(c.kind, c.target, c.expect.status) for c in checks]


def written(url: str) -> tuple[Survey, str, Config]:
    found = survey(url)
    text = config_text(url, "app", found)
    return found, text, parse_written(text)


def home(config: Config) -> Check:
    first = config.suite_for("app")[0]
    assert (first.kind, first.target, first.expect.status) == ("page", "/", 200)
    return first


# --- without looking ---------------------------------------------------------------------

@pytest.mark.unit
@pytest.mark.parametrize(("url", "name"), [
    ("https://shop.example.com", "shop"), ("https://www.example.com", "example"),
    ("https://app.studio.io", "studio"), ("http://127.0.0.1:8000", "app"),
    ("http://localhost:3000", "app"), (None, "app"), ("https://my_site.dev", "my_site"),
])
def test_the_app_is_named_after_its_host(url: str | None, name: str) -> None:
    assert app_name_for(url) == name


@pytest.mark.unit
@pytest.mark.parametrize("url", ["https://shop.example.com", None])
def test_without_a_survey_the_written_config_is_the_health_suite(url: str | None) -> None:
    config = parse_config(config_text(url, "shop"), environ={})
    assert config.apps["shop"].url == (url or "https://app.example.com")
    checks = config.suite_for("shop")
    assert summary(checks) == [("page", "/", 200), ("get", "/up", 200), *GENERIC_404S]
    assert config.apps["shop"].gate.path == "/up"
    notify = config.apps["shop"].notify  # the example sinks stay comments
    assert notify is None or (notify.discord, notify.github_release) == (None, None)


@pytest.mark.unit
@pytest.mark.parametrize(("raw", "clean"), [
    ("  Sales\n\toverview  ", "Sales overview"),
    ("Tom &amp; Jerry&#39;s", "Tom & Jerry's"),
    ("bell\x07 zero\u200bwidth\u2028line", "bell zero width line"),
    ("word " * 30, ("word " * 12).strip()),
])
def test_production_text_is_trimmed_and_stripped_of_control_characters(raw: str,
                                                                        clean: str) -> None:
    assert sanitize(raw) == clean


# --- frameworks, from what the real ones serve --------------------------------------------

@pytest.mark.component
def test_streamlit_gets_its_health_path_its_websocket_and_no_404_checks(serve: Serve) -> None:
    app = serve(standins.streamlit())
    found, text, config = written(app.url)
    assert reads_line(text) == ["WEBSOCKET /_stcore/stream"]
    assert config.apps["app"].gate.path == "/_stcore/health"
    assert summary(config.suite_for("app")) == [("page", "/", 200),
                                                ("get", "/_stcore/health", 200)]
    assert home(config).expect.selector == STREAMLIT_SELECTOR
    assert "# No 404 checks: /smokeseal-probe-" in text
    assert found.frameworks == ["Streamlit"]


@pytest.mark.component
def test_dash_gets_its_callback_reads_and_the_heading_its_layout_draws(serve: Serve) -> None:
    app = serve(standins.dash())
    found, text, config = written(app.url)
    assert reads_line(text) == ["POST /_dash-update-component"]
    # Dash answers /up and /health with its index page: no health path, the gate is on /.
    assert config.apps["app"].gate.path == "/"
    assert "#   - {name: up, get: /up" not in text and "# - {name: up, get: /up" in text
    assert summary(config.suite_for("app")) == [("page", "/", 200)]
    assert home(config).expect.text == "Ops metrics"
    assert found.catch_all is not None


@pytest.mark.component
@pytest.mark.parametrize(("title", "key", "value"), [("Greeter", "title", "Greeter"),
                                                     ("Gradio", "text", "Greeter")])
def test_gradio_gets_its_queue_reads_and_what_its_page_shows(serve: Serve, title: str,
                                                             key: str, value: str) -> None:
    app = serve(standins.gradio(title))
    found, text, config = written(app.url)
    assert reads_line(text) == ["POST /gradio_api/queue/join"]
    assert config.apps["app"].gate.path == "/"
    # Gradio answers unknown paths 404: the internal routes are checked.
    assert summary(config.suite_for("app")) == [("page", "/", 200), *GENERIC_404S]
    assert getattr(home(config).expect, key) == value
    assert found.frameworks == ["Gradio"]


@pytest.mark.component
def test_a_graphql_api_is_found_on_its_path_beside_a_server_rendered_home(
        serve: Serve) -> None:
    app = serve(standins.graphql())
    found, text, config = written(app.url)
    assert found.frameworks == ["GraphQL"]
    assert reads_line(text) == ["GRAPHQL /graphql"]
    assert config.apps["app"].gate.path == "/healthz"
    assert summary(config.suite_for("app")) == [("page", "/", 200), ("get", "/healthz", 200),
                                                *GENERIC_404S]
    assert home(config).expect.text == "Books & more"
    assert app.recorder.paths().count("/graphql?query=%7B__typename%7D") == 1


# --- apps of every other kind ------------------------------------------------------------

@pytest.mark.component
def test_an_spa_that_answers_every_path_gets_no_404_checks_and_its_json_health(
        serve: Serve) -> None:
    app = serve(standins.spa())
    found, text, config = written(app.url)
    assert reads_line(text) is None
    # /up, /health, /healthz answer the shell (HTML, like every path): not health paths.
    assert config.apps["app"].gate.path == "/api/health"
    assert summary(config.suite_for("app")) == [("page", "/", 200),
                                                ("get", "/api/health", 200)]
    assert home(config).expect.title == "Acme Console"
    assert "its HTML is a shell that scripts fill" in text
    assert any("no 404 checks were written" in n.text for n in found.notes)


@pytest.mark.component
def test_the_first_health_path_that_answers_is_the_gate(serve: Serve) -> None:
    app = serve(standins.healthz_only(b"<title>Shop</title><h1>Welcome</h1>"))
    found, _, config = written(app.url)
    assert found.health == "/healthz" and config.apps["app"].gate.path == "/healthz"
    assert summary(config.suite_for("app")) == [("page", "/", 200), ("get", "/healthz", 200),
                                                *GENERIC_404S]
    assert home(config).expect.text == "Welcome"
    assert [p.path for p in found.probes] == ["/", "/healthz", "/devops", "/.env",
                                              "/.git/config"]
    assert all(p.ok for p in found.probes)


@pytest.mark.component
@pytest.mark.parametrize("framework", list(standins.HEALTH_ANSWERS))
def test_a_frameworks_own_health_path_is_found_and_gated_on(serve: Serve,
                                                            framework: str) -> None:
    path, body, media_type = standins.HEALTH_ANSWERS[framework]
    app = serve(standins.health_at(path, body, media_type))
    found, text, config = written(app.url)
    assert found.health == path and config.apps["app"].gate.path == path
    assert summary(config.suite_for("app")) == [("page", "/", 200), ("get", path, 200),
                                                *GENERIC_404S]
    assert f"# ({path} answered 200 when init looked)." in text
    assert app.recorder.paths().count(path) == 1


@pytest.mark.component
@pytest.mark.parametrize(("h1", "expected"), [
    (b'Say "hi" ${HOME} $$ \\n: {a: b} # no\x01te', 'Say "hi" ${HOME} $$ \\n: {a: b} # no te'),
    (b"<b>Caf\xc3\xa9</b>\n  &lt;script&gt; &#x1F600;", "Caf\u00e9 <script> \U0001f600"),
    (b"W" * 200, "W" * 60),
])
def test_what_production_says_is_quoted_and_read_back_as_it_was(serve: Serve, h1: bytes,
                                                                 expected: str) -> None:
    app = serve(standins.healthz_only(b"<title>x</title><h1>" + h1 + b"</h1>"))
    _, text, config = written(app.url)
    assert home(config).expect.text == expected  # no ${VAR} substituted, nothing broken out
    assert "\x01" not in text


@pytest.mark.component
def test_a_server_that_denies_dotfiles_with_403_passes_them(serve: Serve) -> None:
    app = serve(standins.forbidden_dotfiles())
    found, _, config = written(app.url)
    assert config.apps["app"].gate.path == "/up"
    assert summary(config.suite_for("app"))[2:] == GENERIC_404S
    assert [(p.path, p.got, p.ok) for p in found.probes[2:]] == [
        ("/devops", 404, True), ("/.env", 403, True), ("/.git/config", 403, True)]
    assert home(config).expect.text == "Your ledger"


@pytest.mark.component
def test_a_directory_listing_is_not_taken_for_the_app(serve: Serve) -> None:
    app = serve(standins.directory_listing())
    found, text, config = written(app.url)
    expect = home(config).expect
    assert (expect.text, expect.title) == (None, None)
    assert "# TODO: expect a text the home page shows" in text
    assert any("not the app" in n.text and n.ok is False for n in found.notes)


@pytest.mark.component
def test_a_sign_in_on_another_host_is_named_never_visited_and_never_canonical(
        serve: Serve) -> None:
    sign_in = serve(standins.healthz_only(b"<title>Sign in</title>"))
    app = serve(standins.sso(sign_in.url))
    found, text, config = written(app.url)
    assert sign_in.recorder.seen == []
    assert config.apps["app"].url == app.url and sign_in.url not in text.split("url:")[1][:60]
    assert found.sign_in == f"{sign_in.url}/login"  # the query (a return_to) left out
    note = (f"/ redirects to the sign-in page {sign_in.url}/login: the suite needs a session "
            "of its own, or every check that wants a page is red")
    assert note in [n.text for n in found.notes]
    assert (found.url, found.aliases) == (app.url, [])  # a path of its own: no canonical host
    host = sign_in.url.split("//")[1].split(":")[0]
    assert f"#   expect: {{redirect_to: {host}}}" in text
    # The home check stays what the app must pass once the suite has a session.
    expect = home(config).expect
    assert (expect.redirect_to, expect.text, expect.title) == (None, None, None)
    assert config.apps["app"].gate.path == "/up"


@pytest.mark.component
def test_a_host_that_is_down_gets_the_generic_suite_and_a_note(closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    found, text, config = written(url)
    assert found.down == "connection refused"
    assert f"# {url} could not be reached when this was written (connection refused)" in text
    assert summary(config.suite_for("app")) == [("page", "/", 200), ("get", "/up", 200),
                                                *GENERIC_404S]
    assert config.apps["app"].gate.path == "/up"


@pytest.mark.component
def test_every_path_is_asked_once_with_a_get(serve: Serve) -> None:
    app = serve(standins.spa())
    survey(app.url)
    seen = app.recorder.seen
    assert {method for method, _ in seen} == {"GET"}
    assert max(Counter(path for _, path in seen).values()) == 1
    assert {*HEALTH_PATHS, "/", *(p for _, p in INTERNAL_ROUTES)} <= {p for _, p in seen}
    assert sum(bool(re.fullmatch(r"/smokeseal-probe-[0-9a-f]{12}", p)) for _, p in seen) == 1


# --- the command line --------------------------------------------------------------------

@pytest.mark.e2e
def test_init_writes_a_config_that_fits_a_dash_app(serve: Serve, tmp_path: Path) -> None:
    app = serve(standins.dash())
    done = cli("smokeseal", "init", app.url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "smokeseal.yml").read_text(encoding="utf-8")
    assert reads_line(text) == ["POST /_dash-update-component"]
    assert home(parse_written(text)).expect.text == "Ops metrics"
    err = done.stderr
    assert "recognised Dash: reads POST /_dash-update-component" in err
    assert "the app answers every path, so no 404 checks were written" in err
    assert 'home: text "Ops metrics"' in err
    assert "no health path answered 200" in err and "Traceback" not in err
    again = cli("smokeseal", "init", app.url, cwd=tmp_path)
    assert again.returncode == 2 and "already exists; pass --force" in again.stderr
    assert cli("smokeseal", "init", app.url, "--force", cwd=tmp_path).returncode == 0


@pytest.mark.e2e
def test_without_a_url_init_writes_the_placeholder_and_probes_nothing(tmp_path: Path) -> None:
    done = cli("smokeseal", "init", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "edit its url:" in done.stderr
    config = parse_config((tmp_path / "smokeseal.yml").read_text(encoding="utf-8"),
                          environ={})
    assert config.apps["app"].url == "https://app.example.com"


@pytest.mark.e2e
def test_bad_input_writes_nothing(tmp_path: Path) -> None:
    bad_url = cli("smokeseal", "init", "ftp://x", cwd=tmp_path)
    assert bad_url.returncode == 2
    assert bad_url.stderr.strip() == "error: URL: 'ftp://x' is not an absolute http(s) URL"
    bad_name = cli("smokeseal", "init", "--app", "no spaces", cwd=tmp_path)
    assert bad_name.returncode == 2 and "app names may use" in bad_name.stderr
    assert list(tmp_path.iterdir()) == []
