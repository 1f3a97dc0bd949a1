"""The seal: the verdict of one suite run, in the shape the design's contract fixes.

The verdict rule lives here and nowhere else (:func:`verdict`): a seal is green only when
every check of the suite ran and none failed. A check that failed and then passed on a retry
is ``flaky``: the seal stays green and names it. Skipped checks, a suite where nothing ran,
an external suite with no test cases: never green, and the summary says what went
unverified.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from smokeseal.checks.base import CheckResult, Outcome, listed_total, shorten
from smokeseal.runner import RunResult
from smokeseal.secrets import scrub, scrub_all

__all__ = ["SCHEMA_VERSION", "CertificateRecord", "CheckRecord", "Seal", "VerdictChange",
           "clean_text", "failed_seal", "flaky_phrase", "reads_line", "seal_from_run",
           "summarise", "verdict", "verdict_change"]

Status = Literal["green", "red"]
#: How a seal's verdict moved from the release's previous seal (see :func:`verdict_change`).
VerdictChange = Literal["first", "same", "broke", "recovered"]
_SURROGATE = re.compile("[\ud800-\udfff]")
#: What one check may keep of lists production can make long (a page firing beacons in a loop).
MAX_LISTED = 50
#: 1: the first version (``ok`` and ``skipped`` only); 2: ``outcome``, flaky, revision.
SCHEMA_VERSION = 2


def clean_text(value: Any) -> Any:
    """``value`` with NUL taken out of every string (PostgreSQL's JSONB refuses it, and it is
    never meaningful in text read from production) and lone surrogates made visible (UTF-8
    cannot encode them: the ledger, JUnit and evidence files would refuse the whole seal)."""
    if isinstance(value, str):
        value = value.replace("\x00", "")
        if _SURROGATE.search(value):
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, list):
        return [clean_text(v) for v in value]
    if isinstance(value, dict):
        return {clean_text(k): clean_text(v) for k, v in value.items()}
    return value


class _Record(BaseModel):
    # Records read back from the ledger may come from a newer smokeseal: keep what we do not
    # know instead of refusing the whole seal.
    model_config = ConfigDict(extra="allow")


class CheckRecord(_Record):
    """One check's result as the seal keeps it."""

    name: str
    kind: str
    ok: bool
    outcome: Outcome
    detail: str = ""
    duration_ms: int | None = None
    url: str | None = None
    skipped: bool = False
    first_failure: str | None = None
    attempts: int = 1
    blocked_writes: list[str] = Field(default_factory=list)
    evidence: str | None = None
    notes: list[str] = Field(default_factory=list)
    #: The declared reads the page guard let through (absent from records before them).
    reads: list[str] = Field(default_factory=list)
    #: page only: what the browser measured, and its console errors folded (absent from
    #: records before them).
    vitals: dict[str, int | float] | None = None
    console_errors: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        # Schema 1 had no outcome: derive it the way schema 1 judged.
        if isinstance(data, dict) and "outcome" not in data:
            skipped = bool(data.get("skipped"))
            outcome = "skipped" if skipped else "passed" if data.get("ok") else "failed"
            data = {**data, "outcome": outcome, "ok": bool(data.get("ok")) and not skipped}
        return data

    @classmethod
    def of(cls, result: CheckResult, secrets: Sequence[str] = ()) -> CheckRecord:
        data = result.to_dict()
        for key in ("blocked_writes", "notes", "reads", "console_errors"):
            items = data.get(key) or []
            if len(items) > MAX_LISTED:
                data[key] = [*items[:MAX_LISTED], f"+{len(items) - MAX_LISTED} more"]
        # Cleaned first: a NUL inside an echoed secret would hide it from the filter.
        return cls.model_validate(scrub_all(clean_text(data), secrets))

    @property
    def flaky(self) -> bool:
        return self.outcome == "flaky"

    @property
    def reads_line(self) -> str | None:
        """``let through 3 reads: POST /_dash-update-component ×3``, or None."""
        return reads_line(self.reads)

    def to_dict(self) -> dict[str, Any]:
        """The contract's shape: empty optional fields left out."""
        out = self.model_dump(exclude_defaults=True)
        for key in ("name", "kind", "ok", "outcome", "detail", "duration_ms"):
            out.setdefault(key, getattr(self, key))
        return out


class CertificateRecord(_Record):
    """When one https origin's leaf certificate expires, as the seal keeps it."""

    host: str
    expires_at: str


class Seal(_Record):
    """The verdict of one run, as recorded on the release and told to every sink."""

    schema_version: int = SCHEMA_VERSION
    status: Status
    summary: str
    checked_at: str
    base_url: str
    duration_ms: int
    checks: list[CheckRecord]
    rollback: list[str] = Field(default_factory=list)
    last_green: dict[str, Any] | None = None
    #: The revision production served (where the app says how to read it), and the
    #: release's sha it was checked against.
    revision: str | None = None
    expected_sha: str | None = None
    #: What the seal says beside its checks, never a failure: a certificate that expires
    #: soon. Absent from records before them, and left out when empty.
    notes: list[str] = Field(default_factory=list)
    #: When the leaf certificate of each https origin of the app expires:
    #: ``{"host": "app.example.com", "expires_at": "2026-12-06T12:00:00Z"}``.
    certificates: list[CertificateRecord] = Field(default_factory=list)
    #: What changed since the last green (see :mod:`smokeseal.compare`): null when the app
    #: had no green seal to compare with, absent where no ledger was asked (``check``).
    comparison: dict[str, Any] | None = None
    #: Problems telling the seal (not part of the record); shown to the operator.
    _warnings: list[str] = PrivateAttr(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return self._warnings

    @property
    def green(self) -> bool:
        return self.status == "green"

    @property
    def emoji(self) -> str:
        return "🟢" if self.green else "🔴"

    @property
    def flaky(self) -> list[CheckRecord]:
        return [c for c in self.checks if c.flaky]

    def to_dict(self) -> dict[str, Any]:
        out = self.model_dump(exclude={"checks"}, exclude_none=True)
        for key in ("notes", "certificates"):
            if not out.get(key):
                out.pop(key, None)
        if "comparison" in self.model_fields_set:
            out["comparison"] = self.comparison
        out["checks"] = [c.to_dict() for c in self.checks]
        out.setdefault("rollback", [])
        cleaned: dict[str, Any] = clean_text(out)
        return cleaned

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Seal:
        """A recorded seal, of any schema version, read back."""
        return cls.model_validate({"schema_version": 1, **data})


def reads_line(reads: Sequence[str]) -> str | None:
    """How every place a check is shown says what the guard let through by ``reads:``."""
    if not reads:
        return None
    total = listed_total(reads)
    return f"let through {total} read{'s' * (total != 1)}: " + ", ".join(reads)


def verdict(results: list[CheckResult] | list[CheckRecord]) -> Status:
    """Green only when something ran and every check passed (flaky counts as passed)."""
    if not results:
        return "red"
    return "green" if all(r.outcome in ("passed", "flaky") for r in results) else "red"


def verdict_change(previous: str | None, current: str) -> VerdictChange:
    """How a release's verdict moved: ``first`` (never sealed before), ``same``, ``broke``
    (green to red) or ``recovered`` (red to green). What a seal tells depends on it, so that
    a release sealed again and again (from cron) alerts once when it breaks, says once that
    it recovered, and otherwise posts nothing new."""
    if previous is None:
        return "first"
    if previous == current:
        return "same"
    return "recovered" if current == "green" else "broke"


def flaky_phrase(check: CheckRecord | CheckResult) -> str:
    """``tasks render (500 on the first try)``."""
    first = shorten((check.first_failure or "failed").splitlines()[0], 80)
    return f"{check.name} ({first} on the first try)"


def summarise(run: RunResult) -> str:
    """``"5/6 passed; devops hidden: expected 404, got 200"``: every failure, every flaky
    check and everything that went unverified, named. The run's notes are the seal's own
    (``Seal.notes``), not part of it."""
    results = run.results
    passed = sum(r.outcome in ("passed", "flaky") for r in results)
    parts = [f"{passed}/{len(results)} passed" if results else "no checks ran"]
    flaky = [r for r in results if r.outcome == "flaky"]
    if flaky:
        parts[0] += f", {len(flaky)} flaky: " + ", ".join(flaky_phrase(r) for r in flaky)
    parts += [f"{r.name}: {shorten(r.detail.splitlines()[0] if r.detail else 'failed', 160)}"
              for r in results if r.outcome == "failed"]
    skipped = [r for r in results if r.outcome == "skipped"]
    if skipped:
        names = ", ".join(r.name for r in skipped[:5]) + (" …" if len(skipped) > 5 else "")
        parts.append(f"not verified: {len(skipped)} check{'s' * (len(skipped) > 1)} "
                     f"skipped ({names})")
    return "; ".join(parts)


def seal_from_run(run: RunResult, expected_sha: str | None = None,
                  secrets: Sequence[str] = ()) -> Seal:
    """The seal of ``run``; ``secrets`` (see :func:`smokeseal.secrets.secrets_of`) are taken
    out of every text, since a command check's output may echo one."""
    return Seal(
        status=verdict(run.results),
        summary=scrub(clean_text(summarise(run)), secrets),
        checked_at=run.checked_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        base_url=run.base_url,
        duration_ms=run.duration_ms,
        checks=[CheckRecord.of(r, secrets) for r in run.results],
        revision=scrub(clean_text(run.revision), secrets) if run.revision else None,
        expected_sha=expected_sha,
        notes=[scrub(clean_text(note), secrets) for note in run.notes[:MAX_LISTED]],
        certificates=[CertificateRecord.model_validate(c.to_dict()) for c in run.certificates],
    )


def failed_seal(base_url: str, reason: str, checked_at: datetime | None = None) -> Seal:
    """A red seal for a suite that could not run at all, saying why."""
    return Seal(
        status="red",
        summary=clean_text(f"could not run the suite: {shorten(reason, 300)}"),
        checked_at=(checked_at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        base_url=base_url,
        duration_ms=0,
        checks=[],
    )
