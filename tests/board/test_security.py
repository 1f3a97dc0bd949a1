"""The access token, the session cookie, and the headers, over a real board."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin

import pytest

from smokeseal.board.security import COOKIE, session_value
from tests.board.conftest import Board

pytestmark = pytest.mark.component

TOKEN = "s3cret-board-token-\u00e9"  # non-ASCII on purpose: compared as bytes


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    """The token does not depend on the backend: SQLite only here."""
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def guarded(start_board: Callable[..., Board]) -> Board:
    return start_board(token=TOKEN)


GUARDED = ["/", "/deployments", "/releases/1", "/api/releases", "/api/releases/1",
           "/badge/studio.svg", "/static/board.css", "/evidence/1/0/screenshot.png", "/nowhere"]


@pytest.mark.parametrize("path", GUARDED)
def test_every_route_but_up_needs_the_token(guarded: Board, path: str) -> None:
    response = guarded.client.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "set-cookie" not in response.headers
    assert "studio" not in response.text and "v1.0.0" not in response.text
    assert guarded.client.get("/up").status_code == 200


def test_people_get_a_token_form_and_scripts_get_json(guarded: Board) -> None:
    page = guarded.client.get("/deployments?app=studio")
    assert page.headers["content-type"].startswith("text/html")
    assert '<form method="get" action="/deployments">' in page.text
    assert 'name="token" type="password"' in page.text
    # Its one inline style is allowed by hash, not by 'unsafe-inline'.
    csp = page.headers["content-security-policy"]
    assert "style-src 'sha256-" in csp and "unsafe-inline" not in csp
    api = guarded.client.get("/api/releases")
    assert api.json() == {"error": "this board needs its access token (SMOKESEAL_BOARD_TOKEN)"}


def test_a_bearer_token_opens_every_route(guarded: Board) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}".encode()}
    assert guarded.client.get("/api/releases", headers=auth).status_code == 200
    assert guarded.client.get("/deployments", headers=auth).status_code == 200
    for wrong in (f"Bearer {TOKEN}x", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN[:-1]}", TOKEN):
        response = guarded.client.get("/api/releases", headers={"Authorization":
                                                                 wrong.encode()})
        assert response.status_code == 401, wrong


def test_token_in_the_url_sets_a_cookie_and_leaves_a_clean_url(guarded: Board) -> None:
    response = guarded.client.get("/deployments", params={"app": "studio", "token": TOKEN,
                                                          "limit": "5"})
    assert response.status_code == 303
    assert response.headers["location"] == "/deployments?app=studio&limit=5"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={session_value(TOKEN)};")
    for attribute in ("HttpOnly", "SameSite=Lax", "Path=/"):
        assert attribute in cookie
    assert TOKEN not in cookie and "Secure" not in cookie  # plain http here
    # The client now holds the cookie: every page opens, and nothing else is needed.
    assert guarded.client.get("/deployments").status_code == 200
    assert guarded.client.get("/api/releases/1").status_code == 200


def test_a_wrong_token_in_the_url_sets_nothing(guarded: Board) -> None:
    response = guarded.client.get("/deployments", params={"token": "nope"})
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert "not this board" in response.text
    forged = {"Cookie": f"{COOKIE}={TOKEN}".encode()}  # the token is not a session
    assert guarded.client.get("/deployments", headers=forged).status_code == 401


def test_the_sign_in_redirect_stays_on_the_board(guarded: Board) -> None:
    response = guarded.client.get(f"//evil.example/deployments?token={TOKEN}")
    location = response.headers["location"]
    assert location.startswith("/") and not location.startswith("//")


@pytest.mark.parametrize("path", ["/%5Cevil.example", "/%5C%5Cevil.example/x",
                                  "/%2F%5Cevil.example", "/%09/evil.example"])
def test_the_sign_in_redirect_is_never_read_as_another_site(guarded: Board, path: str) -> None:
    """Browsers read "/\\evil.example" as "//evil.example": a backslash must not survive."""
    response = guarded.client.get(f"{path}?token={TOKEN}")
    location = response.headers["location"]
    assert "\\" not in location and "\t" not in location, location
    assert location.startswith("/") and not location.startswith("//"), location
    # What a browser would make of it stays on the board.
    assert urljoin("https://board.example/", location).startswith("https://board.example/")


def test_a_guarded_board_does_not_call_itself_open(guarded: Board) -> None:
    page = guarded.client.get("/deployments", headers={"Authorization": f"Bearer {TOKEN}"
                                                       .encode()}).text
    assert "studio" in page and "Open board" not in page


def test_the_access_log_never_holds_the_token(guarded: Board,
                                              caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="smokeseal.board.access"):
        guarded.client.get("/deployments", params={"token": TOKEN})
        guarded.client.get("/api/releases", headers={"Authorization": f"Bearer {TOKEN}"
                                                     .encode()})
    lines = [r.getMessage() for r in caplog.records if r.name == "smokeseal.board.access"]
    assert lines and lines[0].startswith("GET /deployments 303")
    assert not any(TOKEN in line for line in lines)
