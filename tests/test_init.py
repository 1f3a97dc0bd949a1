from __future__ import annotations

from pathlib import Path

import pytest

from smokeseal.config import parse_config
from smokeseal.init import INTERNAL_ROUTES, app_name_for, config_text
from tests.test_cli import cli

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("url", "name"), [
    ("https://shop.example.com", "shop"), ("https://www.example.com", "example"),
    ("https://app.studio.io", "studio"), ("http://127.0.0.1:8000", "app"),
    ("http://localhost:3000", "app"), (None, "app"), ("https://my_site.dev", "my_site"),
])
def test_the_app_is_named_after_its_host(url: str | None, name: str) -> None:
    assert app_name_for(url) == name


@pytest.mark.parametrize("url", ["https://shop.example.com", None])
def test_the_written_config_is_valid_and_runs_the_health_suite(url: str | None) -> None:
    config = parse_config(config_text(url, "shop"), environ={})
    assert config.apps["shop"].url == (url or "https://app.example.com")
    checks = config.suite_for("shop")
    assert [(c.kind, c.page or c.get, c.expect.status) for c in checks] == [
        ("page", "/", 200), ("get", "/up", 200),
        *(("get", path, 404) for _, path in INTERNAL_ROUTES)]
    assert config.apps["shop"].gate.path == "/up"
    notify = config.apps["shop"].notify  # the example sinks stay comments
    assert notify is None or (notify.discord, notify.github_release) == (None, None)


@pytest.mark.e2e
def test_bad_input_writes_nothing(tmp_path: Path) -> None:
    bad_url = cli("smokeseal", "init", "ftp://x", cwd=tmp_path)
    assert bad_url.returncode == 2
    assert bad_url.stderr.strip() == "error: URL: 'ftp://x' is not an absolute http(s) URL"
    bad_name = cli("smokeseal", "init", "--app", "no spaces", cwd=tmp_path)
    assert bad_name.returncode == 2 and "app names may use" in bad_name.stderr
    assert list(tmp_path.iterdir()) == []
