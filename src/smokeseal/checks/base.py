"""What every check returns, and the helpers all kinds share."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from smokeseal import __version__

__all__ = [
    "READ_ONLY_METHODS",
    "USER_AGENT",
    "CheckResult",
    "Outcome",
    "Stopwatch",
    "Tally",
    "canonical_keys",
    "canonical_move",
    "canonical_url",
    "common_move",
    "header_failures",
    "join_url",
    "leave_fix",
    "listed_total",
    "off_app",
    "shorten",
    "slug",
    "status_failure",
]

#: The only HTTP methods smokeseal ever lets reach production.
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})
USER_AGENT = f"smokeseal/{__version__} (read-only smoke check)"


Outcome = Literal["passed", "failed", "flaky", "skipped"]


@dataclass
class CheckResult:
    """The outcome of one check (or one testcase of a ``command`` check).

    ``ok`` says the check passed (on its first try or a retry); ``skipped`` that it did not
    run, which is never ok. ``first_failure`` is why an earlier try failed: set on a pass, it
    makes the check ``flaky``.
    """

    name: str
    kind: str
    ok: bool
    detail: str
    duration_ms: int
    url: str | None = None
    skipped: bool = False
    blocked_writes: list[str] = field(default_factory=list)
    evidence: str | None = None
    first_failure: str | None = None
    attempts: int = 1
    #: Findings that do not fail the check but are worth showing (third-party assets that
    #: failed to load, say).
    notes: list[str] = field(default_factory=list)
    #: What the page guard let through by the app's ``reads:``, as a :class:`Tally` lists
    #: it: method and path (the origin is the app's), and how often when more than once.
    reads: list[str] = field(default_factory=list)
    #: page only: what the browser measured (see :mod:`smokeseal.checks.vitals`).
    vitals: dict[str, int | float] | None = None
    #: page only: its console errors and uncaught errors, folded (numbers, ids and query
    #: strings), each once.
    console_errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.skipped:
            self.ok = False

    @property
    def outcome(self) -> Outcome:
        if self.skipped:
            return "skipped"
        if not self.ok:
            return "failed"
        return "flaky" if self.first_failure else "passed"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "ok": self.ok,
            "outcome": self.outcome,
            "detail": self.detail,
            "duration_ms": self.duration_ms,
        }
        if self.url is not None:
            out["url"] = self.url
        if self.skipped:
            out["skipped"] = True
        if self.first_failure is not None:
            out["first_failure"] = self.first_failure
        if self.attempts > 1:
            out["attempts"] = self.attempts
        if self.notes:
            out["notes"] = list(self.notes)
        if self.blocked_writes:
            out["blocked_writes"] = list(self.blocked_writes)
        if self.reads:
            out["reads"] = list(self.reads)
        if self.evidence is not None:
            out["evidence"] = self.evidence
        if self.vitals is not None:
            out["vitals"] = dict(self.vitals)
        if self.console_errors:
            out["console_errors"] = list(self.console_errors)
        return out


#: How a listed entry says it happened more than once, and how a list says it was cut.
_TIMES = re.compile(r" ×(\d+)$")
_MORE = re.compile(r"^\+(\d+) more")


@dataclass
class Tally:
    """Entries counted as they repeat: the first ``limit`` distinct ones are kept with their
    counts, and every one is counted. A page that fires the same beacon in a loop lists it
    once, ``"POST https://x/beacon ×12"``."""

    limit: int
    counts: dict[str, int] = field(default_factory=dict)
    total: int = 0

    def add(self, entry: str) -> None:
        self.total += 1
        if entry in self.counts:
            self.counts[entry] += 1
        elif len(self.counts) < self.limit:
            self.counts[entry] = 1

    def entries(self) -> list[str]:
        return [f"{entry} ×{count}" if count > 1 else entry
                for entry, count in self.counts.items()]

    @property
    def more(self) -> int:
        """How many were not kept (each of them distinct from those kept, once past the
        limit)."""
        return self.total - sum(self.counts.values())

    def listed(self) -> list[str]:
        """The entries kept, and how many more there were."""
        return [*self.entries(), f"+{self.more} more"] if self.more > 0 else self.entries()


def listed_total(entries: Sequence[str]) -> int:
    """How many events a :meth:`Tally.listed` list stands for (``×N`` and ``+N more``
    counted)."""
    total = 0
    for entry in entries:
        if more := _MORE.match(entry):
            total += int(more.group(1))
        else:
            times = _TIMES.search(entry)
            total += int(times.group(1)) if times else 1
    return total


class Stopwatch:
    """Milliseconds since creation, on the monotonic clock."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def ms(self) -> int:
        return round((time.perf_counter() - self._start) * 1000)


def join_url(base_url: str, path: str) -> str:
    """``https://x.com/app`` + ``/up`` -> ``https://x.com/app/up``; a ``path`` that would
    take the URL off ``base_url``'s host is a ValueError (config validation refuses them
    first: this is the last line)."""
    joined = base_url.rstrip("/") + path
    if not path.startswith("/") or urlsplit(joined).netloc != urlsplit(base_url).netloc:
        raise ValueError(f"{path!r} is not a path on {base_url}")
    return joined


def _host_port(url: str) -> tuple[str, int | None] | None:
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.hostname.lower(), None if port == default else port


def _ends_at(url: str, redirect_to: str) -> bool:
    """``url`` is where ``redirect_to`` (a bare host, or a URL prefix) says: compared by
    scheme, host and port, then by path at a ``/``, so ``sso.example.com.evil.io`` and
    ``sso.example.com@evil.io`` are not ``sso.example.com``."""
    where = _host_port(url)
    if where is None:
        return False
    if "://" not in redirect_to:
        return where[0] == redirect_to.lower()
    want, got = urlsplit(redirect_to), urlsplit(url)
    if want.scheme != got.scheme or _host_port(redirect_to) != where:
        return False
    prefix = want.path.rstrip("/")
    return got.path == prefix or got.path.startswith(prefix + "/") or not prefix


def off_app(url: str, app_urls: Sequence[str], redirect_to: str | None = None, *,
            asked: str | None = None) -> str | None:
    """Why ``url`` is not a place the check may end, or None when it is.

    A check may end on the host (and port) of any of ``app_urls`` (the canonical url and its
    aliases; http and https alike), or, with ``redirect_to`` (a URL prefix or a bare host),
    only where that says. Given the URL the check ``asked`` for, the reason ends with the
    config change that fixes it (see :func:`leave_fix`).
    """
    if redirect_to is not None:
        return None if _ends_at(url, redirect_to) else (
            f"expected to end on {redirect_to}, ended on {url}")
    where = _host_port(url)
    if where is not None and where in {_host_port(u) for u in app_urls}:
        return None
    fix = leave_fix(asked, url, app_urls) if asked is not None else None
    return f"left the app: ended on {url}" + (f"; {fix}" if fix else "")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def canonical_move(asked: str, ended: str) -> str | None:
    """The origin ``ended`` is on when it is ``asked``'s own path and query on another host
    (``https://example.com/tasks`` ending on ``https://www.example.com/tasks``), else None.

    A host that sends every path to the same path elsewhere (an apex domain to www, plain
    http to https on another name) is not the app's canonical host: that other one is. A
    sign-in or an error page elsewhere has a path of its own.
    """
    if _host_port(asked) is None or _host_port(ended) in (None, _host_port(asked)):
        return None
    was, now = urlsplit(asked), urlsplit(ended)
    if was.path.rstrip("/") != now.path.rstrip("/") or was.query != now.query:
        return None
    return _origin(ended)


def common_move(walks: Iterable[tuple[str, str | None]]) -> str | None:
    """The canonical host's origin when every one of ``walks`` (the URL asked, and where its
    redirects would have left the host, None when they did not) was sent to its own path on
    that one other host (see :func:`canonical_move`); None when any stayed, went elsewhere,
    or there were none. ``doctor`` and ``init`` both judge a host by it."""
    moves = {canonical_move(asked, ended) if ended else None for asked, ended in walks}
    return moves.pop() if len(moves) == 1 else None


def canonical_url(origin: str, base: str) -> str:
    """``base``'s path on ``origin``: the url an app at ``base`` has once ``origin`` is
    known to be its canonical host."""
    return origin + urlsplit(base).path.rstrip("/")


def leave_fix(asked: str, ended: str, app_urls: Sequence[str]) -> str | None:
    """The config change for a check that asked for ``asked`` and ended on ``ended``, another
    host than any of ``app_urls`` (the URL the suite runs on first, then the aliases): the
    keys to write and their exact values. None where no key helps (not an http(s) URL)."""
    if not app_urls or urlsplit(ended).scheme not in ("http", "https") \
            or _host_port(ended) is None:
        return None
    base, *rest = app_urls
    origin = canonical_move(asked, ended)
    if origin is not None:
        return (f"{base} sends it to the same path on {origin}, the canonical host: set "
                f"{canonical_keys(origin, app_urls)}")
    from smokeseal.checks.signin import is_signin_path

    origin = _origin(ended)
    if is_signin_path(urlsplit(ended).path):
        return (f"a sign-in page: the check needs a valid session (cookies: or headers:), "
                f"or, if it is meant to end there: expect: {{redirect_to: {origin}}}")
    aliases = [*_aliases(base, rest), origin]
    return (f"if {origin} serves this app, add it: aliases: [{', '.join(aliases)}]"
            f"; if the check is meant to end there: expect: {{redirect_to: {origin}}}")


def _aliases(base: str, urls: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(u for u in urls if _host_port(u) != _host_port(base)))


def canonical_keys(origin: str, app_urls: Sequence[str]) -> str:
    """``url: https://www.example.com and aliases: [https://example.com]``: the config of
    an app whose ``app_urls`` (its url first, then its aliases) all redirect to ``origin``,
    which becomes its url (with the url's path kept) while the url joins the aliases."""
    base, *rest = app_urls
    url = canonical_url(origin, base)
    kept = [u for u in (base, *_aliases(base, rest)) if _host_port(u) != _host_port(url)]
    return f"url: {url} and aliases: [{', '.join(kept)}]"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60] or "check"


def default_statuses(statuses: tuple[int, ...] | None) -> str:
    return "2xx" if statuses is None else " or ".join(str(s) for s in statuses)


def status_failure(statuses: tuple[int, ...] | None, got: int) -> str | None:
    """Why ``got`` does not satisfy the expected statuses (any 2xx when none are given)."""
    ok = 200 <= got < 300 if statuses is None else got in statuses
    return None if ok else f"expected {default_statuses(statuses)}, got {got}"


def header_failures(expected: dict[str, str] | None, headers: dict[str, str]) -> list[str]:
    """Header names match case-insensitively; values must contain the expected text."""
    failures = []
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, want in (expected or {}).items():
        got = lowered.get(name.lower())
        if got is None:
            failures.append(f"header {name} missing")
        elif want not in got:
            failures.append(f"header {name}: expected {want!r}, got {shorten(got)!r}")
    return failures


def shorten(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
