"""What a check sends to get past a sign-in or a WAF, and only to the app's own origins
(and where the app's sign-in is, to tell a session that expired).

An app's ``headers``, ``cookies`` and ``basic_auth`` (and a check's own ``headers`` and
``cookies``, merged over them) are credentials: they go with a request only when its
origin (scheme, host and port) is one of the app's, the URL the suite runs on and its
aliases. Never to a third-party host a page loads, never across a redirect to another host,
never over plain http when the app is https (that is another origin).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from smokeseal.config import App, Check

__all__ = ["Access", "Origin", "access_for", "for_check", "origin_of"]

Origin = tuple[str, str, int]
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> Origin | None:
    """``("https", "app.example.com", 443)``, or None for a URL that has no http(s) origin."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[parts.scheme]


@dataclass(frozen=True)
class Access:
    """Headers and cookies for the app's origins (basic auth is an ``Authorization`` header
    among the headers: sent preemptively, as no challenge is waited for)."""

    origins: frozenset[Origin] = frozenset()
    headers: tuple[tuple[str, str], ...] = ()
    cookies: tuple[tuple[str, str], ...] = ()
    #: Where the app sends a visitor without a session (its ``signin_path:``; None: the
    #: usual paths, see :mod:`smokeseal.checks.signin`).
    signin_paths: tuple[str, ...] | None = None
    #: The config keys that hold a session, ``headers`` and ``cookies``, as far as they are
    #: set (basic auth is the proxy's, not a session of the app's): a sign-in page reached
    #: by a check that sends them means the session they hold has expired.
    sessions: tuple[str, ...] = ()

    @classmethod
    def build(cls, app_urls: Iterable[str], *, headers: Mapping[str, str] | None = None,
              cookies: Mapping[str, str] | None = None,
              basic_auth: tuple[str, str] | None = None,
              signin_paths: Iterable[str] | None = None) -> Access:
        sent = dict(headers or {})
        if basic_auth is not None:
            token = base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()).decode()
            sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
            sent["Authorization"] = f"Basic {token}"
        origins = frozenset(o for u in app_urls if (o := origin_of(u)) is not None)
        sessions = tuple(key for key, given in (("cookies", cookies), ("headers", headers))
                         if given)
        return cls(origins, tuple(sent.items()), tuple((cookies or {}).items()),
                   None if signin_paths is None else tuple(signin_paths), sessions)

    def merged(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> Access:
        """This access with a check's own ``headers`` and ``cookies`` over it."""
        if not headers and not cookies:
            return self
        mine = {k.lower() for k in headers}
        kept = tuple((k, v) for k, v in self.headers if k.lower() not in mine)
        sessions = tuple(key for key, given in (("cookies", cookies), ("headers", headers))
                         if given or key in self.sessions)
        return Access(self.origins, kept + tuple(headers.items()),
                      tuple({**dict(self.cookies), **cookies}.items()), self.signin_paths,
                      sessions)

    def __bool__(self) -> bool:
        return bool(self.headers or self.cookies)

    def on_app(self, url: str) -> bool:
        return origin_of(url) in self.origins

    def for_origin(self, url: str, *, with_cookies: bool = True) -> dict[str, str]:
        """The headers to add to a request for ``url``: none unless it is one of the app's
        origins. ``with_cookies`` adds the cookies as a ``Cookie`` header (an HTTP client's
        way; a browser keeps them in its cookie store instead)."""
        if not self or not self.on_app(url):
            return {}
        out = dict(self.headers)
        if with_cookies and self.cookies:
            out["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies)
        return out

    def browser_cookies(self) -> list[dict[str, str]]:
        """The cookies as Playwright adds them: host-only, one set per app origin."""
        return [{"name": name, "value": value, "url": f"{scheme}://{host}:{port}"}
                for scheme, host, port in sorted(self.origins) for name, value in self.cookies]


def access_for(app: App, base_url: str) -> Access:
    """What ``app``'s checks send, and where: ``base_url`` (its url, or ``--url``) and its
    aliases."""
    auth = app.basic_auth
    return Access.build((base_url, *app.aliases), headers=app.headers, cookies=app.cookies,
                        basic_auth=(auth.username, auth.password.get_secret_value())
                        if auth else None, signin_paths=app.signin_path)


def for_check(access: Access, check: Check) -> Access:
    """``access`` with the check's own ``headers`` and ``cookies`` over the app's."""
    return access.merged(check.headers, check.cookies)
