"""A release page says what changed since the last green: its regressions, a table of
figures, the new console errors and the commits, all of it production's or the repository's
text, shown as text."""

from __future__ import annotations

import pytest

from tests.board.conftest import Board, seal

pytestmark = pytest.mark.component
HOSTILE_ERROR = "<script>alert('console')</script> at task N"
HOSTILE_SUBJECT = "Fix <img src=x onerror=alert(1)> in the list"


def test_a_release_page_shows_the_comparison_as_text(board: Board) -> None:
    ledger = board.ledger
    release = ledger.create_release("studio", "v1.1.0", "7c7c7c7cccccc")
    ledger.mark_shipped(release.id)
    comparison = {
        "baseline": {"seals": 3, "releases": [board.story.green]},
        "checks": {"home renders": {
            "ms": 2400, "baseline_ms": 900,
            "vitals": {"ttfb_ms": 12, "fcp_ms": 60, "lcp_ms": 1700, "cls": 0.0},
            "baseline_vitals": {"ttfb_ms": 11, "fcp_ms": 58, "lcp_ms": 100, "cls": 0.0}}},
        "regressions": [{"check": "home renders", "metric": "lcp_ms", "value": 1700,
                         "baseline": 100, "ratio": 17.0, "over_budget": False}],
        "new_console_errors": [{"check": "home renders", "message": HOSTILE_ERROR}],
        "commits": [{"sha": "7c7c7c7", "subject": HOSTILE_SUBJECT}],
        "commits_more": 3,
        "since": {"id": board.story.green, "version": "v1.0.0", "sha": "3f2a9c1"},
        "commits_url": "https://github.com/acme/studio/compare/3f2a9c1...7c7c7c7",
    }
    ledger.record_seal(release.id, seal("green", "2026-11-25T10:00:00Z", [
        {"name": "home renders", "kind": "page", "ok": True, "detail": "200",
         "duration_ms": 2400}], comparison=comparison))
    html = board.client.get(f"/releases/{release.id}").text
    assert (f'Compared with <a href="/releases/{board.story.green}">v1.0.0</a> (last green)'
            in html)
    assert "📉 home renders: lcp_ms 1700 ms, 17× the last green&#39;s 100 ms" in html
    assert ("<tr class=\"regressed\"><td>home renders</td><td><code>lcp_ms</code></td>"
            "<td>1700 ms</td><td>100 ms</td><td>+1600 ms, 17.0×" in html)
    assert "<td>2400 ms</td><td>900 ms</td><td>+1500 ms, 2.7×</td>" in html  # shown, not judged
    assert "&lt;script&gt;alert(&#39;console&#39;)&lt;/script&gt; at task N" in html
    assert "Fix &lt;img src=x onerror=alert(1)&gt; in the list" in html
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "and 3 more" in html
    assert 'href="https://github.com/acme/studio/compare/3f2a9c1...7c7c7c7"' in html


def test_a_page_without_a_comparison_shows_none(board: Board) -> None:
    html = board.client.get(f"/releases/{board.story.green}").text
    assert "Compared with" not in html
