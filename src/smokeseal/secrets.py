"""The secrets a config holds, and taking them out of text before it is kept or shown.

Webhook URLs and tokens come from the environment and must never reach logs, the ledger or
the board; text smokeseal keeps (delivery errors, a command check's output) goes through
:func:`scrub` first.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smokeseal.config import Config

__all__ = ["MIN_SECRET_LENGTH", "scrub", "scrub_all", "secrets_of"]

#: Environment variables of smokeseal's own that hold secrets.
_SECRET_VARIABLES = ("SMOKESEAL_BOARD_TOKEN",)
#: Shorter values are not scrubbed: hiding every "1" or "on" (a ``${DEBUG}`` header, say)
#: would wreck every text around it, and a secret that short protects nothing anyway.
MIN_SECRET_LENGTH = 4


def secrets_of(config: Config, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret value the config (and smokeseal's environment) holds, longest first."""
    environ = os.environ if environ is None else environ
    found: list[str] = [environ.get(name, "") for name in _SECRET_VARIABLES]
    found += config.check_secrets
    for app in config.apps.values():
        if app.notify.discord:
            url = app.notify.discord.webhook_url.get_secret_value()
            found += [url, url.rstrip("/").rsplit("/", 1)[-1]]
        if app.notify.github_release:
            found.append(app.notify.github_release.token.get_secret_value())
        if app.basic_auth:
            # The password, and the header a page that echoes its request would show.
            password = app.basic_auth.password.get_secret_value()
            pair = f"{app.basic_auth.username}:{password}".encode()
            found += [password, base64.b64encode(pair).decode()]
    # An app's own URL is no secret, and hiding it would hide every result's address.
    urls = {url for app in config.apps.values() for url in (app.url, *app.aliases)}
    return sorted({s for s in found if len(s) >= MIN_SECRET_LENGTH and s.rstrip("/") not in urls},
                  key=len, reverse=True)


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret in it replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


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
