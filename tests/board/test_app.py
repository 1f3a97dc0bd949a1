"""Every route of the board, over a real ledger on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.board.conftest import (
    HOSTILE_DETAIL,
    HOSTILE_NOTES,
    HOSTILE_VERSION,
    PNG,
    READ_FROM_PRODUCTION,
    Board,
    seal,
)

pytestmark = pytest.mark.component


class Page(HTMLParser):
    """The parts of a board page the tests look at, read as a browser would parse them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.badges: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag == "a" and "badge" in (found.get("class") or "").split():
            self.badges.append(found.get("data-badge") or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def links(self, rel: str | None = None) -> list[str]:
        return [a["href"] or "" for tag, a in self.tags
                if tag == "a" and (rel is None or a.get("rel") == rel)]

    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def release_ids(page: Page) -> list[int]:
    return [int(m.group(1)) for href in page.links() if (m := re.fullmatch(r"/releases/(\d+)",
                                                                          href))][::2]


def dump(url: str) -> list[Any]:
    """Every row of every table: what "changes nothing" is compared on."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [conn.execute(text(f"SELECT * FROM {t} ORDER BY id")).all()
                    for t in ("releases", "seals", "outbox")]
    finally:
        engine.dispose()


def test_deployments_lists_releases_newest_first_with_their_seals(board: Board) -> None:
    response = board.client.get("/deployments")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = Page(response.text)
    story = board.story
    assert release_ids(page) == [story.assembled, story.pending, story.red, story.green]
    assert page.badges == ["none", "pending", "red", "green"]
    shown = page.all_text()
    for words in ("not shipped yet", "awaiting seal", "sealed red", "sealed green",
                  "4e5f6a7", "3f2a9c1", "1/3 passed; tasks render: uncaught page error",
                  "2/2 passed"):
        assert words in shown
    # Each app's chip carries the seal of what it runs in production.
    chips = {a.get("title") for tag, a in page.tags if tag == "a" and a.get("title")}
    assert chips == {"other: awaiting seal", "studio: sealed red"}
    assert "Open board" in shown


def test_the_root_and_app_filter(board: Board) -> None:
    root = board.client.get("/")
    assert (root.status_code, root.headers["location"]) == (307, "/deployments")
    page = Page(board.client.get("/deployments", params={"app": "other"}).text)
    assert release_ids(page) == [board.story.assembled, board.story.pending]
    nothing = board.client.get("/deployments", params={"app": "nope"})
    assert nothing.status_code == 200 and "No releases of nope" in Page(nothing.text).all_text()


def walk(board: Board, url: str, rel: str) -> list[Page]:
    """Every page from ``url`` on, following the ``rel`` link until there is none."""
    pages = []
    next_url: str | None = url
    while next_url:
        pages.append(Page(board.client.get(next_url).text))
        links = pages[-1].links(rel)
        next_url = links[0] if links else None
    return pages


def test_pages_walk_the_whole_history_once_each_way(board: Board) -> None:
    for n in range(9):
        board.ledger.create_release("fleet", f"v{n}", "abcdef1")
    everything = [r.id for r in board.ledger.releases(limit=100)]
    down = walk(board, "/deployments?limit=4", "next")
    assert all(0 < len(release_ids(page)) <= 4 for page in down)
    assert [i for page in down for i in release_ids(page)] == everything
    # Back up from the oldest page, each page prepended above the last.
    up = walk(board, down[-1].links("prev")[0], "prev")
    back = [i for page in reversed(up) for i in release_ids(page)]
    assert back + release_ids(down[-1]) == everything


def test_the_api_pages_the_same_way(board: Board) -> None:
    for n in range(5):
        board.ledger.create_release("fleet", f"v{n}", "abcdef1")
    everything = [r.id for r in board.ledger.releases(limit=100)]
    seen: list[int] = []
    url: str | None = "/api/releases?limit=3"
    while url:
        body = board.client.get(url).json()
        seen += [r["id"] for r in body["releases"]]
        url = body["next"]
    assert seen == everything
    fleet = board.client.get("/api/releases", params={"app": "fleet", "limit": 2}).json()
    assert [r["app"] for r in fleet["releases"]] == ["fleet", "fleet"]
    assert fleet["next"].startswith("/api/releases?app=fleet&limit=2&before=")


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "before=abc", "after=-1",
                                   "before=3&after=1", "app=a%00b", "before=1e3"])
def test_bad_paging_parameters_are_named(board: Board, query: str) -> None:
    api = board.client.get(f"/api/releases?{query}")
    name = query.split("=")[0]
    assert api.status_code == 400 and api.json()["error"].startswith(name)
    html = board.client.get(f"/deployments?{query}")
    assert html.status_code == 400 and name in Page(html.text).all_text()


def test_a_red_release_page_tells_the_story_of_its_seal(board: Board) -> None:
    story = board.story
    response = board.client.get(f"/releases/{story.red}")
    assert response.status_code == 200
    page = Page(response.text)
    shown = page.all_text()
    assert "Sealed red" in shown
    for check in ("tasks render", "devops hidden", "up"):
        assert check in shown
    assert "uncaught page error: TypeError: x is undefined" in shown
    assert "1.5 s" in shown and "41 ms" in shown
    assert "2 write attempts blocked" in shown
    assert "POST https://app.example.com/beacon ×2" in shown
    # The rollback commands, exactly, in the element the copy button copies.
    match = re.search(r'<pre id="rollback-commands"><code>(.*?)</code></pre>', response.text,
                      re.S)
    assert match and match.group(1).split("\n") == [
        f"smokeseal release abandon {story.red}", "git revert -m 1 4e5f6a7 # on main"]
    assert ("button", {"type": "button", "class": "copy", "data-copy": "rollback-commands",
                       "hidden": None}) in page.tags
    assert f"/releases/{story.green}" in page.links()
    # The story: shipped, sealed, told Discord, and one message still waiting.
    assert "Told Discord: release notes" in shown
    assert "Still to tell Discord (seal message) after 1 tries" in shown
    # Evidence is linked and served from inside the evidence root only.
    assert any(h.startswith("/evidence/") and h.endswith("/screenshot.png")
               for h in page.links())


def test_a_release_page_lists_the_reads_let_through(board: Board) -> None:
    html = board.client.get(f"/releases/{board.story.green}").text
    shown = Page(html).all_text()
    assert "let through 4 reads (declared in" in shown
    assert "POST /_dash-update-component ×3" in shown
    assert READ_FROM_PRODUCTION in shown and "<b>stream" not in html
    api = board.client.get(f"/api/releases/{board.story.green}").json()
    assert api["smoke_seal"]["checks"][0]["reads"][0] == "POST /_dash-update-component ×3"


def test_a_green_release_page_has_no_rollback(board: Board) -> None:
    response = board.client.get(f"/releases/{board.story.green}")
    shown = Page(response.text).all_text()
    assert "Sealed green" in shown and "2/2 passed" in shown
    assert "rollback-commands" not in response.text and "Rollback" not in shown


def test_unsealed_releases_say_what_they_wait_for(board: Board) -> None:
    pending = Page(board.client.get(f"/releases/{board.story.pending}").text).all_text()
    assert "Awaiting seal" in pending
    assert f"smokeseal seal {board.story.pending}" in pending
    assembled = Page(board.client.get(f"/releases/{board.story.assembled}").text).all_text()
    assert "Assembled, not shipped yet" in assembled


@pytest.mark.parametrize("path", ["/releases/999", "/releases/abc", "/nowhere",
                                  "/releases/1/more", "/releases/99999999999999999999999",
                                  "/releases/2147483648", "/badge/a%00b.svg",
                                  "/evidence/99999999999999999999/0/console.txt"])
def test_unknown_pages_are_404_pages(board: Board, path: str) -> None:
    response = board.client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Not found" in Page(response.text).all_text()


@pytest.mark.parametrize("release_id", ["999", "9223372036854775808"])
def test_unknown_api_ids_are_404_json(board: Board, release_id: str) -> None:
    response = board.client.get(f"/api/releases/{release_id}")
    assert response.status_code == 404
    assert response.json() == {"error": f"no release {release_id} in the ledger"}


def test_paging_bounds_beyond_any_id_are_not_errors(board: Board) -> None:
    everything = [r.id for r in board.ledger.releases()]
    far = board.client.get("/api/releases", params={"before": 2**40}).json()
    assert [r["id"] for r in far["releases"]] == everything
    assert board.client.get("/api/releases", params={"after": 2**40}).json()["releases"] == []


def test_the_api_release_is_the_ledger_record(board: Board) -> None:
    story = board.story
    body = board.client.get(f"/api/releases/{story.red}").json()
    release = board.ledger.release(story.red)
    for key, value in release.to_dict().items():
        assert body[key] == value, key
    assert body["badge"] == "red"
    assert [c["name"] for c in body["checks"]] == ["tasks render", "devops hidden", "up"]
    assert set(body["checks"][0]["evidence_urls"]) == {"screenshot.png", "console.txt"}
    assert [s["id"] for s in body["seals"]] == [s["id"] for s in
                                                board.ledger.seals(story.red)][::-1]
    # What was told and how it went, but never a message's payload.
    assert [(m["sink"], m["kind"], m["status"]) for m in body["messages"]] == [
        ("discord", "notes", "delivered"), ("discord", "seal", "pending")]
    assert body["messages"][1]["last_error"] == "Discord answered 503"
    assert "payload" not in body["messages"][0]


def test_badges_show_each_apps_latest_shipped_seal(board: Board) -> None:
    studio = board.client.get("/badge/studio.svg")
    assert studio.status_code == 200
    assert studio.headers["content-type"].startswith("image/svg+xml")
    assert studio.headers["cross-origin-resource-policy"] == "cross-origin"
    svg = ET.fromstring(studio.text)  # well-formed, hostile version and all
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert texts[0] == "studio seal"
    assert texts[2].startswith("red · <img/src=x/onerror=")
    assert 'fill="#cf222e"' in studio.text
    other = board.client.get("/badge/other.svg")
    assert "pending · v2" in other.text and 'fill="#bf8700"' in other.text
    # Rolled back: whatever runs now was not checked, so v1.0.0's green is not claimed.
    board.ledger.abandon(board.story.red)
    rolled = board.client.get("/badge/studio.svg").text
    assert "rolled back · redeploy pending" in rolled and 'fill="#bf8700"' in rolled
    assert "green" not in rolled
    # Sealed again since the rollback: that seal speaks for production.
    v1 = board.ledger.release(board.story.green)
    board.ledger.record_seal(v1.id, {**(v1.smoke_seal or {}), "checked_at": "2999-01-01T00:00:00Z"})
    assert "green · v1.0.0" in board.client.get("/badge/studio.svg").text
    unknown = board.client.get("/badge/%3Cscript%3E.svg")
    assert unknown.status_code == 404
    assert "&lt;script&gt; seal" in unknown.text and "<script>" not in unknown.text


def test_up_answers_without_reading_much(board: Board) -> None:
    response = board.client.get("/up")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_hostile_text_from_production_renders_as_text(board: Board) -> None:
    story = board.story
    for path in ("/deployments", f"/releases/{story.red}"):
        html = board.client.get(path).text
        assert "<img/src=x" not in html and "<script>alert" not in html
        page = Page(html)
        assert not [t for t, _ in page.tags if t == "img" and path == "/deployments"]
        assert HOSTILE_VERSION in page.all_text()
    shown = Page(board.client.get(f"/releases/{story.red}").text).all_text()
    assert "<script>alert('notes')</script>" in shown
    assert HOSTILE_DETAIL in shown
    assert HOSTILE_NOTES.split("\n")[1] in shown


def test_evidence_is_served_from_the_evidence_root_only(board: Board, tmp_path: Path) -> None:
    story = board.story
    seal_id = board.ledger.release(story.red).seal_id
    shot = board.client.get(f"/evidence/{seal_id}/0/screenshot.png")
    assert shot.status_code == 200 and shot.content == PNG
    assert shot.headers["content-type"] == "image/png"
    assert shot.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in shot.headers["content-security-policy"]
    log = board.client.get(f"/evidence/{seal_id}/0/console.txt")
    assert log.headers["content-type"] == "text/plain; charset=utf-8"
    assert "TypeError" in log.text
    # Only the two names, only checks that exist, only through the recorded folder.
    (story.evidence / "secrets.env").write_text("TOKEN=x")
    for path in (f"/evidence/{seal_id}/0/secrets.env", f"/evidence/{seal_id}/7/screenshot.png",
                 f"/evidence/{seal_id}/1/screenshot.png", "/evidence/999/0/screenshot.png",
                 f"/evidence/{seal_id}/0/..%2Fsecrets.env"):
        assert board.client.get(path).status_code == 404, path
    # A symlink planted in the folder does not lead out of it.
    outside = tmp_path / "outside.txt"
    outside.write_text("not evidence")
    (story.evidence / "console.txt").unlink()
    (story.evidence / "console.txt").symlink_to(outside)
    assert board.client.get(f"/evidence/{seal_id}/0/console.txt").status_code == 404


def test_evidence_outside_the_root_is_named_not_served(start_board: Any, tmp_path: Path) -> None:
    board = start_board(evidence=False)
    seal_id = board.ledger.release(board.story.red).seal_id
    page = board.client.get(f"/releases/{board.story.red}").text
    assert 'href="/evidence/' not in page and 'src="/evidence/' not in page
    assert "Evidence kept on the machine that sealed" in Page(page).all_text()
    assert board.client.get(f"/evidence/{seal_id}/0/screenshot.png").status_code == 404


ROUTES = ["/deployments", "/deployments?app=studio", "/releases/{red}", "/releases/999",
          "/api/releases", "/api/releases/{red}", "/badge/studio.svg", "/up",
          "/static/board.css", "/static/board.js", "/evidence/{seal}/0/screenshot.png"]


def test_every_response_carries_the_security_headers(board: Board) -> None:
    seal_id = board.ledger.release(board.story.red).seal_id
    for route in ROUTES:
        response = board.client.get(route.format(red=board.story.red, seal=seal_id))
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff", route
        assert headers["x-frame-options"] == "DENY", route
        assert headers["referrer-policy"] == "no-referrer", route
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp or "sandbox" in csp, route
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, route
        assert "http:" not in csp and "https:" not in csp, route  # no CDN, ever


def test_the_board_changes_nothing(board: Board, ledger_url: str) -> None:
    before = dump(ledger_url)
    seal_id = board.ledger.release(board.story.red).seal_id
    for route in ROUTES:
        path = route.format(red=board.story.red, seal=seal_id)
        assert board.client.get(path).status_code in (200, 404)
        assert board.client.head(path).status_code in (200, 404)
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            assert board.client.request(method, path).status_code in (404, 405), (method, path)
    assert dump(ledger_url) == before


def test_an_unreachable_ledger_is_a_503_not_a_traceback(start_board: Any, ledger_url: str,
                                                       request: pytest.FixtureRequest) -> None:
    board = start_board()
    board.ledger.engine.dispose()
    if ledger_url.startswith("sqlite"):
        Path(ledger_url.removeprefix("sqlite:///")).unlink()
    else:
        admin = request.getfixturevalue("_postgres_admin")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{make_url(ledger_url).database}" WITH (FORCE)'))
    page = board.client.get("/deployments")
    assert page.status_code == 503
    assert "The ledger is unreachable" in Page(page.text).all_text()
    api = board.client.get("/api/releases")
    assert api.status_code == 503
    assert api.json()["error"] == "the board could not read its ledger; the board's log says why"
    assert board.client.get("/up").status_code == 503
    # Whoever reads the board learns nothing of the database: not its host, name or user.
    where = make_url(ledger_url)
    for told in (page.text, api.text):
        for secret in filter(None, (where.database, where.username, where.host)):
            assert secret not in told, secret


def test_pages_are_plain_html_without_inline_script(board: Board) -> None:
    for path in ("/deployments", f"/releases/{board.story.red}", "/releases/999"):
        html = board.client.get(path).text
        scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S)
        assert scripts == [""], path  # only <script src="/static/board.js"></script>
        assert " style=" not in html and "<style" not in html, path
        assert re.search(r"""(src|href)=["']https?://""", html) is None, path


def test_flaky_and_skipped_checks_and_the_revision_are_shown(board: Board) -> None:
    release = board.ledger.create_release("studio", "v2.0.0", "5a6b7c8ddddddd")
    board.ledger.mark_shipped(release.id)
    board.ledger.record_seal(release.id, seal("red", "2026-11-24T12:00:00Z", [
        {"name": "tasks render", "kind": "page", "ok": True, "outcome": "flaky",
         "detail": "200", "first_failure": "expected 200, got <b>500</b>", "attempts": 2},
        {"name": "signin renders", "kind": "page", "ok": False, "outcome": "skipped",
         "skipped": True, "detail": "skipped: --no-browser"},
        {"name": "up", "kind": "get", "ok": True, "detail": "200"},
    ], revision="5a6b7c8dddd", expected_sha="5a6b7c8ddddddd", schema_version=2))
    response = board.client.get(f"/releases/{release.id}")
    shown = Page(response.text).all_text()
    assert "Flaky: failed on the first try (expected 200, got <b>500</b>), passed on try 2." \
        in shown
    assert "<b>500</b>" not in response.text  # production's text stays text
    assert "Skipped: not verified, so the seal cannot be green." in shown
    assert "Production served revision 5a6b7c8dddd (release 5a6b7c8 )." in shown
    api = board.client.get(f"/api/releases/{release.id}").json()
    assert [c["outcome"] for c in api["checks"]] == ["flaky", "skipped", "passed"]


def test_a_schema_1_seal_still_shows_its_outcomes(board: Board) -> None:
    api = board.client.get(f"/api/releases/{board.story.red}").json()
    assert [c["outcome"] for c in api["checks"]] == [
        "failed" if not c["ok"] else "passed" for c in api["checks"]]


def test_after_a_rollback_the_apps_chip_says_a_redeploy_is_pending(board: Board) -> None:
    board.ledger.abandon(board.story.red)
    page = board.client.get("/deployments").text
    assert 'title="studio: rolled back from' in page
    assert "redeploy pending" in page
    assert 'title="studio: sealed green"' not in page
