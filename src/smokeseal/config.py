"""The ``smokeseal.yml`` file: loading, ``${VAR}`` substitution and validation.

Everything here either returns a fully valid :class:`Config` or raises one
:class:`~smokeseal.errors.ConfigError` whose text names the file, the line (where YAML gives
one) and the key at fault. Nothing is half-loaded.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from smokeseal.checks.reads import AllowFailing, Read, parse_allow_failing, parse_read
from smokeseal.errors import ConfigError, UsageError
from smokeseal.yamlfile import Document, KeyPath, read_yaml

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "HEALTH_SUITE",
    "App",
    "BasicAuth",
    "Budget",
    "Check",
    "Compare",
    "CompareSettings",
    "Config",
    "Discord",
    "Expect",
    "GithubRelease",
    "Slack",
    "Suite",
    "VersionSource",
    "Webhook",
    "find_config_path",
    "load_config",
    "normalise_url",
    "parse_config",
]

DEFAULT_CONFIG_NAME = "smokeseal.yml"
_NAMED_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_APP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_MENTION = re.compile(r"^<@&?\d+>$")
_SLACK_CHANNEL = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_SLACK_OPERATOR = re.compile(r"^[UWS][A-Z0-9]{2,}$")
#: An HTTP header or cookie name: RFC 9110's token.
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
#: Headers the HTTP stack owns, or that have a key of their own (cookies:, basic_auth:).
_NOT_A_HEADER = {"host", "content-length", "transfer-encoding", "connection", "cookie",
                 "upgrade", "te", "trailer", "keep-alive"}


def _valid_read(entry: str) -> str:
    parse_read(entry)
    return entry


#: One entry of ``reads:`` (see :mod:`smokeseal.checks.reads`), validated where it is written.
ReadEntry = Annotated[str, AfterValidator(_valid_read)]


class _Model(BaseModel):
    # strict: a YAML "10" is not silently a number; forbid: a typo is an error, not a no-op.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Expect(_Model):
    """What a check must observe. Which keys apply depends on the check's kind."""

    status: int | list[int] | None = None
    selector: str | None = None
    text: str | None = None
    title: str | None = None
    not_text: str | list[str] | None = None
    header: dict[str, str] | None = None
    max_ms: PositiveInt | None = None
    no_writes: bool = False
    error_shell: bool = False
    #: A check that is meant to leave the app (a sign-in page on an SSO host) names where
    #: it must end: a URL prefix or a bare host. Without it, ending on another host fails.
    redirect_to: str | None = None
    #: page only: how long the page is watched after its content showed (a crash, an error
    #: shell, the content lost); a quiet page ends the watch early.
    settle_ms: int | None = Field(default=None, ge=0, le=60_000)
    #: page only: same-origin requests whose failure, or refusal by the guard, is expected
    #: (``GET /api/optional*``, ``WEBSOCKET /live``).
    allow_failing: list[str] = Field(default_factory=list)

    @field_validator("allow_failing")
    @classmethod
    def _allow_failing(cls, value: list[str]) -> list[str]:
        for entry in value:
            parse_allow_failing(entry)
        return value

    def allowed_failures(self) -> tuple[AllowFailing, ...]:
        return tuple(parse_allow_failing(entry) for entry in self.allow_failing)

    @field_validator("not_text")
    @classmethod
    def _not_text(cls, value: str | list[str] | None) -> str | list[str] | None:
        texts = [value] if isinstance(value, str) else (value or [])
        if isinstance(value, list) and not value:
            raise ValueError("must list at least one text")
        if any(not t for t in texts):
            raise ValueError("an empty text is on every page; give the text that must be absent")
        return value

    @field_validator("redirect_to")
    @classmethod
    def _redirect_to(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "://" not in value and not re.fullmatch(r"[A-Za-z0-9.-]+", value):
            raise ValueError(f"{value!r}: give a bare host (sso.example.com) or a URL prefix "
                             "with its scheme (https://sso.example.com:8443/login)")
        target = value if "://" in value else f"https://{value}"
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not a host or an absolute http(s) URL")
        return value

    def absent_texts(self) -> tuple[str, ...]:
        if self.not_text is None:
            return ()
        return (self.not_text,) if isinstance(self.not_text, str) else tuple(self.not_text)

    @field_validator("status")
    @classmethod
    def _status_codes(cls, value: int | list[int] | None) -> int | list[int] | None:
        codes = [value] if isinstance(value, int) else (value or [])
        for code in codes:
            if not 100 <= code <= 599:
                raise ValueError(f"{code} is not an HTTP status code (100-599)")
        if isinstance(value, list) and not value:
            raise ValueError("must list at least one status code")
        return value

    def statuses(self) -> tuple[int, ...] | None:
        if self.status is None:
            return None
        return (self.status,) if isinstance(self.status, int) else tuple(self.status)


def _no_line_break(what: str, value: str) -> None:
    # A pasted secret often ends in a newline; the value itself is never shown.
    if any(c in value for c in "\r\n\x00"):
        raise ValueError(f"{what}: the value contains a line break or NUL (a pasted secret "
                         "with a trailing newline?); strip it")


def _valid_headers(value: dict[str, str]) -> dict[str, str]:
    for name, text in value.items():
        if not _TOKEN.match(name):
            raise ValueError(f"{name!r} is not a valid header name (letters, digits and "
                             "!#$%&'*+.^_`|~- only)")
        if name.lower() in _NOT_A_HEADER:
            hint = " (use cookies:)" if name.lower() == "cookie" else ""
            raise ValueError(f"header {name!r} cannot be set{hint}")
        _no_line_break(f"header {name!r}", text)
    return value


def _valid_cookies(value: dict[str, str]) -> dict[str, str]:
    for name, text in value.items():
        if not _TOKEN.match(name):
            raise ValueError(f"{name!r} is not a valid cookie name")
        _no_line_break(f"cookie {name!r}", text)
        if ";" in text or "," in text or any(c.isspace() for c in text):
            raise ValueError(f"cookie {name!r}: the value must not contain ';', ',' or "
                             "spaces")
    return value


def _app_path(value: str) -> str:
    # "@evil.example/up" joined to the app's url would name another host.
    if not value.startswith("/"):
        raise ValueError(f"{value!r} must be a path on the app's url starting with '/'")
    return value


#: A path on the app's url (the gate's, the version source's).
AppPath = Annotated[str, AfterValidator(_app_path)]


def _signin_path(value: str) -> str:
    if not value.startswith("/") or "?" in value or "#" in value:
        raise ValueError(f"{value!r} must be a path starting with '/' (no query): where the "
                         "app sends a visitor without a session, such as /admin/login")
    return value


#: One of ``signin_path:``: a path where the app sends a visitor who has no session.
SigninPath = Annotated[str, AfterValidator(_signin_path)]
#: Days before a certificate's expiry from which the seal carries a note (0: never).
CertWarnDays = Annotated[int, Field(ge=0, le=3650)]
#: ``headers:`` and ``cookies:`` of an app or a check, validated where they are written.
Headers = Annotated[dict[str, str], AfterValidator(_valid_headers)]
Cookies = Annotated[dict[str, str], AfterValidator(_valid_cookies)]


class BasicAuth(_Model):
    """HTTP basic auth, sent preemptively to the app's origins only."""

    username: str
    password: SecretStr

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        _no_line_break("username", value)
        if ":" in value:
            raise ValueError("a basic auth username cannot contain ':'")
        return value

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretStr) -> SecretStr:
        _no_line_break("password", value.get_secret_value())
        return value


class Compare(_Model):
    """How a seal is compared with the app's recent green seals (see
    :mod:`smokeseal.compare`); unset keys come from the config's top-level ``compare:``,
    then the defaults."""

    #: How many of the last green seals (on the same canonical URL) the baseline is the
    #: median of.
    last: int | None = Field(default=None, ge=1, le=50)
    #: A figure regresses at this many times its baseline ...
    ratio: float | None = Field(default=None, gt=1, le=1000)
    #: ... and at least this many ms more.
    floor_ms: int | None = Field(default=None, ge=0, le=600_000)


class Budget(_Model):
    """What a check may not exceed: past it, the check fails (a regression alone is a
    note). Given per app, and per check over the app's, key by key."""

    #: page only: largest contentful paint, and time to the document's first byte, in ms.
    lcp_ms: PositiveInt | None = None
    ttfb_ms: PositiveInt | None = None
    #: A regression (see :class:`Compare`) of this ratio or more fails the check.
    regress: float | None = Field(default=None, gt=1, le=1000)


_PAGE_ONLY = ("selector", "title", "no_writes", "error_shell", "settle_ms", "allow_failing")
_NOT_FOR_COMMAND = ("status", "selector", "text", "not_text", "title", "header", "no_writes",
                    "redirect_to", "error_shell", "settle_ms", "allow_failing")


class Check(_Model):
    """One read-only probe: exactly one of ``get``, ``page`` or ``command``."""

    name: str | None = None
    get: str | None = None
    page: str | None = None
    command: str | None = None
    method: Literal["GET", "HEAD"] = "GET"
    timeout: PositiveFloat | None = None
    #: Tries after a failure (None: the suite's default, else 1). A pass on a retry is
    #: ``flaky``. Command checks run once: their runner has retries of its own.
    retries: int | None = Field(default=None, ge=0, le=5)
    #: get only: False stops at the first answer, so a 3xx and its Location can be asserted.
    follow_redirects: bool = True
    expect: Expect = Field(default_factory=Expect)
    env: dict[str, str] = Field(default_factory=dict)
    junit: str | None = None
    cwd: str | None = None
    #: page only: reads beyond GET and HEAD this page makes, added to its app's ``reads``.
    reads: list[ReadEntry] = Field(default_factory=list)
    #: get and page checks: sent to the app's origins only, merged over the app's.
    headers: Headers = Field(default_factory=dict)
    cookies: Cookies = Field(default_factory=dict)
    #: Over the app's ``budget:``, key by key.
    budget: Budget | None = None

    #: The environment variables whose ``${VAR}`` the config put into this check.
    _variables: tuple[str, ...] = PrivateAttr(default=())

    @property
    def variables(self) -> tuple[str, ...]:
        """The environment variables this check names: ``${VAR}`` substituted into it, and
        ``$VAR`` / ``${VAR}`` left in its command line or ``env`` values for a shell it starts.
        A command check keeps these in its environment even where they are smokeseal's own."""
        texts = [self.command or "", *self.env.values()]
        named = {m.group(1) for text in texts for m in _NAMED_VARIABLE.finditer(text)}
        return tuple(sorted(named | set(self._variables)))

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("get", "page")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(
                f"{value!r} must be a path on the app's url starting with '/'"
                " (checks never leave the canonical host)"
            )
        return value

    @field_validator("command")
    @classmethod
    def _command_line(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                if not shlex.split(value):
                    raise ValueError("is empty")
            except ValueError as exc:
                raise ValueError(f"cannot be split into arguments: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Check:
        kinds = [k for k in ("get", "page", "command") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a check needs exactly one of 'get', 'page' or 'command'"
                             + (f", not {' and '.join(kinds)}" if kinds else ""))
        kind = kinds[0]
        given = self.expect.model_fields_set
        misplaced = {
            "get": [k for k in _PAGE_ONLY if k in given],
            "page": [],
            "command": [k for k in _NOT_FOR_COMMAND if k in given],
        }[kind]
        if misplaced:
            raise ValueError(f"expect.{misplaced[0]} does not apply to a {kind} check")
        if kind == "command":
            for key in ("headers", "cookies"):
                if key in self.model_fields_set:
                    raise ValueError(f"'{key}' applies to get and page checks (give a "
                                     "command check what it needs through env)")
        if kind != "command":
            for key in ("env", "junit", "cwd"):
                if key in self.model_fields_set:
                    raise ValueError(f"'{key}' applies only to command checks")
        if kind != "page" and "reads" in self.model_fields_set:
            raise ValueError(f"'reads' applies only to page checks (a {kind} check only "
                             "reads with GET or HEAD)")
        if kind != "get":
            for key in ("method", "follow_redirects"):
                if key in self.model_fields_set:
                    raise ValueError(f"'{key}' applies only to get checks")
        if kind != "page" and self.budget is not None and (
                measured := [k for k in ("lcp_ms", "ttfb_ms")
                             if getattr(self.budget, k) is not None]):
            raise ValueError(f"budget.{measured[0]} applies only to page checks (only a page "
                             "is measured by the browser)")
        if kind == "command" and "retries" in self.model_fields_set:
            raise ValueError("'retries' applies to get and page checks (a command check's "
                             "own runner retries; its JUnit flaky results are read)")
        return self

    @property
    def kind(self) -> Literal["get", "page", "command"]:
        if self.get is not None:
            return "get"
        if self.page is not None:
            return "page"
        return "command"

    @property
    def parsed_reads(self) -> tuple[Read, ...]:
        return tuple(parse_read(entry) for entry in self.reads)

    @property
    def target(self) -> str:
        """The path (get/page) or command line this check runs."""
        return self.get or self.page or self.command or ""

    @property
    def label(self) -> str:
        return self.name or f"{self.kind} {self.target}"

    @property
    def attempts(self) -> int:
        """How many times the check may run: once, plus its retries (default 1)."""
        if self.kind == "command":
            return 1
        return 1 + (1 if self.retries is None else self.retries)


#: What a 200 that is really an error page says (a framework's or an app's error shell).
#: ``expect.error_shell`` looks for them only on a page with little else to show, so a help
#: page that mentions one is not red.
ERROR_SHELL_TEXTS = ("Internal Server Error", "Application error: a client-side exception",
                     "Something went wrong", "We're sorry, but something went wrong",
                     "An error occurred", "Server Error")

HEALTH_SUITE: tuple[Check, ...] = (
    Check(name="home renders", page="/", expect=Expect(status=200, error_shell=True)),
    Check(name="up", get="/up", expect=Expect(status=200)),
)


class Suite(_Model):
    """A suite written as a mapping: its checks and what they share."""

    retries: int = Field(default=1, ge=0, le=5)
    checks: list[Check]


class VersionSource(_Model):
    """Where production says which revision it serves: exactly one of ``json`` (a dotted
    key in a JSON body), ``header`` (a response header) or ``pattern`` (a regular expression
    with one group, over the body)."""

    path: AppPath = "/version"
    json_key: str | None = Field(default=None, alias="json")
    header: str | None = None
    pattern: str | None = None
    timeout: PositiveFloat = 10

    @field_validator("pattern")
    @classmethod
    def _one_group(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # The same engine the check runs it with (it can give up on a body past a timeout).
        import regex

        try:
            compiled = regex.compile(value)
        except regex.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        if compiled.groups != 1:
            raise ValueError(f"needs exactly one group (it has {compiled.groups}): the "
                             "part that is the revision")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> VersionSource:
        given = [k for k, v in (("json", self.json_key), ("header", self.header),
                                ("pattern", self.pattern)) if v is not None]
        if len(given) != 1:
            raise ValueError("version needs exactly one of 'json', 'header' or 'pattern'"
                             + (f", not {' and '.join(given)}" if given else ""))
        return self


class Gate(_Model):
    path: AppPath = "/up"
    timeout: PositiveFloat = 120
    interval: PositiveFloat = 2



class Discord(_Model):
    webhook_url: SecretStr
    thread_id: str | None = None
    operator: str | None = None

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, value: SecretStr) -> SecretStr:
        # httpx refuses such a URL at send time; say so now, never showing the value.
        if any(c.isspace() or not c.isprintable() for c in value.get_secret_value()):
            raise ValueError("the value contains whitespace or a control character (a pasted "
                             "secret with a trailing newline?); strip it")
        return value

    @field_validator("thread_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: object) -> object:
        # Unquoted snowflakes arrive from YAML as ints; they are identifiers, not numbers.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("operator")
    @classmethod
    def _mention(cls, value: str | None) -> str | None:
        if value is not None and not _MENTION.match(value):
            raise ValueError("must be a user mention <@id> or a role mention <@&id>")
        return value


class GithubRelease(_Model):
    repo: str
    token: SecretStr
    deployment_status: bool = False
    environment: str = "production"
    api_url: str = "https://api.github.com"  # GitHub Enterprise: https://HOST/api/v3
    #: Seconds to keep asking for a release GitHub does not have yet (made after the
    #: deploy, or still a draft), from when the seal was recorded.
    wait_for_release: PositiveFloat = 86400.0

    @field_validator("api_url")
    @classmethod
    def _api(cls, value: str) -> str:
        return normalise_url(value, instead="the token goes in token: ${VAR}")

    @field_validator("repo")
    @classmethod
    def _owner_name(cls, value: str) -> str:
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", value):
            raise ValueError("must be owner/name")
        return value


def _no_whitespace(value: SecretStr) -> SecretStr:
    # httpx refuses such a value at send time; say so now, never showing it.
    if any(c.isspace() or not c.isprintable() for c in value.get_secret_value()):
        raise ValueError("the value contains whitespace or a control character (a pasted "
                         "secret with a trailing newline?); strip it")
    return value


#: Hosts a sink may be reached on over plain http: a stand-in on this machine.
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _https_url(value: SecretStr) -> SecretStr:
    """An absolute https URL (http only to this machine), checked without showing it: the
    whole URL is the secret."""
    _no_whitespace(value)
    try:
        parts = urlsplit(value.get_secret_value())
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValueError("is not a valid URL (its value is not shown: it is a secret)") from None
    if not host or parts.scheme not in ("http", "https"):
        raise ValueError("must be an absolute https:// URL (its value is not shown: it is a "
                         "secret)")
    if parts.scheme == "http" and host not in _LOOPBACK:
        raise ValueError("must use https:// (plain http only to 127.0.0.1 or localhost); "
                         "the signed seal and the URL would travel in the clear")
    return value


class Slack(_Model):
    """Slack's Web API with a bot token (``chat:write``), posting to one channel."""

    token: SecretStr
    channel: str
    #: A user (``U…``/``W…``) or a user group (``S…``) mentioned on the red alert.
    operator: str | None = None
    api_url: str = "https://slack.com/api"

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        return _no_whitespace(value)

    @field_validator("channel")
    @classmethod
    def _channel_id(cls, value: str) -> str:
        if not _SLACK_CHANNEL.match(value):
            raise ValueError("must be a channel id such as C0123456789 (in Slack: the "
                             "channel's details, at the bottom), not its name")
        return value

    @field_validator("operator")
    @classmethod
    def _operator_id(cls, value: str | None) -> str | None:
        if value is not None and not _SLACK_OPERATOR.match(value):
            raise ValueError("must be a user id (U0123456789) or a user group id "
                             "(S0123456789), not a name or a <@mention>")
        return value

    @field_validator("api_url")
    @classmethod
    def _api(cls, value: str) -> str:
        return normalise_url(value, instead="the token goes in token: ${VAR}")

    @property
    def mention(self) -> str | None:
        """How the alert mentions ``operator``: ``<@U…>`` or ``<!subteam^S…>``."""
        if self.operator is None:
            return None
        if self.operator.startswith("S"):
            return f"<!subteam^{self.operator}>"
        return f"<@{self.operator}>"


class Webhook(_Model):
    """Any HTTPS endpoint: the seal record, signed with HMAC-SHA256 of ``secret``."""

    url: SecretStr
    secret: SecretStr

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        return _https_url(value)

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        _no_whitespace(value)
        if len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (a random string, e.g. "
                             "`openssl rand -hex 32`)")
        return value


class Notify(_Model):
    discord: Discord | None = None
    github_release: GithubRelease | None = None
    slack: Slack | None = None
    webhook: Webhook | None = None


class App(_Model):
    url: str
    aliases: list[str] = Field(default_factory=list)
    release_branch: str = "main"
    deploy: str | None = None
    deploy_timeout: PositiveFloat = 1800
    gate: Gate = Field(default_factory=Gate)
    suite: str | list[Check] | Suite | None = None
    notify: Notify = Field(default_factory=Notify)
    #: How to read the revision production serves; the gate waits for it, the seal checks it.
    version: VersionSource | None = None
    #: The whole run's budget, seconds: past it, what has not answered is failed.
    seal_timeout: PositiveFloat = 300
    #: What the app's pages read beyond GET and HEAD (Dash callbacks, GraphQL queries, a
    #: Streamlit socket): only these pass the page guard, to the app's own origin.
    reads: list[ReadEntry] = Field(default_factory=list)

    @property
    def parsed_reads(self) -> tuple[Read, ...]:
        return tuple(parse_read(entry) for entry in self.reads)
    #: Sent only to the app's own origins (its url, or --url, and its aliases).
    headers: Headers = Field(default_factory=dict)
    cookies: Cookies = Field(default_factory=dict)
    basic_auth: BasicAuth | None = None
    #: The commands printed on red, as templates (``kamal rollback {last_green.version}``);
    #: unset: ``release abandon`` and ``git revert``. smokeseal runs none of them.
    rollback: list[str] | None = None
    #: Where the app sends a visitor without a session: a get or page check that expects a
    #: 2xx and gets there only by a redirect to one of these fails (its session expired).
    #: Unset: /login, /signin, /accounts/login, /users/sign_in, /admin/login and any path
    #: holding "login" or "signin"; ``[]`` turns the judgement off.
    signin_path: list[SigninPath] | None = None
    #: Overrides the config's ``cert_warn_days`` for this app.
    cert_warn_days: CertWarnDays | None = None
    #: Over the config's ``compare:``, key by key.
    compare: Compare | None = None
    #: Every check's budget, unless the check's own ``budget:`` sets the key.
    budget: Budget | None = None

    _deploy_written: str | None = PrivateAttr(default=None)
    _rollback_written: tuple[str, ...] | None = PrivateAttr(default=None)

    @property
    def rollback_as_written(self) -> list[str] | None:
        """The rollback templates with their ``${VAR}``s unsubstituted: they are printed and
        published, and the operator's shell fills the variables when they are pasted."""
        return list(self._rollback_written) if self._rollback_written else self.rollback

    @field_validator("rollback")
    @classmethod
    def _rollback_templates(cls, value: list[str] | None) -> list[str] | None:
        from smokeseal.rollback import placeholders_in

        if value is None:
            return None
        if not value:
            raise ValueError("list at least one command, or leave rollback out for the default")
        for template in value:
            if not template.strip():
                raise ValueError("a rollback command must not be empty")
            if any(ord(c) < 32 or ord(c) == 127 for c in template):
                raise ValueError("a rollback command is one line, without control characters")
            placeholders_in(template)
        return value

    @property
    def deploy_as_written(self) -> str | None:
        """The deploy command as the config writes it, ``${VAR}``s unsubstituted: what is
        shown (a secret in the deploy line must not reach a terminal or a CI log)."""
        return self._deploy_written if self._deploy_written is not None else self.deploy

    @field_validator("url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return normalise_url(value)

    @field_validator("aliases")
    @classmethod
    def _alias_urls(cls, value: list[str]) -> list[str]:
        return [normalise_url(v) for v in value]


class Config(_Model):
    database_url: str | None = None
    evidence_dir: str | None = None
    #: Run folders under the evidence root older than this are removed at the end of each
    #: run (and by ``smokeseal evidence prune``).
    evidence_keep_days: PositiveInt = 30
    #: ``on-failure``: a failed page check keeps a Playwright trace beside its screenshot;
    #: ``off``: no page check is traced.
    trace: Literal["on-failure", "off"] = "on-failure"
    #: CA certificates (PEM) that production's TLS chains to, for the browser and HTTP
    #: checks alike; relative to the config file. Wins over ``$SSL_CERT_FILE``.
    ca_file: str | None = None
    #: ``public``: the board serves ``/badge/{app}.svg`` without its token (README badges);
    #: nothing else opens. ``$SMOKESEAL_PUBLIC_BADGES`` (1 or 0), when set, wins.
    badges: Literal["public", "private"] = "private"
    #: A seal notes each https origin of an app whose certificate expires within this many
    #: days (0: never); an app's own ``cert_warn_days`` wins.
    cert_warn_days: CertWarnDays = 14
    #: How every app's seals are compared with its recent green ones.
    compare: Compare | None = None
    apps: dict[str, App]
    suites: dict[str, list[Check] | Suite] = Field(default_factory=dict)

    _path: Path | None = PrivateAttr(default=None)
    _check_secrets: tuple[str, ...] = PrivateAttr(default=())
    _sink_variables: tuple[str, ...] = PrivateAttr(default=())

    @property
    def check_secrets(self) -> tuple[str, ...]:
        """``${VAR}`` values used in an app's config or a suite, but for the app's ``url``,
        ``aliases`` and ``release_branch`` (which every result shows): a header, a cookie,
        basic auth, a ``?token=`` in a path, a command check's env or command line. Each
        may come back in what production or a command prints, so all are scrubbed."""
        return self._check_secrets

    @property
    def sink_variables(self) -> tuple[str, ...]:
        """The environment variables whose ``${VAR}`` the config puts in an app's
        ``notify:`` (webhook URLs, tokens) or in ``database_url``: smokeseal's own secrets,
        which no command it runs is given unless that command names them."""
        return self._sink_variables

    @property
    def ca_path(self) -> Path | None:
        """``ca_file`` resolved against the config's folder, else ``$SSL_CERT_FILE``."""
        if self.ca_file:
            path = Path(self.ca_file)
            return path if path.is_absolute() else self.base_dir / path
        env = os.environ.get("SSL_CERT_FILE")
        return Path(env) if env else None

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def base_dir(self) -> Path:
        """Relative paths in the config (junit files, evidence) resolve against this."""
        return self._path.parent if self._path else Path.cwd()

    @property
    def evidence_root(self) -> Path:
        """The folder under which every run keeps its evidence; the board serves only this."""
        root = Path(self.evidence_dir) if self.evidence_dir else Path(".smokeseal/evidence")
        return root if root.is_absolute() else self.base_dir / root

    def app(self, name: str) -> App:
        try:
            return self.apps[name]
        except KeyError:
            known = ", ".join(sorted(self.apps)) or "none"
            raise UsageError(f"unknown app {name!r} (apps in {self._where()}: {known})") from None

    def cert_warn_days_for(self, name: str) -> int:
        """Days before a certificate of app ``name`` expires from which its seal notes it."""
        own = self.app(name).cert_warn_days
        return self.cert_warn_days if own is None else own

    def compare_for(self, name: str) -> CompareSettings:
        """App ``name``'s comparison settings: its own keys, then the config's, then the
        defaults."""
        layers = [c for c in (self.app(name).compare, self.compare) if c is not None]

        def pick(key: str, default: float) -> float:
            return next((getattr(c, key) for c in layers if getattr(c, key) is not None),
                        default)

        return CompareSettings(int(pick("last", DEFAULT_LAST)),
                               float(pick("ratio", DEFAULT_RATIO)),
                               int(pick("floor_ms", DEFAULT_FLOOR_MS)))

    def budgets_for(self, name: str) -> dict[str, Budget]:
        """The budget of each of app ``name``'s checks that has one, by label: the check's
        keys over the app's."""
        app_budget = self.app(name).budget
        budgets = {}
        for check in self.suite_for(name):
            layers = [b for b in (check.budget, app_budget) if b is not None]
            if not layers:
                continue
            merged = {key: next((getattr(b, key) for b in layers
                                 if getattr(b, key) is not None), None)
                      for key in Budget.model_fields}
            if check.kind != "page":  # only a page is measured: the app's vitals keys skip it
                merged.update(lcp_ms=None, ttfb_ms=None)
            if any(value is not None for value in merged.values()):
                budgets[check.label] = Budget(**merged)
        return budgets

    def suite_for(self, name: str) -> tuple[Check, ...]:
        """The checks app ``name`` runs, in order, each with its ``retries`` settled."""
        suite = self.app(name).suite
        if isinstance(suite, str):
            # "health" by name when not defined; other names were rejected at load time.
            suite = self.suites.get(suite)
        if suite is None:
            return HEALTH_SUITE
        if isinstance(suite, Suite):
            return tuple(_with_retries(c, suite.retries) for c in suite.checks)
        return tuple(suite)

    def _where(self) -> str:
        return str(self._path) if self._path else "config"


#: The defaults of ``compare:`` (see :class:`Compare`).
DEFAULT_LAST = 5
DEFAULT_RATIO = 1.5
DEFAULT_FLOOR_MS = 300


@dataclass(frozen=True)
class CompareSettings:
    """``compare:`` with every key settled (see :meth:`Config.compare_for`)."""

    last: int = DEFAULT_LAST
    ratio: float = DEFAULT_RATIO
    floor_ms: int = DEFAULT_FLOOR_MS


def _with_retries(check: Check, retries: int) -> Check:
    if check.retries is not None or check.kind == "command":
        return check
    return check.model_copy(update={"retries": retries})


#: What to do instead of a user name and password in a URL (they would be shown wherever
#: the URL is, and ``url`` is never redacted).
USE_BASIC_AUTH = "use basic_auth: {username: ..., password: ${VAR}} instead"


def normalise_url(value: str, *, instead: str = USE_BASIC_AUTH) -> str:
    """Check ``value`` is an absolute http(s) base URL; drop a trailing slash.

    A URL with a user name or password in it is refused, and no error shows the value's
    host part or query as given: either may hold a ``${VAR}``'s value.
    """
    try:
        parts = urlsplit(value)
    except ValueError:  # its own text quotes the host, which may hold a ${VAR}'s value
        raise ValueError("is not a valid URL: its host cannot be read") from None
    if "@" in parts.netloc:
        raise ValueError(f"must not hold a user name or password: {instead}")
    shown = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{shown!r} is not an absolute http(s) URL")
    if parts.query or parts.fragment:
        raise ValueError(f"{shown!r} must not have a query or fragment")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValueError(f"{shown!r} has an invalid port") from None
    return value.rstrip("/")


def find_config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--config``, then ``$SMOKESEAL_CONFIG``, then ``./smokeseal.yml``."""
    if explicit:
        return Path(explicit)
    if env := os.environ.get("SMOKESEAL_CONFIG"):
        return Path(env)
    return Path.cwd() / DEFAULT_CONFIG_NAME


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    """Read, substitute and validate the config at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file (pass --config or set SMOKESEAL_CONFIG)",
                          path=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", path=str(path)) from None
    config = parse_config(text, source=str(path), environ=environ)
    config._path = path.resolve()
    if config.ca_file and not (ca := config.ca_path or Path()).is_file():
        raise ConfigError(f"no such file: {ca}", path=str(path), key="ca_file")
    return config


def parse_config(text: str, *, source: str = DEFAULT_CONFIG_NAME,
                 environ: Mapping[str, str] | None = None) -> Config:
    """Validate config ``text``; ``source`` is the name used in error messages."""
    document = read_yaml(text, source, os.environ if environ is None else environ)
    if not isinstance(document.data, dict):
        raise ConfigError("must be a mapping with an 'apps' key", path=source, line=1)
    try:
        config = Config.model_validate(document.data)
    except ValidationError as exc:
        raise document.validation_error(exc, _all_field_names()) from None
    _check_cross_references(config, document)
    config._check_secrets = tuple(
        value for at, value in document.substituted if _may_be_secret(at))
    config._sink_variables = tuple(dict.fromkeys(
        name for at, name in document.variables if _is_sink(at)))
    for name, app in config.apps.items():
        app._deploy_written = document.written.get(("apps", name, "deploy"))
        if app.rollback:
            app._rollback_written = tuple(
                document.written.get(("apps", name, "rollback", index), template)
                for index, template in enumerate(app.rollback))
    return config


#: Where a ``${VAR}`` is no secret: every result shows the app's address and branch.
_SHOWN_KEYS = ("url", "aliases", "release_branch")


def _is_sink(at: KeyPath) -> bool:
    return at[:1] == ("database_url",) or (
        at[:1] == ("apps",) and len(at) > 2 and at[2] == "notify")


def _may_be_secret(at: KeyPath) -> bool:
    if at[:1] == ("suites",):
        return True
    return at[:1] == ("apps",) and len(at) > 2 and at[2] not in _SHOWN_KEYS


def _all_field_names() -> set[str]:
    names: set[str] = set()
    for model in (Expect, Check, Suite, VersionSource, Gate, Discord, GithubRelease, Slack,
                  Webhook, Notify, BasicAuth, App, Config, Compare, Budget):
        names.update(model.model_fields)
    names.add("json")
    return names


def _check_cross_references(config: Config, document: Document) -> None:
    for app_name, app in config.apps.items():
        if not _APP_NAME.match(app_name):
            raise document.error("app names may use letters, digits, '.', '_' and '-' only",
                                 ("apps", app_name))
        suite = app.suite
        if isinstance(suite, str) and suite not in config.suites and suite != "health":
            known = ", ".join(sorted([*config.suites, "health"]))
            raise document.error(f"unknown suite {suite!r} (known: {known})",
                                 ("apps", app_name, "suite"))
    suites: list[tuple[KeyPath, list[Check] | Suite]] = [
        (("suites", name), checks) for name, checks in config.suites.items()
    ] + [
        (("apps", name, "suite"), app.suite)
        for name, app in config.apps.items() if isinstance(app.suite, list | Suite)
    ]
    for at, suite in suites:
        checks = suite.checks if isinstance(suite, Suite) else suite
        if isinstance(suite, Suite):
            at = (*at, "checks")
        if not checks:
            raise document.error("a suite needs at least one check", at)
        seen: set[str] = set()
        users = [a for a in config.apps.values()
                 if a.version is not None and (a.suite is suite or (
                     isinstance(a.suite, str) and config.suites.get(a.suite) is suite))]
        for index, check in enumerate(checks):
            if users and check.label == "version":
                raise document.error("'version' is the name of the built-in check of the "
                                     "app's version: source; give this check another name",
                                     (*at, index, "name"))
            if check.label in seen:
                raise document.error(f"duplicate check name {check.label!r}", (*at, index))
            seen.add(check.label)
            where = (*at, index)
            check._variables = tuple(dict.fromkeys(
                name for path, name in document.variables if path[:len(where)] == where))
