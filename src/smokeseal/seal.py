"""The seal: the verdict of one suite run, in the shape the design's contract fixes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from smokeseal.checks.base import shorten
from smokeseal.runner import RunResult

__all__ = ["Seal", "failed_seal", "rollback_commands", "seal_from_run", "summarise"]

Status = Literal["green", "red"]


@dataclass
class Seal:
    status: Status
    summary: str
    checked_at: str
    base_url: str
    duration_ms: int
    checks: list[dict[str, Any]]
    rollback: list[str] = field(default_factory=list)
    last_green: dict[str, Any] | None = None
    #: Problems telling the seal (not part of the record); shown to the operator.
    warnings: list[str] = field(default_factory=list)

    @property
    def green(self) -> bool:
        return self.status == "green"

    @property
    def emoji(self) -> str:
        return "🟢" if self.green else "🔴"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "summary": self.summary,
            "checked_at": self.checked_at,
            "base_url": self.base_url,
            "duration_ms": self.duration_ms,
            "checks": self.checks,
            "rollback": list(self.rollback),
            **({"last_green": self.last_green} if self.last_green else {}),
        }


def summarise(run: RunResult) -> str:
    """``"5/6 passed; devops hidden: expected 404, got 200"``: every failure named."""
    ran = run.ran
    passed = sum(r.ok for r in ran)
    parts = [f"{passed}/{len(ran)} passed" if ran else "no checks ran"]
    parts += [f"{r.name}: {shorten(r.detail.splitlines()[0] if r.detail else 'failed', 160)}"
              for r in run.failed]
    parts += run.notes
    return "; ".join(parts)


def seal_from_run(run: RunResult) -> Seal:
    return Seal(
        status="green" if run.passed else "red",
        summary=summarise(run),
        checked_at=run.checked_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        base_url=run.base_url,
        duration_ms=run.duration_ms,
        checks=[r.to_dict() for r in run.results],
    )


def rollback_commands(release_id: int, sha: str, release_branch: str) -> list[str]:
    """What the operator may run on red. smokeseal prints these and runs none of them."""
    return [f"smokeseal release abandon {release_id}",
            f"git revert -m 1 {sha[:7]} # on {release_branch}"]


def failed_seal(base_url: str, reason: str, checked_at: datetime | None = None) -> Seal:
    """A red seal for a suite that could not run at all, saying why."""
    return Seal(
        status="red",
        summary=f"could not run the suite: {shorten(reason, 300)}",
        checked_at=(checked_at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        base_url=base_url,
        duration_ms=0,
        checks=[],
    )
