"""What changed since the last green: a seal compared with the app's recent green seals.

The baseline of each check is the median of its figures over the last ``compare.last``
green seals of the app on the same canonical URL (re-seals of one release included): one
slow run among them moves a median little. A figure regresses when it is at least
``compare.ratio`` times its baseline and at least ``compare.floor_ms`` more (a 12 ms page
taking 30 ms is noise, not news). A regression is a note; a ``budget:`` exceeded fails its
check (:func:`apply_budgets`). The shape is the design's contract ("What changed since the
last green").

Pure functions but :func:`commits_between`, which asks git.
"""

from __future__ import annotations

import re
import statistics
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from smokeseal.checks.base import CheckResult, shorten
from smokeseal.config import Budget, CompareSettings

__all__ = ["MAX_COMMITS", "METRICS", "PAGE_METRICS", "VITALS", "apply_budgets", "commits_between",
           "compare", "compare_url", "metric_rows", "regression_line", "regressions_phrase"]

#: The figures a regression is judged on, all in ms: a page's speed as the browser
#: measured it. A check's own time is shown, never judged: a page check's holds smokeseal's
#: watch of the page (a tab opened, the page watched until quiet), and a get check's the
#: whole process's scheduling, which on a busy 2-core machine swing by 60% and 300 to 400 ms
#: between two unchanged seals (a 201 ms get seen at 517 ms), while the browser's figures
#: hold still. CLS, requests and bytes are shown too.
METRICS = ("ms", "ttfb_ms", "fcp_ms", "lcp_ms")
#: What is judged of a page check.
PAGE_METRICS = ("ttfb_ms", "fcp_ms", "lcp_ms")
#: The vitals a comparison shows, in order.
VITALS = ("ttfb_ms", "fcp_ms", "lcp_ms", "cls", "requests", "bytes")
#: The most commit subjects a comparison lists; the rest are counted.
MAX_COMMITS = 20
#: How long one git command may take, seconds.
GIT_TIMEOUT = 10.0
_SHA = re.compile(r"^[0-9a-f]{7,64}$")


def compare(results: Sequence[CheckResult], baseline: Sequence[dict[str, Any]],
            settings: CompareSettings, budgets: Mapping[str, Budget] | None = None,
            releases: Sequence[int] = ()) -> dict[str, Any] | None:
    """``results`` compared with ``baseline`` (green seal records, newest first), or None
    when there is no green seal to compare with. ``releases`` are the baseline seals'
    release ids, in the same order."""
    if not baseline:
        return None
    budgets = budgets or {}
    checks: dict[str, dict[str, Any]] = {}
    regressions: list[dict[str, Any]] = []
    new_errors: list[dict[str, str]] = []
    for result in results:
        if result.outcome not in ("passed", "flaky"):
            continue  # a failed check's time is its timeout, not its speed
        before = _records(baseline, result.name, result.kind)
        if not before:
            continue
        figures = _figures(result, before)
        checks[result.name] = figures
        regressions += _regressions(result.name, figures, settings,
                                    budgets.get(result.name),
                                    PAGE_METRICS if result.kind == "page" else ())
        measured = [record for record in before if "vitals" in record]
        if measured and result.console_errors:
            # Known: what any measured baseline seal of the check saw (records from before
            # console errors were kept know none, and tell nothing).
            known = {error for record in measured for error in record.get("console_errors", [])}
            new_errors += [{"check": result.name, "message": error}
                           for error in result.console_errors if error not in known]
    return {
        "baseline": {"seals": len(baseline), "releases": sorted(set(releases))},
        "checks": checks,
        "regressions": regressions,
        "new_console_errors": new_errors,
        "commits": [],
    }


def _records(baseline: Sequence[dict[str, Any]], name: str, kind: str) -> list[dict[str, Any]]:
    """The check's passing records in the baseline seals."""
    found = []
    for seal in baseline:
        for record in seal.get("checks") or []:
            if isinstance(record, dict) and record.get("name") == name \
                    and record.get("kind") == kind \
                    and record.get("outcome", "passed") in ("passed", "flaky"):
                found.append(record)
                break
    return found


def _median(values: Iterable[Any], score: bool = False) -> int | float | None:
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if not numbers:
        return None
    middle = statistics.median(numbers)
    return round(middle, 4) if score else round(middle)


def _figures(result: CheckResult, before: Sequence[dict[str, Any]]) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "ms": result.duration_ms,
        "baseline_ms": _median(record.get("duration_ms") for record in before)}
    if result.vitals is not None:
        figures["vitals"] = {key: result.vitals[key] for key in VITALS if key in result.vitals}
        baseline_vitals = {}
        for key in VITALS:
            value = _median(((record.get("vitals") or {}).get(key) for record in before),
                            score=key == "cls")
            if value is not None:
                baseline_vitals[key] = value
        figures["baseline_vitals"] = baseline_vitals
    return figures


def _regressions(name: str, figures: dict[str, Any], settings: CompareSettings,
                 budget: Budget | None, metrics: Sequence[str]) -> list[dict[str, Any]]:
    found = []
    vitals = figures.get("vitals") or {}
    baseline_vitals = figures.get("baseline_vitals") or {}
    for metric in metrics:
        value = figures["ms"] if metric == "ms" else vitals.get(metric)
        base = figures["baseline_ms"] if metric == "ms" else baseline_vitals.get(metric)
        if value is None or base is None:
            continue
        # A baseline of 0 ms (a cached answer) is taken as 1 ms: the ratio stays finite.
        ratio = value / max(base, 1)
        grew = value - base >= settings.floor_ms
        noted = grew and ratio >= settings.ratio
        over = grew and budget is not None and budget.regress is not None \
            and ratio >= budget.regress
        if noted or over:
            found.append({"check": name, "metric": metric, "value": value, "baseline": base,
                          "ratio": round(ratio, 1), "over_budget": bool(over)})
    return found


def apply_budgets(results: Sequence[CheckResult], budgets: Mapping[str, Budget],
                  comparison: dict[str, Any] | None) -> None:
    """Fail each check that exceeded its budget, its detail saying which and by what: an
    absolute one (``lcp_ms``, ``ttfb_ms``) on what the browser measured, ``regress`` on
    the comparison's regressions (marked ``over_budget``). A check that failed already is
    left as it is."""
    regressions = (comparison or {}).get("regressions", [])
    for result in results:
        budget = budgets.get(result.name)
        if budget is None or result.outcome not in ("passed", "flaky"):
            continue
        over = []
        vitals = result.vitals or {}
        for key in ("lcp_ms", "ttfb_ms"):
            limit = getattr(budget, key)
            if limit is not None and key in vitals and vitals[key] > limit:
                over.append(f"{key} {vitals[key]:g} ms, over its budget of {limit} ms")
                for regression in regressions:
                    if regression["check"] == result.name and regression["metric"] == key:
                        regression["over_budget"] = True
        over += [f"{r['metric']} {r['value']:g} ms is {r['ratio']:g}× the last green's "
                 f"{r['baseline']:g} ms, over its budget of regress {budget.regress:g}"
                 for r in regressions
                 if r["check"] == result.name and r["over_budget"]
                 and budget.regress is not None and r["ratio"] >= budget.regress]
        if over:
            result.ok = False
            result.detail = "over budget: " + "; ".join(dict.fromkeys(over))


def regression_line(regression: Mapping[str, Any]) -> str:
    """``tasks render: lcp_ms 1400 ms, 7.0× the last green's 200 ms``."""
    over = " (over budget)" if regression.get("over_budget") else ""
    return (f"{regression['check']}: {regression['metric']} {regression['value']:g} ms, "
            f"{regression['ratio']:g}× the last green's {regression['baseline']:g} ms{over}")


def regressions_phrase(comparison: Mapping[str, Any] | None) -> str | None:
    """What a seal's summary says of its regressions, or None when there are none."""
    regressions = (comparison or {}).get("regressions") or []
    if not regressions:
        return None
    shown = ", ".join(shorten(regression_line(r), 120) for r in regressions[:3])
    more = f" (+{len(regressions) - 3} more)" if len(regressions) > 3 else ""
    return f"slower than the last green: {shown}{more}"


def metric_rows(comparison: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The comparison as table rows: per check, its time then each vital, with the figure,
    the baseline's, the change (``+1.2 s``, ``7.0×``) and whether it regressed. A seal's
    record read back from the ledger is trusted for shape only: what is not a number is
    left out."""
    regressed = {(r.get("check"), r.get("metric"))
                 for r in comparison.get("regressions") or [] if isinstance(r, dict)}
    rows = []
    checks = comparison.get("checks") or {}
    for name, figures in (checks.items() if isinstance(checks, dict) else ()):
        if not isinstance(figures, dict):
            continue
        pairs: list[tuple[str, Any, Any]] = [
            ("ms", figures.get("ms"), figures.get("baseline_ms"))]
        vitals, before = figures.get("vitals") or {}, figures.get("baseline_vitals") or {}
        pairs += [(key, vitals.get(key), before.get(key)) for key in VITALS]
        for metric, value, base in pairs:
            if not _number(value):
                continue
            rows.append({"check": name, "metric": metric, "value": _shown(metric, value),
                         "baseline": _shown(metric, base) if _number(base) else "–",
                         "change": _change(metric, value, base) if _number(base) else "",
                         "regressed": (name, metric) in regressed})
    return rows


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shown(metric: str, value: float) -> str:
    if metric == "cls":
        return f"{value:.3f}"
    if metric == "bytes":
        return f"{value / 1024:.1f} KiB"
    if metric == "requests":
        return f"{value:g}"
    return f"{value:g} ms"


def _change(metric: str, value: float, base: float) -> str:
    if metric == "cls":
        return f"{value - base:+.3f}"
    if metric in ("requests", "bytes"):
        return f"{value - base:+g}" if metric == "requests" else f"{(value - base) / 1024:+.1f} KiB"
    ratio = f", {value / base:.1f}×" if base > 0 else ""
    return f"{value - base:+g} ms{ratio}"


def commits_between(checkout: Path, base: str, head: str,
                    limit: int = MAX_COMMITS) -> tuple[list[dict[str, str]], int] | None:
    """The commits in ``head`` and not in ``base`` (newest first, at most ``limit``, each
    ``{"sha": short, "subject": …}``) and how many more there are; None when ``checkout``
    is no git checkout or lacks either commit."""
    if not (_SHA.match(base) and _SHA.match(head)):
        return None
    try:
        for sha in (base, head):
            if _git(checkout, "cat-file", "-e", f"{sha}^{{commit}}") is None:
                return None
        total = _git(checkout, "rev-list", "--count", f"{base}..{head}")
        listed = _git(checkout, "log", f"-n{limit}", "--format=%h%x00%s", f"{base}..{head}")
    except (OSError, subprocess.SubprocessError):
        return None
    if total is None or listed is None:
        return None
    commits = []
    for line in listed.splitlines():
        sha, _, subject = line.partition("\x00")
        commits.append({"sha": sha, "subject": shorten(subject, 200)})
    return commits, max(int(total.strip() or 0) - len(commits), 0)


def _git(checkout: Path, *args: str) -> str | None:
    """A read-only git command's output, or None when it failed."""
    done = subprocess.run(["git", "-C", str(checkout), *args], capture_output=True,
                          timeout=GIT_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", "replace")


def compare_url(repo: str, api_url: str, base: str, head: str) -> str:
    """The GitHub page comparing ``base`` with ``head`` (GitHub Enterprise: its host)."""
    web = "https://github.com" if api_url.rstrip("/") == "https://api.github.com" \
        else re.sub(r"/api/v3/?$", "", api_url.rstrip("/"))
    return f"{web}/{repo}/compare/{base}...{head}"
