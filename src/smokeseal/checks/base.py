"""What every check returns, and the helpers all kinds share."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from smokeseal import __version__

__all__ = [
    "READ_ONLY_METHODS",
    "USER_AGENT",
    "CheckResult",
    "Stopwatch",
    "header_failures",
    "join_url",
    "shorten",
    "slug",
    "status_failure",
]

#: The only HTTP methods smokeseal ever lets reach production.
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})
USER_AGENT = f"smokeseal/{__version__} (read-only smoke check)"


@dataclass
class CheckResult:
    """The outcome of one check (or one testcase of a ``command`` check)."""

    name: str
    kind: str
    ok: bool
    detail: str
    duration_ms: int
    url: str | None = None
    skipped: bool = False
    blocked_writes: list[str] = field(default_factory=list)
    evidence: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "ok": self.ok,
            "detail": self.detail,
            "duration_ms": self.duration_ms,
        }
        if self.url is not None:
            out["url"] = self.url
        if self.skipped:
            out["skipped"] = True
        if self.blocked_writes:
            out["blocked_writes"] = list(self.blocked_writes)
        if self.evidence is not None:
            out["evidence"] = self.evidence
        return out


class Stopwatch:
    """Milliseconds since creation, on the monotonic clock."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def ms(self) -> int:
        return round((time.perf_counter() - self._start) * 1000)


def join_url(base_url: str, path: str) -> str:
    """``https://x.com/app`` + ``/up`` -> ``https://x.com/app/up``."""
    return base_url.rstrip("/") + path


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
