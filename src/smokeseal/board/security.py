"""The board's guard: the access token, the session cookie and the security headers.

A pure ASGI middleware, so that every response (pages, JSON, static files, errors) gets the
same headers and nothing reaches a route without the token when one is set.

Which rule applies is decided on the exact path the router will match (the request's path
without the server's ``root_path``, as Starlette routes it), never on a prefix: ``/up`` is
always open; ``/badge/{app}.svg`` is open when badges are public; ``/metrics`` takes only
the metrics token when one is set; everything else takes the board token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

__all__ = ["COOKIE", "CSP", "METRICS_PATH", "BoardGuard", "route_path", "session_value"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "smokeseal_board"
#: No inline script or style anywhere; everything the board needs is served by itself.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
_OPEN_PATHS = frozenset({"/up"})
METRICS_PATH = "/metrics"
#: Exactly the badge route's pattern (``/badge/{app:str}.svg``): one segment, no slash, so
#: ``/badge/x.svg/../deployments`` or a percent-encoded slash (decoded before routing) is
#: not a badge, and needs the token.
_BADGE_PATH = re.compile(r"/badge/[^/]+\.svg")
_SESSION_DAYS = 30

access_log = logging.getLogger("smokeseal.board.access")


def session_value(token: str) -> str:
    """What the cookie holds: derived from the token, so the cookie never is the token."""
    return hmac.new(token.encode(), b"smokeseal board session v1", hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def route_path(scope: Scope) -> str:
    """The path the router matches: without the ``root_path`` a proxy mounted the board
    under (Starlette's own rule), so the guard and the routes never disagree on a path."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root) and path != root and path[len(root)] == "/":
        return path[len(root):]
    return "" if root and path == root else path


def _bearer(scope: Scope, expected: bytes) -> bool | None:
    """Whether an ``Authorization: Bearer`` header carries ``expected`` (constant time);
    None when the request has no ``Authorization`` header."""
    found = None
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, credential = value.partition(b" ")
            found = bool(found) or (scheme.lower() == b"bearer"
                                    and hmac.compare_digest(credential.strip(), expected))
    return found


class BoardGuard:
    """Security headers on everything; with a token, nothing but ``/up`` without it.

    ``metrics_token``: when set, ``/metrics`` answers only ``Authorization: Bearer`` with it
    (not the board token, nor the cookie), whether or not the board has a token.
    ``public_badges``: ``/badge/{app}.svg`` answers without any token.
    """

    def __init__(self, app: ASGIApp, token: str | None,
                 denied: Callable[[Scope, bool], tuple[int, list[tuple[bytes, bytes]], bytes]],
                 *, metrics_token: str | None = None, public_badges: bool = False) -> None:
        self.app = app
        self.token = token or None
        self.session = session_value(token) if token else None
        self.metrics_token = metrics_token.encode() if metrics_token else None
        self.public_badges = public_badges
        # Renders the 401 answer: (scope, a wrong token was given) -> status, headers, body.
        self.denied = denied

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_seen: list[int] = []

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_seen.append(message["status"])
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in _SECURITY_NAMES]
                headers += _security_headers(scope, headers)
                message["headers"] = headers
            await send(message)

        try:
            path = route_path(scope)
            if path == METRICS_PATH and self.metrics_token is not None:
                # Only the scraper's token: a board token or cookie must not do here, and
                # ?token= signs in to the board, not to this.
                bearer = _bearer(scope, self.metrics_token)
                if bearer:
                    await self.app(scope, receive, send_with_headers)
                else:
                    await self._deny(scope, send_with_headers, wrong=bearer is not None)
                return
            if (self.token is None or path in _OPEN_PATHS
                    or (self.public_badges and _BADGE_PATH.fullmatch(path))):
                await self.app(scope, receive, send_with_headers)
                return
            query = parse_qsl(scope.get("query_string", b"").decode("latin-1"),
                              keep_blank_values=True)
            given = [value for key, value in query if key == "token"]
            if given:
                if _same(given[-1], self.token):
                    await self._sign_in(scope, query, send_with_headers)
                else:
                    await self._deny(scope, send_with_headers, wrong=True)
            elif self._authorised(scope):
                await self.app(scope, receive, send_with_headers)
            else:
                await self._deny(scope, send_with_headers, wrong=False)
        finally:
            # The path only: a query string may hold the token.
            access_log.info("%s %s %s %.0fms", scope.get("method"), scope["path"],
                            status_seen[0] if status_seen else "-",
                            (time.perf_counter() - started) * 1000)

    def _authorised(self, scope: Scope) -> bool:
        assert self.token is not None and self.session is not None
        if _bearer(scope, self.token.encode()):
            return True
        session = self.session.encode()
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                for part in value.split(b";"):
                    key, _, cookie = part.strip().partition(b"=")
                    if key == COOKIE.encode() and hmac.compare_digest(cookie, session):
                        return True
        return False

    async def _sign_in(self, scope: Scope, query: list[tuple[str, str]], send: Send) -> None:
        """Set the cookie and send the browser to the same URL without ``?token=``."""
        assert self.session is not None
        # "//host" would be another site, and so would "/\\host" (browsers read a backslash
        # as a slash): keep the redirect on this one, its path percent-encoded.
        location = "/" + quote(scope["path"].lstrip("/\\"), safe="/:@!$&'()*+,;=-._~")
        rest = urlencode([(key, value) for key, value in query if key != "token"])
        if rest:
            location += "?" + rest
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        cookie = (f"{COOKIE}={self.session}; Path=/; HttpOnly; SameSite=Lax; "
                  f"Max-Age={_SESSION_DAYS * 86400}{secure}")
        await send({"type": "http.response.start", "status": 303, "headers": [
            (b"location", location.encode("latin-1", "replace")),
            (b"set-cookie", cookie.encode()),
            (b"content-length", b"0"),
            (b"cache-control", b"no-store"),
        ]})
        await send({"type": "http.response.body", "body": b""})

    async def _deny(self, scope: Scope, send: Send, *, wrong: bool) -> None:
        status, headers, body = self.denied(scope, wrong)
        await send({"type": "http.response.start", "status": status, "headers": [
            *headers,
            (b"www-authenticate", b'Bearer realm="smokeseal board"'),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]})
        await send({"type": "http.response.body",
                    "body": b"" if scope.get("method") == "HEAD" else body})


_SECURITY_NAMES = frozenset({b"x-content-type-options", b"x-frame-options", b"referrer-policy",
                             b"cross-origin-opener-policy", b"cross-origin-resource-policy"})


def _security_headers(scope: Scope, headers: list[tuple[bytes, bytes]]
                      ) -> list[tuple[bytes, bytes]]:
    names = {k.lower() for k, _ in headers}
    extra = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
        # Badges are meant to be embedded in READMEs and wikis on other sites.
        (b"cross-origin-resource-policy",
         b"cross-origin" if route_path(scope).startswith("/badge/") else b"same-origin"),
    ]
    if b"content-security-policy" not in names:
        extra.append((b"content-security-policy", CSP.encode()))
    if b"cache-control" not in names:
        # Pages can change any second (a seal lands); the stylesheet and script do not.
        static = scope["path"].startswith("/static/")
        extra.append((b"cache-control", b"max-age=3600" if static else b"no-store"))
    return extra
