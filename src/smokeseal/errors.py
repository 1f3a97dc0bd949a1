"""Every exception smokeseal raises on purpose.

    SmokesealError                 anything smokeseal means to tell the user about
    ├── UsageError                 a bad argument or unknown name (exit 2)
    │   └── ConfigError            the config file is unreadable or invalid (exit 2)
    ├── ShipError                  the deploy command or the /up gate failed (exit 1)
    ├── BrowserError               no usable browser could be found or launched
    ├── LedgerError                the ledger could not be reached or written (exit 3)
    │   └── LedgerTimeout          it did not answer in time (a lock held, a slow database)
    └── SinkError                  a message could not be delivered (``permanent``: never retry;
                                   ``later``: retry on a later run, not within this one)

Callers catch a family, never a message string. The CLI turns each family into an exit
status in exactly one place (``smokeseal.cli``).
"""

from __future__ import annotations

__all__ = [
    "BrowserError",
    "ConfigError",
    "LedgerError",
    "LedgerTimeout",
    "ShipError",
    "SinkError",
    "SmokesealError",
    "UsageError",
]


class SmokesealError(Exception):
    """Base for errors that carry a message fit to show the user as it is."""

    exit_code = 1


class UsageError(SmokesealError):
    """A command-line argument, app name, suite name or release reference is wrong."""

    exit_code = 2


class ConfigError(UsageError):
    """The config file cannot be read, parsed or validated.

    ``str()`` is one line: ``FILE:LINE: KEY: what is wrong``, line where YAML gives one.
    """

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None,
                 line: int | None = None) -> None:
        self.path = path
        self.key = key
        self.line = line
        where = path or "config"
        if line is not None:
            where = f"{where}:{line}"
        text = f"{where}: {key}: {message}" if key else f"{where}: {message}"
        super().__init__(text)


class ShipError(SmokesealError):
    """The deploy failed or the app never became healthy; the release stays assembled."""


class BrowserError(SmokesealError):
    """No browser could be found or launched for page checks."""


class LedgerError(SmokesealError):
    """The ledger database could not be reached, migrated or written."""

    exit_code = 3


class LedgerTimeout(LedgerError):
    """The ledger gave up waiting: a statement or lock wait outlasted its timeout."""


class SinkError(SmokesealError):
    """A sink could not deliver a message.

    ``permanent`` means retrying cannot help (a 404 webhook); otherwise ``retry_after``
    may say how long the remote side asked us to wait. ``later`` means what is missing
    (a GitHub release not made yet) comes in hours, not seconds: try again after
    ``retry_after`` s on a later run, never by waiting within this one.
    """

    def __init__(self, message: str, *, permanent: bool = False,
                 retry_after: float | None = None, later: bool = False) -> None:
        self.permanent = permanent
        self.retry_after = retry_after
        self.later = later
        super().__init__(message)
