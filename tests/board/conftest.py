"""A ledger with a small story in it, and the board serving it on 127.0.0.1."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from smokeseal.board import create_app
from smokeseal.ledger import Ledger, NewMessage
from smokeseal.servers import BackgroundServer

# A real 1x1 PNG, so the browser and the content type have something true to work on.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
HOSTILE_VERSION = "<img/src=x/onerror=alert(1)>"
HOSTILE_NOTES = "<script>alert('notes')</script>\n**bold** @everyone"
HOSTILE_DETAIL = "expected 404, got 200: <script>alert('detail')</script>"


def seal(status: str, checked_at: str, checks: list[dict[str, Any]], **extra: Any
         ) -> dict[str, Any]:
    passed = sum(c["ok"] for c in checks)
    failures = [f"{c['name']}: {c['detail']}" for c in checks if not c["ok"]]
    return {"status": status, "summary": "; ".join([f"{passed}/{len(checks)} passed",
                                                    *failures]),
            "checked_at": checked_at, "base_url": "https://app.example.com",
            "duration_ms": 2140, "checks": checks, "rollback": [], **extra}


@dataclass
class Story:
    """The releases in the ledger, by what they show."""

    green: int
    red: int
    pending: int
    assembled: int
    evidence_root: Path
    evidence: Path


#: A read's path is production's text: shown as text.
READ_FROM_PRODUCTION = "WEBSOCKET /<b>stream</b>"


def tell_the_story(ledger: Ledger, evidence_root: Path) -> Story:
    """studio: green, then red with evidence; other: shipped unsealed, then assembled."""
    green = ledger.create_release("studio", "v1.0.0", "3f2a9c1aaaaaaa", notes="First release")
    ledger.mark_shipped(green.id)
    ledger.record_seal(green.id, seal("green", "2026-11-24T10:00:00Z", [
        {"name": "home renders", "kind": "page", "ok": True, "detail": "200 · main visible",
         "duration_ms": 912, "url": "https://app.example.com/",
         "reads": ["POST /_dash-update-component ×3", READ_FROM_PRODUCTION]},
        {"name": "up", "kind": "get", "ok": True, "detail": "200", "duration_ms": 31},
    ]))

    evidence = evidence_root / "studio-20261124T110000Z" / "tasks-render"
    evidence.mkdir(parents=True)
    (evidence / "screenshot.png").write_bytes(PNG)
    (evidence / "console.txt").write_text("page error: TypeError: x is undefined\n")
    red = ledger.create_release("studio", HOSTILE_VERSION, "4e5f6a7bbbbbbb", notes=HOSTILE_NOTES)
    ledger.mark_shipped(red.id, messages=lambda r: [
        NewMessage("discord", "notes", f"discord:notes:{r.id}", {"content": "notes"}),
        NewMessage("discord", "seal", f"discord:seal:{r.id}", {"content": "seal"})])
    ledger.record_seal(red.id, seal("red", "2026-11-24T11:00:00Z", [
        {"name": "tasks render", "kind": "page", "ok": False,
         "detail": "uncaught page error: TypeError: x is undefined", "duration_ms": 1480,
         "url": "https://app.example.com/tasks", "evidence": str(evidence),
         "blocked_writes": ["POST https://app.example.com/beacon ×2"]},
        {"name": "devops hidden", "kind": "get", "ok": False, "detail": HOSTILE_DETAIL,
         "duration_ms": 41, "url": "https://app.example.com/devops"},
        {"name": "up", "kind": "get", "ok": True, "detail": "200", "duration_ms": 29},
    ], rollback=[f"smokeseal release abandon {red.id}", "git revert -m 1 4e5f6a7 # on main"],
        last_green={"id": green.id, "version": "v1.0.0", "sha": "3f2a9c1"}))
    # The notes message went out; the seal message is still waiting for Discord.
    notes, seal_message = ledger.claim("test", 60)
    ledger.finish(notes.id, "test", attempted=True, delivered=True, result={"id": "1"})
    ledger.finish(seal_message.id, "test", attempted=True, error="Discord answered 503")

    pending = ledger.create_release("other", "v2", "5a5a5a5")
    ledger.mark_shipped(pending.id)
    assembled = ledger.create_release("other", "v3", "6b6b6b6")
    return Story(green.id, red.id, pending.id, assembled.id, evidence_root, evidence)


@dataclass
class Board:
    url: str
    client: httpx.Client
    ledger: Ledger
    story: Story


@pytest.fixture
def start_board(ledger_url: str, tmp_path: Path
                ) -> Iterator[Callable[..., Board]]:
    """``start_board(token=None, evidence=True, **options)``: the story in a fresh ledger,
    served; ``options`` go to ``create_app`` (``metrics_token``, ``public_badges``)."""
    stack: list[Any] = []

    def start(token: str | None = None, evidence: bool = True, **options: Any) -> Board:
        ledger = Ledger(ledger_url)
        stack.append(ledger)
        story = tell_the_story(ledger, tmp_path / "evidence")
        app = create_app(ledger, token=token,
                         evidence_root=story.evidence_root if evidence else None, **options)
        server = BackgroundServer(app).start()
        stack.append(server)
        client = httpx.Client(base_url=server.url, follow_redirects=False, timeout=10)
        stack.append(client)
        return Board(server.url, client, ledger, story)

    yield start
    for thing in reversed(stack):
        thing.close() if not isinstance(thing, BackgroundServer) else thing.stop()


@pytest.fixture
def board(start_board: Callable[..., Board]) -> Board:
    """The open board (no token) over the story, on SQLite and on PostgreSQL."""
    return start_board()
