"""A session that expired: a check that wants the page and is sent to the sign-in instead.

An app behind a sign-in answers a visitor without a (valid) session with a redirect to its
sign-in page, which answers 200. A check that expects 200 and follows that redirect would
be green on the sign-in form, the moment the session in ``cookies:`` expired. So a ``get``
or ``page`` check that expects a 2xx (the default) and ends, after a redirect, on a sign-in
path it did not ask for fails, and says which key holds the session.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from smokeseal.access import Access
    from smokeseal.config import Expect

__all__ = ["DEFAULT_SIGNIN_PATHS", "is_signin_path", "signin_failure"]

#: Where frameworks send a visitor without a session: Django's admin and allauth, Devise,
#: and the usual names. Unless an app names its own (``signin_path:``), any path holding
#: one of :data:`_SIGNIN_WORDS` is a sign-in too.
DEFAULT_SIGNIN_PATHS = ("/login", "/signin", "/accounts/login", "/users/sign_in",
                        "/admin/login")
#: A path naming a sign-in as a word of its own (``/auth/login``, ``/users/sign_in``, not
#: ``/blog/designing-apis``), or an identity provider's sign-in (OAuth 2 and OpenID Connect
#: authorisation, SAML, Google's ``ServiceLogin``, Keycloak's ``openid-connect/auth``).
_SIGNIN_WORDS = re.compile(
    r"(?<![a-z0-9])(log-?in|sign-?in|sign_in|servicelogin)(?![a-z0-9])"
    r"|/(oauth2?|saml2?|sso)/|/authorize(/|$)|openid-connect/auth(/|$)")


def is_signin_path(path: str, paths: Sequence[str] | None = None) -> bool:
    """Whether ``path`` is a sign-in page: one of ``paths`` (each a prefix at a ``/``), or,
    with ``paths`` None, one of :data:`DEFAULT_SIGNIN_PATHS` or a path naming a sign-in."""
    if paths is None:
        lowered = path.lower()
        return (_under(lowered, DEFAULT_SIGNIN_PATHS)
                or _SIGNIN_WORDS.search(lowered) is not None)
    return _under(path, paths)


def _under(path: str, prefixes: Sequence[str]) -> bool:
    for prefix in prefixes:
        stem = prefix.rstrip("/")
        if path == prefix or path.rstrip("/") == stem or path.startswith(stem + "/"):
            return True
    return False


def signin_failure(asked: str, ended: str, expect: Expect,
                   access: Access | None) -> str | None:
    """Why a check that asked for ``asked`` and ended on ``ended`` failed, when that was a
    redirect to a sign-in page while it expected a 2xx; None otherwise.

    The reason names what holds the session (``cookies:``, ``headers:``) when the app or the
    check configures one, since renewing it is the fix; otherwise that the page needs one.
    """
    statuses = expect.statuses()
    if expect.redirect_to is not None or (
            statuses is not None and not all(200 <= s < 300 for s in statuses)):
        return None
    paths = access.signin_paths if access is not None else None
    was, now = urlsplit(asked), urlsplit(ended)
    if (was.netloc, was.path) == (now.netloc, now.path) or not is_signin_path(now.path, paths) \
            or is_signin_path(was.path, paths):
        return None
    elsewhere = (not access.on_app(ended) if access is not None and access.origins
                 else now.netloc != was.netloc)
    if elsewhere:
        where = f"off the app to the sign-in page {now.scheme}://{now.netloc}{now.path}"
    else:
        where = f"to the sign-in page {now.path}"
    keys = [f"{key}:" for key in (access.sessions if access is not None else ())]
    if not keys and not elsewhere and paths is None:
        # No session given and no sign-in named: the app's own sign-in page is what a
        # visitor gets (the built-in suite on an app behind a sign-in), not an expiry.
        return None
    why = (f"the session in {' and '.join(keys)} is no longer valid" if keys
           else "this page needs a session (cookies: or headers:)")
    return f"redirected {where}: {why}"
