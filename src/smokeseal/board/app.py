"""The board: routes that read the ledger and render it. It never changes anything.

Views turn ledger dataclasses into plain dicts for the templates and the JSON API, so both
show the same data. Templates autoescape: versions, notes, summaries and check details can
hold HTML from production, and they stay text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
import anyio.to_thread
from anyio import CapacityLimiter
from jinja2 import Environment, PackageLoader
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from smokeseal import __version__
from smokeseal.board.badge import badge_svg
from smokeseal.board.health import LedgerProbe
from smokeseal.board.security import CSP, METRICS_PATH, BoardGuard, Scope, route_path
from smokeseal.checks.base import listed_total
from smokeseal.compare import metric_rows, regression_line
from smokeseal.errors import LedgerError, LedgerTimeout, UsageError
from smokeseal.ledger import Ledger, Message, Release
from smokeseal.sinks.text import SECTION_END, SECTION_START

_log = logging.getLogger("smokeseal.board")

__all__ = ["PAGE_SIZE", "READ_TIMEOUT", "SEALS_SHOWN", "create_app"]

PAGE_SIZE = 50
#: Seal runs (and messages) a release page lists, newest first; older ones are counted.
SEALS_SHOWN = 50
#: Seconds the app strip (each app's current seal) is reused between pages.
APPS_TTL = 2.0
MAX_PAGE_SIZE = 200
#: Seconds a page waits for the ledger (each read, and a connection) before it answers 503.
READ_TIMEOUT = 5.0
#: Views reading the ledger at once, each on a worker thread with a connection of its own.
#: Fewer than the bounded reader's pool holds (5 + 10 overflow): with /up's one, a view never
#: waits for a connection behind other views.
READERS = 10
#: The only evidence files the board serves, with the type each is served as.
EVIDENCE_FILES = {"screenshot.png": "image/png", "console.txt": "text/plain; charset=utf-8",
                  "trace.zip": "application/zip"}


@dataclass(frozen=True)
class Badge:
    status: str  # green, red, pending, none
    emoji: str
    label: str


def badge_for(release: Release) -> Badge:
    if release.seal_status == "green":
        return Badge("green", "🟢", "sealed green")
    if release.seal_status == "red":
        return Badge("red", "🔴", "sealed red")
    if release.state == "shipped":
        return Badge("pending", "⏳", "awaiting seal")
    if release.state == "abandoned":
        return Badge("none", "⊘", "abandoned, never sealed")
    return Badge("none", "·", "not shipped yet")


def iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def parse_iso(value: Any) -> datetime | None:
    # fromisoformat, not strptime: a page formats a hundred of these, and strptime is slow.
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def when(value: datetime | str | None) -> str:
    """``2026-11-24 10:00 UTC``: one unambiguous zone for a team across zones."""
    moment = parse_iso(value) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def ago(value: datetime | str | None, now: datetime) -> str:
    moment = parse_iso(value) if isinstance(value, str) else value
    if moment is None:
        return ""
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def duration(ms: Any) -> str:
    if not isinstance(ms, int | float):
        return ""
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def notes_without_seal(notes: str | None) -> str:
    """The notes as people wrote them: the seal section is shown by the page itself."""
    if not notes:
        return ""
    start, end = notes.find(SECTION_START), notes.find(SECTION_END)
    if start != -1 and end > start:
        notes = notes[:start] + notes[end + len(SECTION_END):]
    return notes.strip()


class BadRequest(HTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(400, detail)


def _int_param(request: Request, name: str, *, low: int = 1,
               high: int = 2**63 - 1) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequest(f"{name}: expected a whole number from {low} to {high}, got {raw!r}")
    return int(raw)


def _app_param(request: Request) -> str | None:
    app = request.query_params.get("app") or None
    if app is not None and (len(app) > 100 or not app.isprintable()):
        raise BadRequest("app: not an app name (at most 100 printable characters)")
    return app


def _machine_readable(path: str) -> bool:
    """Answers for programs (the API, the scraper) are JSON, errors included."""
    return path.startswith("/api/") or path == METRICS_PATH


class Board:
    """The routes, over one ledger. ``token`` is the access token (``None``: open board);
    ``metrics_token`` the only one ``/metrics`` takes when set; ``public_badges`` serves
    badges to anyone."""

    def __init__(self, ledger: Ledger, *, token: str | None = None,
                 evidence_root: Path | None = None, read_timeout: float = READ_TIMEOUT,
                 metrics_token: str | None = None, public_badges: bool = False) -> None:
        self.ledger = ledger
        self.read_timeout = read_timeout
        #: A view waits for one of these (at most the read timeout), then runs on a thread
        #: limited by ``threads``, which has as many tokens, so never waits there.
        self.readers = CapacityLimiter(READERS)
        self.threads = CapacityLimiter(READERS)
        self.probe = LedgerProbe(ledger, read_timeout)
        self.token = token or None
        self.metrics_token = metrics_token or None
        self.public_badges = public_badges
        self.evidence_root = evidence_root.resolve() if evidence_root else None
        # A missing key renders as nothing: seal records from older versions lack some.
        self.env = Environment(loader=PackageLoader("smokeseal.board", "templates"),
                               autoescape=True, trim_blocks=True, lstrip_blocks=True)
        self.env.filters.update(when=when, duration=duration, tally=_tally)
        self.env.globals.update(version=__version__, open_board=self.token is None,
                                metric_rows=metric_rows, regression_line=regression_line)
        self._apps_cache: tuple[float, list[dict[str, Any]]] | None = None

    # --- rendering ----------------------------------------------------------------------

    def page(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        now = datetime.now(UTC)
        html = self.env.get_template(template).render(
            now=now, ago=lambda value: ago(value, now), **context)
        return HTMLResponse(html, status_code=status)

    def row(self, release: Release) -> dict[str, Any]:
        badge = badge_for(release)
        seal = release.smoke_seal or {}
        return {
            **release.to_dict(),
            "short_sha": release.short_sha,
            "seal_id": release.seal_id,
            "badge": badge.status,
            "badge_emoji": badge.emoji,
            "badge_label": badge.label,
            "summary": seal.get("summary"),
            "url": f"/releases/{release.id}",
        }

    # --- routes -------------------------------------------------------------------------

    def deployments(self, request: Request) -> Response:
        page = self._page_of_releases(request)
        apps = self._apps()
        return self.page("deployments.html", releases=page["releases"], apps=apps,
                         app=page["app"], newer=page["newer"], older=page["older"],
                         newest=page["newest"])

    def _apps(self) -> list[dict[str, Any]]:
        """Each app's chip. Kept for APPS_TTL seconds: the strip is on every page, and a
        chip a second or two behind a new seal is still right about what it says."""
        now = time.monotonic()
        if self._apps_cache is None or now - self._apps_cache[0] > APPS_TTL:
            rollbacks = self.ledger.rollbacks()
            apps = [{"name": app, "badge": self._current_badge(current, rollbacks.get(app))}
                    for app, current in self.ledger.current_releases(notes=False).items()]
            self._apps_cache = (now, apps)
        return self._apps_cache[1]

    def _current_badge(self, current: Release | None, abandoned: Release | None) -> Badge:
        """What production runs, as far as the ledger knows: after a rollback (``abandoned``
        is the release rolled back from), nothing checked (the last green release is not
        live until it ships or is sealed again)."""
        if abandoned is not None:
            return Badge("pending", "↩", f"rolled back from {abandoned.version}: redeploy "
                                         "pending")
        return badge_for(current) if current else Badge("none", "·", "nothing shipped")

    def api_releases(self, request: Request) -> Response:
        page = self._page_of_releases(request, api=True)
        return JSONResponse({"releases": page["releases"], "next": page["older"],
                             "previous": page["newer"]})

    def _page_of_releases(self, request: Request, *, api: bool = False) -> dict[str, Any]:
        app = _app_param(request)
        before = _int_param(request, "before")
        after = _int_param(request, "after", low=0)
        limit = _int_param(request, "limit", high=MAX_PAGE_SIZE) or PAGE_SIZE
        if before is not None and after is not None:
            raise BadRequest("before, after: give one of them, not both")
        # One more than shown tells whether the page has a neighbour, without asking again.
        # The HTML list shows a line per release; the JSON list keeps the whole record.
        releases = self.ledger.releases(app, limit=limit + 1, before_id=before,
                                        after_id=after, lines=not api)
        beyond = len(releases) > limit
        releases = releases[-limit:] if after is not None else releases[:limit]
        base = "/api/releases" if api else "/deployments"

        def link(**params: Any) -> str:
            kept = {"app": app, **({"limit": limit} if limit != PAGE_SIZE else {}), **params}
            query = urlencode({k: v for k, v in kept.items() if v is not None})
            return base + (f"?{query}" if query else "")

        older = newer = None
        if releases:
            first, last = releases[0].id, releases[-1].id
            if after is None:
                has_older = beyond
                has_newer = before is not None and self.ledger.has_releases(app, after_id=first)
            else:
                has_older, has_newer = self.ledger.has_releases(app, before_id=last), beyond
            older = link(before=last) if has_older else None
            newer = link(after=first) if has_newer else None
        elif before is not None or after is not None:
            newer = link()
        return {"releases": [self.row(r) for r in releases], "app": app,
                "older": older, "newer": newer, "newest": link() if newer else None}

    def release(self, request: Request) -> Response:
        release = self._release(request)
        data = self._release_data(release)
        return self.page("release.html", release=data, seal=data["smoke_seal"],
                         notes=notes_without_seal(release.notes))

    def api_release(self, request: Request) -> Response:
        release = self._release(request)
        return JSONResponse(self._release_data(release))

    def _release(self, request: Request) -> Release:
        release_id = request.path_params["release_id"]
        try:
            return self.ledger.release(release_id)
        except UsageError:
            raise HTTPException(404, f"no release {release_id} in the ledger") from None

    def _release_data(self, release: Release) -> dict[str, Any]:
        # The latest seal runs in brief and the latest messages, the older ones counted: a
        # release re-sealed every minute by cron has thousands of each.
        history, older_seals = self.ledger.recent_seals(release.id, SEALS_SHOWN)
        messages, older_messages = self.ledger.recent_messages(release.id, SEALS_SHOWN)
        data = self.row(release)
        checks = (release.smoke_seal or {}).get("checks") or []
        data["checks"] = [
            {**_CHECK_DEFAULTS, **_upgraded(check),
             "evidence_urls": self._evidence_urls(release.seal_id, index, check),
             "evidence_pruned": self._evidence_pruned(check)}
            for index, check in enumerate(checks) if isinstance(check, dict)
        ]
        data["seals"] = history[::-1]
        data["seals_not_listed"] = older_seals
        data["messages"] = [_message(m) for m in messages]
        data["messages_not_listed"] = older_messages
        data["story"] = _story(release, history, messages)
        return data

    def _evidence_urls(self, seal_id: int | None, index: int,
                       check: dict[str, Any]) -> dict[str, str]:
        folder = self._evidence_folder(check.get("evidence"))
        if seal_id is None or folder is None:
            return {}
        return {name: f"/evidence/{seal_id}/{index}/{name}" for name in EVIDENCE_FILES
                if (folder / name).is_file()}

    def _evidence_pruned(self, check: dict[str, Any]) -> bool:
        """The check kept evidence under the root, and the folder is gone (pruned)."""
        folder = self._evidence_folder(check.get("evidence"))
        return folder is not None and not folder.exists()

    def _evidence_folder(self, recorded: Any) -> Path | None:
        """The recorded folder, only if it lies inside the evidence root."""
        if self.evidence_root is None or not isinstance(recorded, str) or not recorded:
            return None
        try:
            folder = Path(recorded).resolve()
        except (OSError, RuntimeError):
            return None
        return folder if folder.is_relative_to(self.evidence_root) else None

    def evidence(self, request: Request) -> Response:
        seal_id = request.path_params["seal_id"]
        index = request.path_params["index"]
        name = request.path_params["name"]
        found = self.ledger.seal(seal_id)
        checks = (found[1].get("checks") or []) if found else []
        if name not in EVIDENCE_FILES or index >= len(checks):
            raise HTTPException(404, "no such evidence")
        folder = self._evidence_folder(checks[index].get("evidence"))
        if folder is None:
            raise HTTPException(404, "no such evidence")
        path = (folder / name).resolve()
        # A symlink inside the folder must not lead elsewhere.
        if not path.is_relative_to(folder) or not path.is_file():
            raise HTTPException(404, "no such evidence")
        # A trace is opened with Playwright's viewer, not in the browser: downloaded.
        disposition = "attachment" if name == "trace.zip" else "inline"
        return FileResponse(path, media_type=EVIDENCE_FILES[name], headers={
            "content-disposition": f'{disposition}; filename="{name}"',
            "content-security-policy": "default-src 'none'; sandbox",
        })

    def badge(self, request: Request) -> Response:
        app = request.path_params["app"]
        if len(app) > 100 or not app.isprintable():
            raise HTTPException(404, "no such app")
        # Listing columns only: the badge may be public, and needs no notes nor checks.
        latest = self.ledger.latest_shipped(app, lines=True)
        status = 200
        if self.ledger.rolled_back(app) is not None:
            # What runs since the rollback was not checked: no earlier seal speaks for it.
            svg = badge_svg(f"{app} seal", "rolled back · redeploy pending", "pending")
        elif latest is None and self.public_badges:
            # Served to anyone: an app with nothing shipped and a name nobody uses look
            # alike (200, so that a README's image is not broken before the first ship),
            # and the ledger's list of apps is not asked.
            svg = badge_svg(f"{app} seal", "unknown", "unknown")
        elif latest is None:
            known = app in self.ledger.apps()
            svg = badge_svg(f"{app} seal", "none" if known else "unknown app",
                            "none" if known else "unknown")
            status = 200 if known else 404
        else:
            badge = badge_for(latest)
            message = {"green": "green", "red": "red", "pending": "pending"}.get(
                badge.status, "none")
            version = (latest.version if len(latest.version) <= 24
                       else latest.version[:23] + "…")
            svg = badge_svg(f"{app} seal", f"{message} · {version}", badge.status)
        # Image proxies (GitHub's camo) revalidate a no-cache image with its ETag: an
        # unchanged seal costs them a 304, a new one shows at once.
        etag = '"' + hashlib.sha256(svg.encode()).hexdigest()[:32] + '"'
        headers = {**_BADGE_HEADERS, "etag": etag}
        if status == 200 and _matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        return Response(svg, status_code=status, media_type="image/svg+xml", headers=headers)

    def metrics(self, request: Request) -> Response:
        # Imported here: prometheus_client costs start-up time that only a scrape needs.
        from smokeseal.board.metrics import exposition

        body, content_type = exposition(self.ledger, request.headers.get("accept", ""))
        return Response(body, headers={"content-type": content_type,
                                       "cache-control": "no-store"})

    async def up(self, request: Request) -> Response:
        # Unauthenticated: says whether the ledger answers, never where it is.
        status = await self.probe.status()
        if status == "newer":
            return JSONResponse({"status": "ok", "note": "ledger schema newer than this board"})
        if status == "older":
            return JSONResponse({"status": "unavailable", "note": "ledger schema older than "
                                 "this board: run smokeseal db upgrade"}, status_code=503)
        return JSONResponse({"status": status}, status_code=200 if status == "ok" else 503)

    # --- errors ---------------------------------------------------------------------------

    def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        titles = {400: "Bad request", 404: "Not found", 405: "Method not allowed"}
        title = titles.get(exc.status_code, "Error")
        headers = dict(exc.headers or {})
        if _machine_readable(route_path(request.scope)):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code,
                                headers=headers)
        response = self.page("error.html", status=exc.status_code, title=title,
                             detail=exc.detail)
        response.headers.update(headers)
        return response

    def server_error(self, request: Request, exc: Exception) -> Response:
        if _machine_readable(route_path(request.scope)):
            return JSONResponse({"error": "internal error"}, status_code=500)
        return self.page("error.html", status=500, title="Something broke",
                         detail="The board hit an internal error; its log has the details.")

    def ledger_error(self, request: Request, exc: Exception) -> Response:
        # The error names the database's host and user, and the driver's reason: for the
        # board's operator (its log), not for whoever can read the board.
        _log.warning("%s %s: %s", request.method, request.url.path, exc)
        if isinstance(exc, LedgerTimeout):
            title = "The ledger is slow"
            detail = (f"the ledger did not answer within {self.read_timeout:g} s; "
                      "the board's log says why")
        else:
            title = "The ledger is unreachable"
            detail = "the board could not read its ledger; the board's log says why"
        if _machine_readable(route_path(request.scope)):
            return JSONResponse({"error": detail}, status_code=503)
        return self.page("error.html", status=503, title=title, detail=detail)

    def denied(self, scope: Scope, wrong: bool) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """The 401 answer: JSON for the API, badges and metrics, a token form for people."""
        path = scope["path"]
        detail = ("that token is not this board's" if wrong else
                  "this board needs its access token (SMOKESEAL_BOARD_TOKEN)")
        if route_path(scope) == METRICS_PATH and self.metrics_token is not None:
            detail = ("that is not the metrics token" if wrong else
                      "/metrics needs Authorization: Bearer with SMOKESEAL_METRICS_TOKEN")
        if (_machine_readable(route_path(scope))
                or route_path(scope).startswith(("/badge/", "/evidence/", "/static/"))):
            body = json.dumps({"error": detail}).encode()
            return 401, [(b"content-type", b"application/json")], body
        now = datetime.now(UTC)
        html = self.env.get_template("signin.html").render(
            detail=detail, wrong=wrong, action=path, css=_inline_css(),
            now=now, ago=lambda value: ago(value, now))
        # The sign-in page is the one page served before the stylesheet may be: its style is
        # inline, allowed by hash rather than by 'unsafe-inline'.
        csp = CSP.replace("style-src 'self'", f"style-src '{_inline_css_hash()}'")
        return 401, [(b"content-type", b"text/html; charset=utf-8"),
                     (b"content-security-policy", csp.encode())], html.encode()


_CHECK_DEFAULTS: dict[str, Any] = {"name": "", "kind": "", "ok": False, "detail": "",
                                   "duration_ms": None, "url": None, "skipped": False,
                                   "blocked_writes": [], "evidence": None,
                                   "outcome": "failed", "first_failure": None, "notes": [],
                                   "reads": []}


def _tally(entries: Any) -> int:
    """How many events a listed ``blocked_writes`` or ``reads`` stands for; a damaged
    record's list is counted by its length."""
    if isinstance(entries, list) and all(isinstance(e, str) for e in entries):
        return listed_total(entries)
    return len(entries) if isinstance(entries, list) else 0


def _upgraded(check: dict[str, Any]) -> dict[str, Any]:
    """A check of any schema version, with its outcome (older seals had only ok/skipped)."""
    from pydantic import ValidationError

    from smokeseal.seal import CheckRecord

    try:
        return CheckRecord.model_validate(check).model_dump()
    except ValidationError:
        return check  # a damaged record still shows what it has
_BADGE_HEADERS = {"cache-control": "no-cache, max-age=0"}


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` names ``etag`` (weakly, as RFC 9110 compares it)."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags or "*" in tags


def _message(message: Message) -> dict[str, Any]:
    """What the board tells about a message: where, what, how it went. Never its payload."""
    return {"sink": message.sink, "kind": message.kind, "status": message.status,
            "attempts": message.attempts, "last_error": message.last_error,
            "created_at": iso(message.created_at), "delivered_at": iso(message.delivered_at)}


_SINK_NAMES = {"discord": "Discord", "github": "GitHub", "slack": "Slack",
               "webhook": "the webhook"}
_KIND_NAMES = {"notes": "release notes", "seal": "seal message", "notes_edit":
               "seal line on the notes", "alert": "operator alert", "recovered":
               "recovered message", "release_body":
               "seal section on the GitHub release", "deployment": "deployment",
               "deployment_status": "deployment status"}


def _story(release: Release, history: list[dict[str, Any]],
           messages: list[Message]) -> list[dict[str, Any]]:
    """What happened to the release, oldest first: the page tells it as a timeline."""
    events: list[dict[str, Any]] = [
        {"at": iso(release.created_at), "kind": "created",
         "text": f"Assembled {release.version} from {release.short_sha}"}]
    if release.shipped_at:
        events.append({"at": iso(release.shipped_at), "kind": "shipped",
                       "text": "Shipped: the deploy ran and /up answered"})
    for seal in history:
        status = seal.get("status")
        events.append({"at": seal.get("checked_at"), "kind": f"seal-{status}",
                       "text": f"Sealed {status}: {seal.get('summary', '')}",
                       "seal_id": seal.get("id")})
    for message in messages:
        where = _SINK_NAMES.get(message.sink, message.sink)
        what = _KIND_NAMES.get(message.kind, message.kind)
        if message.status == "delivered":
            events.append({"at": iso(message.delivered_at), "kind": "told",
                           "text": f"Told {where}: {what}"})
        elif message.status == "superseded":
            events.append({"at": iso(message.created_at), "kind": "superseded",
                           "text": f"Not told {where} ({what}): a later seal of this release "
                                   "shows the verdict there"})
        elif message.status == "failed":
            events.append({"at": iso(message.created_at), "kind": "failed",
                           "text": f"Could not tell {where} ({what}): {message.last_error}"})
        else:
            tries = f" after {message.attempts} tries" if message.attempts else ""
            events.append({"at": iso(message.created_at), "kind": "pending",
                           "text": f"Still to tell {where} ({what}){tries}; "
                                   "smokeseal outbox flush delivers it"})
    if release.abandoned_at:
        events.append({"at": iso(release.abandoned_at), "kind": "abandoned",
                       "text": "Abandoned (rollback bookkeeping)"})
    return sorted(events, key=lambda e: e["at"] or "")


_CSS = Path(__file__).with_name("static") / "board.css"


def _inline_css() -> str:
    return _CSS.read_text(encoding="utf-8")


def _inline_css_hash() -> str:
    digest = hashlib.sha256(_inline_css().encode()).digest()
    return "sha256-" + base64.b64encode(digest).decode()


def _off_loop(board: Board,
              view: Callable[[Request], Response]) -> Callable[[Request], Awaitable[Response]]:
    """Run ``view`` on a worker thread, its reads on one connection that gives up after the
    board's read timeout.

    The ledger's driver blocks: on the event loop, one read waiting for a lock or a slow
    database would hold every other request, ``/up`` included. Each view is a few
    milliseconds of indexed reads and rendering, so the thread hop is a small share of it.

    A page waits for one of the :data:`READERS` no longer than the read timeout either: when
    every reader is stuck on a slow ledger, the pages queued behind them answer 503 then,
    not after round upon round of other pages' timeouts.
    """
    def read(request: Request) -> Response:
        with board.ledger.reading(board.read_timeout):
            return view(request)

    async def endpoint(request: Request) -> Response:
        # Only the wait for a reader is cancelled: a read under way is never abandoned
        # (its thread would go on holding a connection), it ends at its own timeout.
        acquired = False
        with anyio.move_on_after(board.read_timeout):
            await board.readers.acquire()  # gives the token back if cancelled
            acquired = True
        if not acquired:
            raise LedgerTimeout(
                f"ledger {board.ledger.display_url}: could not read: no reader free within "
                f"{board.read_timeout:g} s ({READERS} pages were reading)")
        try:
            # The threads' own limiter never makes a reader wait: it has a token for each.
            return await anyio.to_thread.run_sync(read, request, limiter=board.threads)
        finally:
            board.readers.release()

    return endpoint


def create_app(ledger: Ledger, *, token: str | None = None,
               evidence_root: Path | None = None,
               read_timeout: float = READ_TIMEOUT, metrics_token: str | None = None,
               public_badges: bool = False) -> BoardGuard:
    """The board as an ASGI app, guarded. The caller owns ``ledger`` and closes it.

    ``read_timeout``: seconds a page waits for the ledger before it answers 503.
    ``metrics_token``: when set, the only token ``/metrics`` takes (as a bearer token), with
    or without ``token``. ``public_badges``: ``/badge/{app}.svg`` needs no token."""
    board = Board(ledger, token=token, evidence_root=evidence_root, read_timeout=read_timeout,
                  metrics_token=metrics_token, public_badges=public_badges)
    routes = [
        Route("/", lambda request: RedirectResponse("/deployments", status_code=307)),
        Route("/deployments", _off_loop(board, board.deployments)),
        Route("/releases/{release_id:int}", _off_loop(board, board.release)),
        Route("/evidence/{seal_id:int}/{index:int}/{name:str}",
              _off_loop(board, board.evidence)),
        Route("/api/releases", _off_loop(board, board.api_releases)),
        Route("/api/releases/{release_id:int}", _off_loop(board, board.api_release)),
        Route("/badge/{app:str}.svg", _off_loop(board, board.badge)),
        Route(METRICS_PATH, _off_loop(board, board.metrics)),
        Route("/up", board.up),
        Mount("/static", StaticFiles(packages=[("smokeseal.board", "static")]), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={
        HTTPException: board.http_error, LedgerError: board.ledger_error,
        Exception: board.server_error})
    return BoardGuard(app, board.token, board.denied, metrics_token=board.metrics_token,
                      public_badges=public_badges)
