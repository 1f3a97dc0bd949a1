"""The secrets a config holds, and taking them out of text before it is kept or shown.

Webhook URLs and tokens come from the environment and must never reach logs, the ledger or
the board; text smokeseal keeps (delivery errors, a command check's output) goes through
:func:`scrub` first.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:
    from smokeseal.config import Config

__all__ = ["ELLIPSIS", "MIN_SECRET_LENGTH", "scrub", "scrub_all", "secrets_of"]

#: Environment variables of smokeseal's own that hold secrets (the database URL's password
#: alone is: see :func:`_passwords`).
_SECRET_VARIABLES = ("DISCORD_WEBHOOK_URL", "GITHUB_TOKEN", "SLACK_BOT_TOKEN",
                     "SMOKESEAL_BOARD_TOKEN", "SMOKESEAL_METRICS_TOKEN",
                     "SMOKESEAL_WEBHOOK_SECRET", "SMOKESEAL_WEBHOOK_URL")
#: Shorter values are not scrubbed: hiding every "1" or "on" (a ``${DEBUG}`` header, say)
#: would wreck every text around it, and a secret that short protects nothing anyway.
MIN_SECRET_LENGTH = 4


def secrets_of(config: Config, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret value the config (and smokeseal's environment) holds, longest first."""
    environ = os.environ if environ is None else environ
    found: list[str] = [environ.get(name, "") for name in _SECRET_VARIABLES]
    found += config.check_secrets
    found += _passwords(environ.get("SMOKESEAL_DATABASE_URL"), config.database_url,
                        *_GIVEN_DATABASE_URLS,
                        *(environ.get(name) for name in _PROXY_VARIABLES))
    for app in config.apps.values():
        if app.notify.discord:
            url = app.notify.discord.webhook_url.get_secret_value()
            found += [url, url.rstrip("/").rsplit("/", 1)[-1]]
        if app.notify.github_release:
            found.append(app.notify.github_release.token.get_secret_value())
        if app.notify.slack:
            found.append(app.notify.slack.token.get_secret_value())
        if app.notify.webhook:
            url = app.notify.webhook.url.get_secret_value()
            found += [url, app.notify.webhook.secret.get_secret_value(), *_url_tokens(url)]
        if app.basic_auth:
            # The password, and the header a page that echoes its request would show.
            password = app.basic_auth.password.get_secret_value()
            pair = f"{app.basic_auth.username}:{password}".encode()
            found += [password, base64.b64encode(pair).decode()]
    # An app's own URL is no secret, and hiding it would hide every result's address.
    urls = {url for app in config.apps.values() for url in (app.url, *app.aliases)}
    return sorted({s for s in found if len(s) >= MIN_SECRET_LENGTH and s.rstrip("/") not in urls},
                  key=len, reverse=True)


#: A piece of a webhook URL this long is taken for a token (``/T0/B0/XXXXXXXXXXXXXXXX``,
#: ``?key=…``); shorter pieces (``/hooks``, ``/seal``) are words, and hiding every "hooks"
#: in every text would wreck it while protecting nothing.
_TOKEN_PIECE = 16


def _url_tokens(url: str) -> list[str]:
    """The token-like path segments and query values of a webhook URL: an error that
    quotes the URL in part (a path, a query) must not show them either."""
    from urllib.parse import parse_qsl, urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    pieces = [*parts.path.split("/"), *(value for _, value in parse_qsl(parts.query))]
    return [piece for piece in pieces if len(piece) >= _TOKEN_PIECE]


def database_url_given(url: str) -> None:
    """``--database-url``: its password is a secret like one from the environment."""
    _GIVEN_DATABASE_URLS.append(url)


#: What ``--database-url`` said in this process (see :func:`database_url_given`).
_GIVEN_DATABASE_URLS: list[str] = []
#: Proxies may be written with a user and password; the proxy's address is no secret.
_PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                    "ALL_PROXY")
#: The password of a URL as SQLAlchemy reads it: everything between the user's ``:`` and
#: the last ``@`` before the host, so ``#``, ``/`` and ``?`` may be in it (urlsplit stops
#: at them).
_PASSWORD = re.compile(r"^[\w+.-]+://[^:/@]*:(?P<password>.*)@[^@]*$", re.S)


def _passwords(*urls: str | None) -> list[str]:
    """The passwords in ``urls`` (the ledger's database, proxies), as written and
    percent-decoded."""
    from urllib.parse import unquote

    found: list[str] = []
    for url in urls:
        if url and (match := _PASSWORD.match(url.strip())) and match["password"]:
            found += [match["password"], unquote(match["password"])]
    return found


#: What :func:`smokeseal.checks.base.shorten` puts where it cut a text.
ELLIPSIS = "\u2026"


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret in it replaced by ``***``.

    Each secret is looked for as it is, percent-encoded (as in a URL, ``quote`` with and
    without ``/`` kept, and a form's ``quote_plus``) and with its runs of whitespace made one
    space (as ``shorten`` does). Text is often cut short before it reaches here (a note's
    URL, a header's value): the start of any of those forms, at least
    :data:`MIN_SECRET_LENGTH` characters long, right before the ellipsis a cut leaves, is a
    secret too.
    """
    if not secrets:
        return text
    forms = _forms(tuple(secrets))
    for form in forms:
        text = text.replace(form, "***")
    if ELLIPSIS in text:
        text = _scrub_cut(text, forms)
    return text


@lru_cache(maxsize=16)
def _forms(secrets: tuple[str, ...]) -> tuple[str, ...]:
    """Every way a secret may be written in a text, longest first."""
    found: set[str] = set()
    for secret in secrets:
        found.update((secret, quote(secret, safe=""), quote(secret), quote_plus(secret, safe=""),
                      " ".join(secret.split())))
    return tuple(sorted((f for f in found if len(f) >= MIN_SECRET_LENGTH),
                        key=lambda f: (-len(f), f)))


def _scrub_cut(text: str, forms: Sequence[str]) -> str:
    """``text`` with the start of a secret that ends where it was cut (at an ellipsis)
    replaced by ``***``."""
    parts = text.split(ELLIPSIS)
    for index, part in enumerate(parts[:-1]):
        for form in forms:
            longest = min(len(form) - 1, len(part))
            cut = next((n for n in range(longest, MIN_SECRET_LENGTH - 1, -1)
                        if part.endswith(form[:n])), None)
            if cut is not None:
                parts[index] = part = part[:-cut] + "***"
    return ELLIPSIS.join(parts)


def scrub_all(value: Any, secrets: Sequence[str]) -> Any:
    """:func:`scrub` applied to every string in a JSON-shaped ``value``."""
    if not secrets:
        return value
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, list):
        return [scrub_all(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: scrub_all(v, secrets) for k, v in value.items()}
    return value
