"""Who may read ``/metrics`` and the badges: the board token, the metrics token, public
badges. A real board over the story; raw requests where a client would tidy the path."""

from __future__ import annotations

import asyncio
import socket
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from smokeseal.board import create_app
from smokeseal.config import parse_config
from smokeseal.errors import ConfigError
from tests.board.conftest import Board

pytestmark = pytest.mark.component

BOARD_TOKEN = "board-token-\u00e9"
METRICS_TOKEN = "metrics-token-42"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    """Access does not depend on the backend: SQLite only here."""
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def bearer(token: str) -> dict[str, bytes]:
    return {"Authorization": f"Bearer {token}".encode()}


def scraped(board: Board, **headers: bytes) -> int:
    response = board.client.get("/metrics", headers=headers)
    if response.status_code == 200:
        families = {f.name for f in text_string_to_metric_families(response.text)}
        assert "smokeseal_seal_state" in families
    return response.status_code


def raw_status(url: str, target: str) -> tuple[int, bytes]:
    """GET ``target`` exactly as written: no client normalises its dots or escapes."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                     "Connection: close\r\n\r\n".encode())
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


# --- /metrics -------------------------------------------------------------------------------

def test_an_open_board_serves_metrics_to_anyone(start_board: Callable[..., Board]) -> None:
    assert scraped(start_board()) == 200


def test_with_the_board_token_metrics_take_it_as_a_bearer_or_the_cookie(
        start_board: Callable[..., Board]) -> None:
    board = start_board(token=BOARD_TOKEN)
    denied = board.client.get("/metrics")
    assert denied.status_code == 401
    assert denied.headers["www-authenticate"].startswith("Bearer")
    assert denied.json() == {"error": "this board needs its access token "
                                      "(SMOKESEAL_BOARD_TOKEN)"}
    assert "studio" not in denied.text
    assert scraped(board, **bearer(BOARD_TOKEN)) == 200
    assert scraped(board, **bearer(BOARD_TOKEN + "x")) == 401
    assert scraped(board, **bearer(METRICS_TOKEN)) == 401
    signed_in = board.client.get("/metrics", params={"token": BOARD_TOKEN})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/metrics"
    assert scraped(board) == 200  # the client holds the board's cookie now


def test_the_metrics_token_is_the_only_one_metrics_take(
        start_board: Callable[..., Board]) -> None:
    board = start_board(token=BOARD_TOKEN, metrics_token=METRICS_TOKEN)
    assert scraped(board, **bearer(METRICS_TOKEN)) == 200
    # Not the board's token, however it comes, nor the wrong one.
    assert scraped(board, **bearer(BOARD_TOKEN)) == 401
    assert scraped(board, **bearer(METRICS_TOKEN[:-1])) == 401
    assert scraped(board, Authorization=f"Basic {METRICS_TOKEN}".encode()) == 401
    assert board.client.get("/metrics", params={"token": BOARD_TOKEN}).status_code == 401
    assert board.client.get("/metrics", params={"token": METRICS_TOKEN}).status_code == 401
    board.client.get("/deployments", params={"token": BOARD_TOKEN})  # the board's cookie
    assert board.client.get("/deployments").status_code == 200
    denied = board.client.get("/metrics")
    assert denied.status_code == 401
    assert "SMOKESEAL_METRICS_TOKEN" in denied.json()["error"]
    assert METRICS_TOKEN not in denied.text and BOARD_TOKEN not in denied.text
    # The metrics token opens /metrics and nothing else.
    board.client.cookies.clear()
    for path in ("/deployments", "/api/releases", "/badge/studio.svg"):
        assert board.client.get(path, headers=bearer(METRICS_TOKEN)).status_code == 401, path


def test_the_metrics_token_guards_metrics_on_an_open_board(
        start_board: Callable[..., Board]) -> None:
    board = start_board(metrics_token=METRICS_TOKEN)
    assert board.client.get("/deployments").status_code == 200
    assert scraped(board) == 401
    assert scraped(board, **bearer(METRICS_TOKEN)) == 200


@pytest.mark.parametrize("target", ["/metrics/", "/metrics%2F", "/./metrics", "//metrics",
                                    "/Metrics", "/metrics?x=/up", "/up/../metrics"])
def test_no_spelling_of_metrics_gets_past_the_metrics_token(
        start_board: Callable[..., Board], target: str) -> None:
    board = start_board(token=BOARD_TOKEN, metrics_token=METRICS_TOKEN)
    status, body = raw_status(board.url, target)
    assert status in (401, 404), (target, status)
    assert b"smokeseal_seal_state" not in body


def test_the_access_log_never_holds_either_token(start_board: Callable[..., Board],
                                                 caplog: pytest.LogCaptureFixture) -> None:
    board = start_board(token=BOARD_TOKEN, metrics_token=METRICS_TOKEN)
    with caplog.at_level("INFO", logger="smokeseal.board.access"):
        board.client.get("/metrics", headers=bearer(METRICS_TOKEN))
        board.client.get("/metrics", headers=bearer(BOARD_TOKEN))
        board.client.get("/metrics", params={"token": METRICS_TOKEN})
    lines = [r.getMessage() for r in caplog.records if r.name == "smokeseal.board.access"]
    assert [line.split()[:3] for line in lines] == [["GET", "/metrics", "200"],
                                                    ["GET", "/metrics", "401"],
                                                    ["GET", "/metrics", "401"]]
    assert not any(METRICS_TOKEN in line or BOARD_TOKEN in line for line in lines)


def test_the_guard_judges_the_path_the_router_sees_under_a_root_path(
        start_board: Callable[..., Board]) -> None:
    """Behind a proxy that mounts the board under /board, "/board/metrics" is /metrics to the
    router, so it is /metrics to the guard too (and "/board/badge/…" a badge)."""
    board = start_board()
    app = create_app(board.ledger, token=BOARD_TOKEN, metrics_token=METRICS_TOKEN,
                     public_badges=True)

    async def ask() -> list[int]:
        transport = httpx.ASGITransport(app=app, root_path="/board")
        async with httpx.AsyncClient(transport=transport, base_url="http://board") as client:
            return [(await client.get(path, headers=headers)).status_code
                    for path, headers in [("/board/metrics", bearer(BOARD_TOKEN)),
                                          ("/board/metrics", bearer(METRICS_TOKEN)),
                                          ("/board/badge/studio.svg", {}),
                                          ("/board/deployments", {}),
                                          ("/board/up", {})]]

    assert asyncio.run(ask()) == [401, 200, 200, 401, 200]


# --- public badges --------------------------------------------------------------------------

def test_public_badges_answer_without_the_token_and_embed(
        start_board: Callable[..., Board]) -> None:
    board = start_board(token=BOARD_TOKEN, public_badges=True)
    badge = board.client.get("/badge/studio.svg")
    assert badge.status_code == 200
    assert badge.headers["content-type"].startswith("image/svg+xml")
    texts = [t.text for t in ET.fromstring(badge.text).iter(f"{SVG}text")]
    assert texts[2] is not None and texts[2].startswith("red · ")
    headers = badge.headers
    assert headers["cache-control"] == "no-cache, max-age=0"
    assert headers["cross-origin-resource-policy"] == "cross-origin"
    assert headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "set-cookie" not in headers
    # An image proxy revalidates: the same seal is a 304, a new one a new ETag.
    etag = headers["etag"]
    again = board.client.get("/badge/studio.svg", headers={"If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    assert again.headers["cache-control"] == "no-cache, max-age=0"
    weak = board.client.get("/badge/studio.svg", headers={"If-None-Match": f'"x", W/{etag}'})
    assert weak.status_code == 304
    board.ledger.abandon(board.story.red)
    changed = board.client.get("/badge/studio.svg", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert "rolled back · redeploy pending" in changed.text
    # A ?token= (right or wrong) on a public badge is not a sign-in.
    for token in (BOARD_TOKEN, "wrong"):
        answer = board.client.get("/badge/studio.svg", params={"token": token})
        assert answer.status_code == 200 and "set-cookie" not in answer.headers


def test_a_public_badge_does_not_tell_whether_an_app_exists(
        start_board: Callable[..., Board]) -> None:
    board = start_board(token=BOARD_TOKEN, public_badges=True)
    # "never" has a release that was only assembled: known, nothing shipped. "ghost" was
    # never heard of. Both answer alike.
    board.ledger.create_release("never", "v1", "abcdef1")
    for app in ("never", "ghost"):
        badge = board.client.get(f"/badge/{app}.svg")
        assert badge.status_code == 200, app
        texts = [t.text for t in ET.fromstring(badge.text).iter(f"{SVG}text")]
        assert texts == [f"{app} seal", f"{app} seal", "unknown", "unknown"], app
        assert 'fill="#8c959f"' in badge.text


GUARDED = ["/", "/deployments", "/releases/1", "/api/releases", "/api/releases/1",
           "/evidence/1/0/screenshot.png", "/metrics", "/static/board.css", "/badge",
           "/badge/", "/badge/studio", "/badge/studio.png"]


@pytest.mark.parametrize("path", GUARDED)
def test_public_badges_open_nothing_else(start_board: Callable[..., Board], path: str) -> None:
    board = start_board(token=BOARD_TOKEN, public_badges=True)
    response = board.client.get(path)
    assert response.status_code == 401, path
    assert "<svg" not in response.text and "v1.0.0" not in response.text


@pytest.mark.parametrize("target", [
    "/badge/x.svg/../deployments", "/badge/x.svg/../../api/releases",
    "/badge/..%2Fdeployments.svg", "/badge/x%2F..%2F..%2Fdeployments",
    "/badge/x.svg%2F..%2F..%2Fapi%2Freleases", "/badge/x.svg/", "/badge//studio.svg",
    "/badge/studio.svg%00", "/BADGE/studio.svg", "/badge/studio.svg/.", "/./badge/studio.svg",
    "/badge/%2E%2E/deployments.svg", "/static/../badge/studio.svg/../../deployments"])
def test_no_path_sneaks_past_the_public_badge(start_board: Callable[..., Board],
                                              target: str) -> None:
    board = start_board(token=BOARD_TOKEN, public_badges=True)
    status, body = raw_status(board.url, target)
    assert status == 401, (target, status)
    assert b"<svg" not in body and b"v1.0.0" not in body and b"3f2a9c1" not in body


def test_without_public_badges_a_badge_needs_the_token(
        start_board: Callable[..., Board]) -> None:
    board = start_board(token=BOARD_TOKEN)
    assert board.client.get("/badge/studio.svg").status_code == 401
    assert board.client.get("/badge/studio.svg",
                            headers=bearer(BOARD_TOKEN)).status_code == 200
    # A token holder still learns that an app is unknown (the board would tell anyway).
    assert board.client.get("/badge/ghost.svg", headers=bearer(BOARD_TOKEN)).status_code == 404


@pytest.mark.parametrize("value", ["public", "private"])
def test_the_badges_setting_is_public_or_private(value: str) -> None:
    config = parse_config(f"badges: {value}\napps:\n  a: {{url: https://a.example.com}}\n")
    assert config.badges == value
    default = parse_config("apps:\n  a: {url: https://a.example.com}\n")
    assert default.badges == "private"


@pytest.mark.parametrize("value", ["open", "true", "Public", "1"])
def test_a_wrong_badges_setting_names_the_key(value: str) -> None:
    with pytest.raises(ConfigError, match=r"smokeseal.yml:1: badges: Input should be "
                                          r"'public' or 'private'"):
        parse_config(f"badges: {value}\napps:\n  a: {{url: https://a.example.com}}\n")
