"""The environment smokeseal gives the commands it runs (a deploy, a ``command`` check).

Not its own: smokeseal's secrets (the board's token, the ledger's URL with its password, the
variables the config's notify sinks read) stay out, and so do the variables the console
scripts set at start-up to trim their own start (:mod:`smokeseal._startup`), unless the user
had set them. A command that names a variable (``${VAR}`` in its config, ``$VAR`` in its
line) still gets it. Light on purpose: the start-up imports it before anything else.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smokeseal.config import Config

__all__ = ["OWN_SECRET_VARIABLES", "child_environ", "set_for_startup", "withheld_variables"]

#: smokeseal's own secrets, read from its environment, whatever the config says.
OWN_SECRET_VARIABLES = ("DISCORD_WEBHOOK_URL", "GITHUB_TOKEN", "SLACK_BOT_TOKEN",
                        "SMOKESEAL_BOARD_TOKEN", "SMOKESEAL_DATABASE_URL",
                        "SMOKESEAL_METRICS_TOKEN", "SMOKESEAL_WEBHOOK_SECRET",
                        "SMOKESEAL_WEBHOOK_URL")

#: What start-up put into ``os.environ`` that was not there before: name -> value.
_STARTUP: dict[str, str] = {}


def set_for_startup(name: str, value: str) -> None:
    """``os.environ.setdefault`` for a start-up trim, remembered so that no child inherits
    it (a variable the user had set is theirs, and is left alone)."""
    if name not in os.environ:
        os.environ[name] = value
        _STARTUP[name] = value


def withheld_variables(config: Config, environ: Mapping[str, str] | None = None
                       ) -> tuple[str, ...]:
    """The variables of ``environ`` that hold the config's own secrets: those whose
    ``${VAR}`` is in its ``notify:`` or ``database_url``, and any holding a sink's value."""
    environ = os.environ if environ is None else environ
    values = set(_sink_values(config))
    found = dict.fromkeys(config.sink_variables)
    found.update(dict.fromkeys(name for name, value in environ.items() if value in values))
    return tuple(found)


def child_environ(withheld: Iterable[str] = (), *, named: Iterable[str] = (),
                  environ: Mapping[str, str] | None = None,
                  own_secrets: bool = False) -> dict[str, str]:
    """``environ`` (smokeseal's own) without start-up trims, ``withheld`` (see
    :func:`withheld_variables`) and, unless ``own_secrets``, :data:`OWN_SECRET_VARIABLES`;
    ``named``: the variables the command names itself, which it keeps."""
    environ = os.environ if environ is None else environ
    keep = set(named)
    drop = (set(() if own_secrets else OWN_SECRET_VARIABLES) | set(withheld)) - keep
    return {name: value for name, value in environ.items()
            if name not in drop and not (name in _STARTUP and _STARTUP[name] == value)}


def _sink_values(config: Config) -> Iterable[str]:
    """The secret values the config's sinks hold, wherever they came from."""
    for app in config.apps.values():
        if app.notify.discord:
            yield app.notify.discord.webhook_url.get_secret_value()
        if app.notify.github_release:
            yield app.notify.github_release.token.get_secret_value()
        if app.notify.slack:
            yield app.notify.slack.token.get_secret_value()
        if app.notify.webhook:
            yield app.notify.webhook.url.get_secret_value()
            yield app.notify.webhook.secret.get_secret_value()
    if config.database_url and _has_password(config.database_url):
        yield config.database_url


def _has_password(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return True
