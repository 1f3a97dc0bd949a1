"""``smokeseal doctor``: is everything smokeseal needs in place? Each problem comes with a fix.

Reads only: the config, the environment, the browser's version, the ledger's schema
revision, and GET requests to each app's URL, gate and aliases, made with the checks' own
client (the config's ``ca_file``, the environment's proxies, the app's headers and cookies
to its own origins, redirects followed only on the app's hosts), and the gate polled with
``ship``'s own code. It creates nothing (not even a missing SQLite file) and applies no
migration.
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
from typing import TYPE_CHECKING

import httpx

from smokeseal.access import Access
from smokeseal.config import App, Config, load_config
from smokeseal.errors import BrowserError, ConfigError, LedgerError, UsageError
from smokeseal.yamlfile import EnvRef, env_references

if TYPE_CHECKING:
    from smokeseal.certificates import CertificateLog
    from smokeseal.ship import GateAnswer

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
    findings += asyncio.run(check_apps(config, environ))
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
    from smokeseal.browser.launch import find_browser

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

#: How long one look at an app (every redirect and its body, capped) may take.
LOOK_TIMEOUT = 15.0


@dataclass(frozen=True)
class _Look:
    """What one GET saw, through the checks' own walk: enough to tell two apps apart."""

    url: str
    #: The last URL requested (on the hosts the walk was allowed).
    final: str
    status: int | None
    title: str
    lines: frozenset[str]
    error: str | None = None
    #: Where a redirect would have taken the walk off the hosts it was allowed.
    left_to: str | None = None

    @property
    def reached(self) -> str:
        return self.left_to or self.final

    @property
    def origin(self) -> str:
        return _origin(self.reached)


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)


async def _look(client: httpx.AsyncClient, url: str, on_app: tuple[str, ...],
                access: Access) -> _Look:
    """A GET of ``url`` as a get check makes it: redirects followed only on ``on_app``'s
    hosts, the body read up to the checks' limit, the app's headers and cookies sent to
    its own origins only."""
    from smokeseal.checks.http import (
        UnreadableBody,
        WalkStopped,
        WriteRefused,
        describe_http_error,
        walk_on_app,
    )

    try:
        walk = await walk_on_app(client, "GET", url, app_urls=on_app, timeout=LOOK_TIMEOUT,
                                 access=access)
    except TimeoutError:
        error = f"no complete answer within {LOOK_TIMEOUT:g} s"
    except (WalkStopped, WriteRefused) as exc:
        error = str(exc)
    except httpx.HTTPError as exc:
        error = describe_http_error(exc, url)
    else:
        try:
            text = walk.text()
        except UnreadableBody:
            text = ""
        match = _TITLE.search(text)
        # Production's text, bound for a terminal: no control sequences (ESC, BEL, …).
        title = "".join(ch for ch in " ".join(html.unescape(match.group(1)).split())
                        if ch.isprintable()) if match else ""
        lines = frozenset(line.strip() for line in text.splitlines() if line.strip())
        return _Look(url, walk.url, walk.response.status_code, title, lines,
                     left_to=walk.left_to)
    return _Look(url, url, None, "", frozenset(), error)


def _same_app(a: _Look, b: _Look) -> bool:
    """Same status class, same title, and most lines in common (tokens and times differ)."""
    if a.status is None or b.status is None or a.status // 100 != b.status // 100:
        return False
    if a.title != b.title:
        return False
    union = a.lines | b.lines
    return not union or len(a.lines & b.lines) / len(union) >= 0.6


async def check_apps(config: Config, environ: Mapping[str, str] | None = None
                     ) -> list[Finding]:
    """Each app's host, gate, aliases, version source and certificates, looked at with the
    checks' own client: the config's ``ca_file``, the proxies of ``environ``, bodies read
    up to the same limit, redirects followed only on the app's hosts."""
    from smokeseal.certificates import CertificateLog
    from smokeseal.checks.http import read_only_client

    ca = config.ca_path
    log = CertificateLog()
    async with read_only_client(str(ca) if ca else None, proxies=environ,
                                certificates=log) as client:
        results = await asyncio.gather(*(_check_app(client, name, app)
                                         for name, app in config.apps.items()))
    findings = [finding for found in results for finding in found]
    for name, app in config.apps.items():
        findings += _certificate_findings(name, app, log, config.cert_warn_days_for(name))
    return findings


async def _check_app(client: httpx.AsyncClient, name: str, app: App) -> list[Finding]:
    from smokeseal.access import access_for
    from smokeseal.checks.base import common_move, join_url
    from smokeseal.ship import GATE_POLL_LIMIT, poll_gate

    area = f"app {name}"
    if app.url.startswith(_STAND_IN.rstrip("/")):
        return []  # its url is a ${VAR} that is not set: said already
    access = access_for(app, app.url)
    gate_url = join_url(app.url, app.gate.path)
    # The url's own host alone: where it sends each path is what says which is canonical.
    probes = list(dict.fromkeys([app.url, gate_url]))
    # The gate exactly as ship polls it: the same walk, hosts, headers and client settings.
    gate_poll = asyncio.ensure_future(
        poll_gate(client, gate_url, (app.url, *app.aliases), GATE_POLL_LIMIT, access))
    looks = await asyncio.gather(*(_look(client, url, (app.url,), access) for url in probes))
    gate = await gate_poll
    home = looks[0]
    if home.error:
        return [Finding(area, False, f"{app.url} is unreachable: {home.error}",
                        f"check apps.{name}.url, and that production is up")]
    moved = common_move((look.url, look.left_to) for look in looks)
    canonical = home
    findings = []
    if moved is not None:
        findings.append(_moved_finding(name, app, moved, [httpx.URL(u).path for u in probes]))
        canonical = await _look(client, moved + httpx.URL(app.url).path,
                                (moved, app.url, *app.aliases), access)
    elif home.left_to is not None:
        findings.append(_left_finding(name, app, home.left_to, access.sessions))
    elif home.final != home.url and _is_signin(home.final, app):
        findings.append(Finding(area, False, f"{app.url} redirects to the sign-in page "
                                f"{httpx.URL(home.final).path}: page checks would see the "
                                "sign-in form, not the app", _session_fix(name, access.sessions)))
    elif home.status is not None and home.status >= 500:
        findings.append(Finding(area, False, f"{app.url} answers {home.status}",
                                "production is failing right now: look at its logs"))
    else:
        titled = f' ("{home.title}")' if home.title else ""
        findings.append(Finding(area, True, f"canonical host: {app.url} answers "
                                f"{home.status}{titled}"))
    findings.append(_gate_finding(name, app, gate_url, gate, moved))
    on_app = (app.url, *app.aliases, *([moved] if moved else []))
    # An alias that is the canonical host itself was named above.
    aliases = [a for a in app.aliases if moved is None or _origin(a) != moved]
    alias_looks = await asyncio.gather(*(_look(client, a, on_app, access) for a in aliases))
    findings += [_alias_finding(name, app, alias, look, canonical)
                 for alias, look in zip(aliases, alias_looks, strict=True)]
    if app.version is not None:
        findings.append(await _version_finding(client, name, app))
    return findings


def _is_signin(url: str, app: App) -> bool:
    from smokeseal.checks.signin import is_signin_path

    return is_signin_path(httpx.URL(url).path, app.signin_path)


def _session_fix(name: str, sessions: tuple[str, ...]) -> str:
    if sessions:
        keys = " and ".join(f"apps.{name}.{key}" for key in sessions)
        return (f"the session in {keys} is no longer valid: renew it (docs/apps.md, "
                "'Behind a sign-in')")
    return (f"give smokeseal a session of its own: apps.{name}.cookies or "
            f"apps.{name}.headers (docs/apps.md, 'Behind a sign-in')")


def _moved_finding(name: str, app: App, moved: str, paths: list[str]) -> Finding:
    from smokeseal.checks.base import canonical_keys

    asked = ", ".join(paths)
    return Finding(f"app {name}", False,
                   f"{app.url} redirects every path asked ({asked}) to the same path on "
                   f"{moved}: {moved} is the canonical host, and every check would leave "
                   "the app",
                   f"in apps.{name}, set {canonical_keys(moved, (app.url, *app.aliases))}")


def _left_finding(name: str, app: App, left_to: str, sessions: tuple[str, ...]) -> Finding:
    from smokeseal.checks.base import canonical_keys

    area = f"app {name}"
    if _is_signin(left_to, app):
        return Finding(area, False, f"{app.url} redirects to the sign-in page {left_to}: "
                       "page checks would see the sign-in form, not the app",
                       _session_fix(name, sessions))
    origin = _origin(left_to)
    return Finding(area, False, f"{app.url} redirects to {left_to}: the suite would test "
                   "another host through a redirect",
                   f"if {origin} serves the app, in apps.{name}, set "
                   f"{canonical_keys(origin, (app.url, *app.aliases))}")


def _gate_finding(name: str, app: App, gate_url: str, gate: GateAnswer,
                  moved: str | None) -> Finding:
    from smokeseal.checks.base import canonical_keys

    area = f"app {name}"
    if gate.up:
        return Finding(area, True, f"gate {app.gate.path} answers 200")
    if gate.left_to is not None:
        seen = f"redirected off the app to {gate.left_to}"
    else:
        seen = f"answers {gate.status}" if gate.status is not None else gate.said
    fix = (f"in apps.{name}, set {canonical_keys(moved, (app.url, *app.aliases))}"
           if moved is not None else
           f"set apps.{name}.gate.path to the app's health endpoint (one that answers 200 "
           "when it is up)")
    return Finding(area, False, f"gate {gate_url} {seen}: ship would fail its gate", fix)


def _certificate_findings(name: str, app: App, log: CertificateLog,
                          warn_days: int) -> list[Finding]:
    """What the looks above read of each https origin's certificate: its expiry, a problem
    within ``warn_days`` (the seal notes it from then on)."""
    from smokeseal.access import origin_of
    from smokeseal.certificates import Certificate, expiry_notes, host_label

    findings = []
    origins = dict.fromkeys(o for u in (app.url, *app.aliases)
                            if (o := origin_of(u)) is not None and o[0] == "https")
    for origin in origins:
        expires = log.get(origin)
        if expires is None:
            continue
        certificate = Certificate(host_label(origin), expires)
        if notes := expiry_notes([certificate], warn_days):
            findings.append(Finding(f"app {name}", False, notes[0],
                                    f"renew it before {expires:%Y-%m-%d} (seals note it from "
                                    f"{warn_days} days ahead: cert_warn_days)"))
        else:
            findings.append(Finding(f"app {name}", True, f"certificate for "
                                    f"{certificate.host} valid until "
                                    f"{expires:%Y-%m-%d}"))
    return findings


async def _version_finding(client: httpx.AsyncClient, name: str, app: App) -> Finding:
    """Whether the revision production serves can be read the way the config says."""
    from smokeseal.access import access_for
    from smokeseal.checks.version import read_revision

    assert app.version is not None
    found = await read_revision(client, app.version, app.url, app_urls=app.aliases,
                                access=access_for(app, app.url))
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
    if look.origin == canonical.origin and look.origin != _origin(alias):
        return Finding(area, True, f"alias {alias} redirects to the canonical host")
    if look.origin != _origin(alias):
        return Finding(area, False, f"alias {alias} redirects to {look.reached}, not to the "
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
