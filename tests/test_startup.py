"""The console scripts' start-up guess: start the browser early only when pages will run."""

from __future__ import annotations

from pathlib import Path

import pytest

from smokeseal._startup import _command, _pages_likely, _seal_as_smoke

pytestmark = pytest.mark.unit

CONFIG = """\
apps:
  pages: {url: "https://a.test", suite: qa}
  http: {url: "https://b.test", suite: api}
  inline: {url: "https://c.test", suite: [{name: up, get: /up}]}
  default: {url: "https://d.test"}
suites:
  qa:
    - {name: home, page: /}
    - {name: up, get: /up}
  api:
    - {name: up, get: /up}
"""


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "smokeseal.yml"
    path.write_text(CONFIG)
    return str(path)


@pytest.mark.parametrize(("args", "expected"), [
    (["pages"], True),
    (["http"], False),
    (["inline"], False),
    (["default"], True),  # the built-in health suite opens /
    (["pages", "--no-browser"], False),
    (["pages", "--help"], False),
    (["--url", "https://x.test", "http"], False),
    (["--all"], True),
    (["nosuchapp"], False),
])
def test_the_guess_follows_the_apps_suite(config: str, args: list[str],
                                          expected: bool) -> None:
    assert _pages_likely(["--config", config, *args]) is expected
    assert _pages_likely([f"--config={config}", *args]) is expected


def test_an_http_only_fleet_starts_no_browser(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yml"
    path.write_text("apps:\n  a: {url: 'https://a.test', suite: [{name: up, get: /up}]}\n")
    assert _pages_likely(["--config", str(path), "--all"]) is False


def test_a_config_it_cannot_read_starts_nothing_and_one_it_cannot_parse_guesses_yes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _pages_likely(["--config", str(tmp_path / "missing.yml"), "a"]) is False
    broken = tmp_path / "broken.yml"
    broken.write_text("apps:\n  a: {url: x, token: ${TOKEN}}\n")  # valid to smokeseal only
    assert _pages_likely(["--config", str(broken), "a"]) is True
    monkeypatch.setenv("SMOKESEAL_CONFIG", str(tmp_path / "missing.yml"))
    assert _pages_likely(["a"]) is False


def test_the_command_is_found_behind_global_options() -> None:
    assert _command(["--config", "x.yml", "smoke", "app", "--json"]) == \
        ("smoke", ["--config", "x.yml", "app", "--json"])
    assert _command(["smoke", "--all"]) == ("smoke", ["--all"])
    assert _command(["--config", "smoke", "seal", "1"]) == ("seal", ["--config", "smoke", "1"])
    assert _command(["--debug"]) is None


def test_a_seal_guesses_from_its_app_or_from_every_app(config: str) -> None:
    assert _seal_as_smoke(["--config", config, "http@v1.2"]) == ["--config", config, "http"]
    assert _pages_likely(_seal_as_smoke(["--config", config, "http@v1.2"])) is False
    assert _pages_likely(_seal_as_smoke(["--config", config, "pages@v1.2"])) is True
    assert _seal_as_smoke(["--config", config, "42", "--json"]) == \
        ["--config", config, "--json", "--all"]
    assert _pages_likely(_seal_as_smoke(["--config", config, "42", "--no-browser"])) is False
    # seal APP --current names its app.
    assert _seal_as_smoke(["--config", config, "http", "--current"]) == \
        ["--config", config, "--current", "http"]
    assert _pages_likely(_seal_as_smoke(["--config", config, "http", "--current"])) is False
