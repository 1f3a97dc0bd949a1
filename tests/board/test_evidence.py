"""The board links a failed check's Playwright trace, and copes with evidence pruned away."""

from __future__ import annotations

import io
import shutil
import zipfile
from datetime import UTC, datetime

import pytest

from smokeseal.evidence import prune_evidence
from tests.board.conftest import Board
from tests.board.test_app import Page

pytestmark = pytest.mark.component


def test_the_trace_is_linked_with_how_to_open_it_and_served_as_a_download(
        board: Board) -> None:
    story = board.story
    with zipfile.ZipFile(story.evidence / "trace.zip", "w") as trace:
        trace.writestr("trace.trace", '{"type":"context-options"}\n')
    seal_id = board.ledger.release(story.red).seal_id
    url = f"/evidence/{seal_id}/0/trace.zip"
    html = board.client.get(f"/releases/{story.red}").text
    page = Page(html)
    assert url in page.links()
    assert "npx playwright show-trace trace.zip" in page.all_text()
    assert "https://trace.playwright.dev" in page.links()
    api = board.client.get(f"/api/releases/{story.red}").json()
    assert api["checks"][0]["evidence_urls"]["trace.zip"] == url
    served = board.client.get(url)
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/zip"
    assert served.headers["content-disposition"] == 'attachment; filename="trace.zip"'
    assert "sandbox" in served.headers["content-security-policy"]
    assert zipfile.ZipFile(io.BytesIO(served.content)).namelist() == ["trace.trace"]


def test_a_seal_whose_evidence_was_pruned_says_so_and_its_links_answer_404(
        board: Board) -> None:
    story = board.story
    seal_id = board.ledger.release(story.red).seal_id
    # The story's run is from 2026-11-24; a year on, it is past any keep.
    pruned = prune_evidence(story.evidence_root, 30, now=datetime(2027, 12, 1, tzinfo=UTC),
                            apps=["studio"])  # a folder from before the marker
    assert [f.name for f, _ in pruned.folders] == ["studio-20261124T110000Z"]
    assert not story.evidence.exists()
    response = board.client.get(f"/releases/{story.red}")
    assert response.status_code == 200
    page = Page(response.text)
    assert "Evidence pruned (older than evidence_keep_days" in page.all_text()
    assert not [link for link in page.links() if link.startswith("/evidence/")]
    api = board.client.get(f"/api/releases/{story.red}").json()
    assert api["checks"][0]["evidence_urls"] == {}
    assert api["checks"][0]["evidence_pruned"] is True
    for name in ("screenshot.png", "console.txt", "trace.zip"):
        assert board.client.get(f"/evidence/{seal_id}/0/{name}").status_code == 404


def test_a_whole_evidence_root_gone_is_no_error(board: Board) -> None:
    shutil.rmtree(board.story.evidence_root)
    assert board.client.get(f"/releases/{board.story.red}").status_code == 200
    seal_id = board.ledger.release(board.story.red).seal_id
    assert board.client.get(f"/evidence/{seal_id}/0/screenshot.png").status_code == 404
