"""``smokeseal doctor``: is everything smokeseal needs in place? Each problem comes with a fix.

Reads only: the config, the environment, the browser's version, the ledger's schema
revision, and GET requests to each app's URL, gate and aliases. It creates nothing (not even
a missing SQLite file) and applies no migration.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from smokeseal.config import App, Config, load_config
from smokeseal.errors import BrowserError, ConfigError, LedgerError, UsageError
from smokeseal.yamlfile import EnvRef, env_references

__all__ = ["Finding", "check_apps", "check_browser", "check_config", "check_ledger",
           "diagnose"]

#: What a missing ${VAR} is replaced with while the rest of the config is validated.
_STAND_IN = "https://unset.invalid/"


@dataclass(frozen=True)
class Finding:
    area: str
    ok: bool
    message: str
    fix: str | None = None


def diagnose(config_path: Path, database_url: str | None,
             environ: Mapping[str, str] | None = None) -> list[Finding]:
    """Every finding, in the order an operator would fix them."""
    environ = os.environ if environ is None else environ
    findings, config = check_config(config_path, environ)
    if config is None:
        return findings
    findings += check_browser(config, environ)
    findings += check_ledger(config, database_url, environ)
    findings += asyncio.run(check_apps(config))
    return findings


def check_config(path: Path, environ: Mapping[str, str]
                 ) -> tuple[list[Finding], Config | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [Finding("config", False, f"{path}: no such file",
                        "smokeseal init URL writes one (or pass --config)")], None
    except (OSError, UnicodeDecodeError) as exc:
        return [Finding("config", False, f"{path}: cannot read: {exc}")], None
    try:
        refs = env_references(text, str(path))
    except ConfigError as exc:
        return [Finding("config", False, str(exc), f"fix the YAML at {_where(exc)}")], None
    missing = [ref for ref in refs if ref.default is None and ref.name not in environ]
    findings = [_missing_finding(ref, path) for ref in missing]
    try:
        config = load_config(path, {**environ, **{ref.name: _STAND_IN for ref in missing}})
    except ConfigError as exc:
        if exc.key in {ref.key for ref in missing}:
            return findings, None  # already said: the variable is not set
        return [*findings, Finding("config", False, str(exc),
                                   f"edit {_where(exc)}; see README 'Config'")], None
    checks = sum(len(config.suite_for(name)) for name in config.apps)
    findings.insert(0, Finding("config", True, f"{path}: {len(config.apps)} "
                               f"app{'s' * (len(config.apps) != 1)}, {checks} checks"))
    named = sorted({ref.name for ref in refs} - {ref.name for ref in missing})
    if named and not missing:
        findings.insert(1, Finding("env", True, "every ${VAR} is set: " + ", ".join(named)))
    # Missing variables are reported; the rest is still checked, with stand-ins for them.
    return findings, config


def _where(exc: ConfigError) -> str:
    return f"{exc.path}:{exc.line}" if exc.line else str(exc.path)


def _missing_finding(ref: EnvRef, path: Path) -> Finding:
    at = f"{path}:{ref.line}" if ref.line else str(path)
    return Finding("env", False, f"${{{ref.name}}} is not set (used by {ref.key} at {at})",
                   f"export {ref.name}=… where smokeseal runs, or write "
                   f"${{{ref.name}:-default}} in the config")


def check_browser(config: Config, environ: Mapping[str, str]) -> list[Finding]:
    from smokeseal.checks.browser import find_browser

    needs = any(check.kind == "page" for name in config.apps for check in
                config.suite_for(name))
    try:
        executable = find_browser(environ)
    except BrowserError as exc:
        if not needs:
            return [Finding("browser", True, "none found, and no suite has page checks")]
        return [Finding("browser", False, str(exc),
                        "apt-get install chromium (or set SMOKESEAL_BROWSER to a Chromium)")]
    try:
        done = subprocess.run([executable, "--version"], capture_output=True, text=True,
                              timeout=20, check=False, stdin=subprocess.DEVNULL)
        version = (done.stdout.strip().splitlines() or ["?"])[0]
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [Finding("browser", False, f"{executable} does not run: {exc}",
                        "reinstall it, or set SMOKESEAL_BROWSER to a working Chromium")]
    return [Finding("browser", True, f"{executable} ({version})")]


def check_ledger(config: Config, database_url: str | None,
                 environ: Mapping[str, str]) -> list[Finding]:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from smokeseal.ledger import HEAD_REVISION, Ledger, database_url_for

    url = database_url_for(database_url, environ.get("SMOKESEAL_DATABASE_URL"),
                           config.database_url, config.base_dir)
    try:
        parsed = make_url(url)
    except ArgumentError:
        return [Finding("ledger", False, f"cannot parse the database URL {url!r}",
                        "use sqlite:///PATH or postgresql://user@host/db")]
    if parsed.get_backend_name() == "sqlite" and parsed.database and \
            not Path(parsed.database).exists():
        return [Finding("ledger", True, f"{url}: not created yet; the first release creates "
                        "it")]
    try:
        with Ledger(url, migrate=False) as ledger:
            shown = ledger.display_url
            revision = ledger.revision()
    except (LedgerError, UsageError) as exc:
        return [Finding("ledger", False, str(exc),
                        "check --database-url / $SMOKESEAL_DATABASE_URL / database_url:, and "
                        "that the database server is running")]
    if revision == HEAD_REVISION:
        return [Finding("ledger", True, f"{shown} at revision {revision} (current)")]
    if revision is None:
        return [Finding("ledger", True, f"{shown}: empty; migrations are applied on first "
                        "use")]
    if revision < HEAD_REVISION:
        return [Finding("ledger", False, f"{shown} at revision {revision}, behind "
                        f"{HEAD_REVISION}", "smokeseal db upgrade (or any command that "
                        "writes applies it)")]
    return [Finding("ledger", False, f"{shown} at revision {revision}, newer than this "
                    f"smokeseal ({HEAD_REVISION})", "upgrade smokeseal on this machine")]


# --- apps, their gate and their aliases -------------------------------------------------

@dataclass(frozen=True)
class _Look:
    """What one GET saw: enough to tell two apps apart."""

    url: str
    final: str
    status: int | None
    title: str
    lines: frozenset[str]
    error: str | None = None

    @property
    def origin(self) -> str:
        return _origin(self.final)


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)


async def _look(client: httpx.AsyncClient, url: str) -> _Look:
    from smokeseal.checks.http import describe_http_error

    try:
        response = await client.get(url)
    except httpx.HTTPError as exc:
        return _Look(url, url, None, "", frozenset(), describe_http_error(exc))
    text = response.text[:200_000]
    match = _TITLE.search(text)
    # Production's text, bound for a terminal: no control sequences (ESC, BEL, …).
    title = "".join(ch for ch in " ".join(html.unescape(match.group(1)).split())
                    if ch.isprintable()) if match else ""
    lines = frozenset(line.strip() for line in text.splitlines() if line.strip())
    return _Look(url, str(response.url), response.status_code, title, lines)


def _same_app(a: _Look, b: _Look) -> bool:
    """Same status class, same title, and most lines in common (tokens and times differ)."""
    if a.status is None or b.status is None or a.status // 100 != b.status // 100:
        return False
    if a.title != b.title:
        return False
    union = a.lines | b.lines
    return not union or len(a.lines & b.lines) / len(union) >= 0.6


async def check_apps(config: Config) -> list[Finding]:
    from smokeseal.checks.http import read_only_client

    async with read_only_client() as client:
        client.timeout = httpx.Timeout(15.0)
        results = await asyncio.gather(*(_check_app(client, name, app)
                                         for name, app in config.apps.items()))
    return [finding for findings in results for finding in findings]


async def _check_app(client: httpx.AsyncClient, name: str, app: App) -> list[Finding]:
    from smokeseal.checks.base import join_url

    area = f"app {name}"
    if app.url.startswith(_STAND_IN.rstrip("/")):
        return []  # its url is a ${VAR} that is not set: said already
    gate_url = join_url(app.url, app.gate.path)
    canonical, gate, *aliases = await asyncio.gather(
        _look(client, app.url), _look(client, gate_url),
        *(_look(client, alias) for alias in app.aliases))
    if canonical.error:
        return [Finding(area, False, f"{app.url} is unreachable: {canonical.error}",
                        f"check apps.{name}.url, and that production is up")]
    findings = []
    if canonical.origin != _origin(app.url):
        findings.append(Finding(
            area, False, f"{app.url} redirects to {canonical.final}: the suite would test "
            "another host through a redirect",
            f"set apps.{name}.url: {canonical.origin} and list {_origin(app.url)} under "
            "aliases"))
    elif canonical.status is not None and canonical.status >= 500:
        findings.append(Finding(area, False, f"{app.url} answers {canonical.status}",
                                "production is failing right now: look at its logs"))
    else:
        titled = f' ("{canonical.title}")' if canonical.title else ""
        findings.append(Finding(area, True, f"canonical host: {app.url} answers "
                                f"{canonical.status}{titled}"))
    if gate.status == 200:
        findings.append(Finding(area, True, f"gate {app.gate.path} answers 200"))
    else:
        seen = gate.error or f"answers {gate.status}"
        findings.append(Finding(area, False, f"gate {gate_url} {seen}: ship would fail its "
                                "gate", f"set apps.{name}.gate.path to the app's health "
                                "endpoint (one that answers 200 when it is up)"))
    for alias, look in zip(app.aliases, aliases, strict=True):
        findings.append(_alias_finding(name, app, alias, look, canonical))
    if app.version is not None:
        findings.append(await _version_finding(client, name, app))
    return findings


async def _version_finding(client: httpx.AsyncClient, name: str, app: App) -> Finding:
    """Whether the revision production serves can be read the way the config says."""
    from smokeseal.checks.version import read_revision

    assert app.version is not None
    found = await read_revision(client, app.version, app.url, app_urls=app.aliases)
    area = f"app {name}"
    if found.value is None:
        return Finding(area, False, f"version: cannot read the revision served: "
                       f"{found.detail}; every seal would be red",
                       f"point apps.{name}.version at what production serves (a path with a "
                       "JSON key, a header or a pattern), or remove it")
    return Finding(area, True, f"version: production serves {found.value} ({found.detail})")


def _alias_finding(name: str, app: App, alias: str, look: _Look, canonical: _Look) -> Finding:
    area = f"app {name}"
    remove = f"otherwise remove it from apps.{name}.aliases"
    if look.error:
        return Finding(area, False, f"alias {alias} is unreachable: {look.error}",
                       f"point {alias} at {app.url} (a redirect is best); {remove}")
    if look.origin == canonical.origin:
        return Finding(area, True, f"alias {alias} redirects to the canonical host")
    if look.origin != _origin(alias):
        return Finding(area, False, f"alias {alias} redirects to {look.final}, not to the "
                       f"canonical host {app.url}",
                       f"redirect {alias} to {app.url}; {remove}")
    if _same_app(look, canonical):
        return Finding(area, True, f"alias {alias} serves the same app (no redirect: "
                       f"{app.url} stays the one the suite tests)")
    theirs = f'"{look.title}"' if look.title else f"status {look.status}"
    ours = f'"{canonical.title}"' if canonical.title else f"status {canonical.status}"
    return Finding(area, False, f"alias {alias} serves a different app ({theirs}, where "
                   f"{app.url} shows {ours})",
                   f"redirect {alias} to {app.url} or serve the same app there; {remove}")
