"""Where a check may end: the app's hosts, or exactly where ``redirect_to`` says."""

from __future__ import annotations

import pytest

from smokeseal.checks.base import off_app

pytestmark = pytest.mark.unit

APP = ["https://app.example.com", "https://example.com"]


@pytest.mark.parametrize("url", ["https://app.example.com/x", "http://app.example.com/",
                                 "https://example.com:443/y", "https://APP.example.com/z"])
def test_the_app_and_its_aliases_are_on_the_app(url: str) -> None:
    assert off_app(url, APP) is None


@pytest.mark.parametrize("url", ["https://sso.example.com/login", "https://app.example.com:8443/",
                                 "https://app.example.com.evil.io/", "about:blank"])
def test_anywhere_else_is_leaving_the_app(url: str) -> None:
    assert off_app(url, APP) is not None


@pytest.mark.parametrize(("url", "ends_there"), [
    ("https://sso.example.com/login", True),
    ("https://sso.example.com/login?next=/x", True),
    ("https://sso.example.com/login/mfa", True),
    ("https://sso.example.com/loginx", False),
    ("http://sso.example.com/login", False),
    ("https://sso.example.com.evil.io/login", False),
    ("https://sso.example.com@evil.io/login", False),
    ("https://app.example.com/login", False),
])
def test_redirect_to_a_url_prefix_is_matched_by_host_then_path(url: str,
                                                               ends_there: bool) -> None:
    assert (off_app(url, APP, "https://sso.example.com/login") is None) is ends_there


def test_redirect_to_a_bare_host_matches_that_host_only() -> None:
    assert off_app("https://sso.example.com/anything", APP, "sso.example.com") is None
    assert off_app("https://sso.example.com.evil.io/", APP, "sso.example.com") is not None
