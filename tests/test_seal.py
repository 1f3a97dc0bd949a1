"""The verdict rule, in one place: green only when every check ran and none failed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from smokeseal.checks.base import CheckResult
from smokeseal.runner import RunResult
from smokeseal.seal import SCHEMA_VERSION, CheckRecord, Seal, seal_from_run, verdict

pytestmark = pytest.mark.unit


def result(name: str, ok: bool = True, **extra: object) -> CheckResult:
    return CheckResult(name, "get", ok, "200" if ok else "expected 200, got 500", 12,
                       **extra)  # type: ignore[arg-type]


def run(*results: CheckResult, notes: list[str] | None = None) -> RunResult:
    return RunResult("https://app.example.com", datetime(2026, 11, 25, tzinfo=UTC), 40,
                     list(results), notes=notes or [])


def test_every_check_passing_is_green() -> None:
    seal = seal_from_run(run(result("up"), result("home")))
    assert (seal.status, seal.summary) == ("green", "2/2 passed")


def test_one_failure_is_red_and_named() -> None:
    seal = seal_from_run(run(result("up"), result("home", ok=False)))
    assert seal.status == "red"
    assert seal.summary == "1/2 passed; home: expected 200, got 500"


def test_nothing_run_is_red() -> None:
    assert verdict([]) == "red"
    assert seal_from_run(run()).summary == "no checks ran"


def test_a_skipped_check_is_never_green_and_the_summary_says_what_went_unverified() -> None:
    skipped = CheckResult("home", "page", True, "skipped: --no-browser", 0, skipped=True)
    assert skipped.ok is False and skipped.outcome == "skipped"
    seal = seal_from_run(run(result("up"), skipped))
    assert seal.status == "red"
    assert seal.summary == "1/2 passed; not verified: 1 check skipped (home)"


def test_all_skipped_is_red() -> None:
    seal = seal_from_run(run(CheckResult("a", "command", True, "skipped", 0, skipped=True)))
    assert seal.status == "red"


def test_a_pass_on_a_retry_is_flaky_green_and_named_with_its_first_failure() -> None:
    flaky = result("tasks render", first_failure="expected 200, got 500", attempts=2)
    assert flaky.outcome == "flaky"
    seal = seal_from_run(run(result("up"), flaky))
    assert seal.status == "green"
    assert seal.summary == ("2/2 passed, 1 flaky: tasks render "
                            "(expected 200, got 500 on the first try)")
    assert seal.to_dict()["checks"][1]["outcome"] == "flaky"
    assert seal.to_dict()["checks"][1]["attempts"] == 2


def test_the_record_keeps_the_contract_shape_and_a_schema_version() -> None:
    record = seal_from_run(run(result("up", ok=False))).to_dict()
    assert record["schema_version"] == SCHEMA_VERSION
    assert set(record) >= {"status", "summary", "checked_at", "base_url", "duration_ms",
                           "checks", "rollback"}
    assert record["checks"][0] == {"name": "up", "kind": "get", "ok": False,
                                   "outcome": "failed", "detail": "expected 200, got 500",
                                   "duration_ms": 12}


def test_nul_is_taken_out_of_every_string_of_the_record() -> None:
    bad = CheckResult("home\x00", "page", False, "Error: bad\x00byte", 3,
                      blocked_writes=["POST /x\x00"])
    record = seal_from_run(run(bad)).to_dict()
    assert "\x00" not in repr(record)
    assert record["checks"][0]["detail"] == "Error: badbyte"


@pytest.mark.parametrize(("old", "outcome", "ok"), [
    ({"ok": True}, "passed", True),
    ({"ok": False}, "failed", False),
    ({"ok": True, "skipped": True}, "skipped", False),
])
def test_a_schema_1_record_reads_back_with_outcomes(old: dict[str, object], outcome: str,
                                                    ok: bool) -> None:
    check = CheckRecord.model_validate({"name": "x", "kind": "get", "detail": "", **old})
    assert (check.outcome, check.ok) == (outcome, ok)
    seal = Seal.from_dict({"status": "green", "summary": "1/1 passed",
                           "checked_at": "2026-11-24T10:00:00Z", "base_url": "https://a.b",
                           "duration_ms": 5, "checks": [{"name": "x", "kind": "get",
                                                         "ok": True, "detail": "200"}]})
    assert seal.schema_version == 1
    assert seal.checks[0].outcome == "passed"


def test_a_lone_surrogate_is_made_visible_not_fatal() -> None:
    record = seal_from_run(run(CheckResult("home", "page", False, "Error: boom \ud800", 3)))
    detail = record.to_dict()["checks"][0]["detail"]
    assert detail == "Error: boom \\ud800"
    detail.encode("utf-8")  # the ledger, JUnit and evidence can write it


def test_lists_production_can_make_long_are_capped() -> None:
    noisy = CheckResult("home", "page", True, "200", 3,
                        blocked_writes=[f"POST /beacon/{i}" for i in range(500)])
    [check] = seal_from_run(run(noisy)).checks
    assert len(check.blocked_writes) == 51
    assert check.blocked_writes[-1] == "+450 more"


def test_secrets_are_taken_out_of_every_text_of_the_seal() -> None:
    leaky = CheckResult("spec", "command", False, "exit 1; output: hook=https://x/abc/S3CRET-TOKEN",
                        3, notes=["S3CRET-TOKEN again"])
    seal = seal_from_run(run(leaky), secrets=["S3CRET-TOKEN"])
    assert "S3CRET" not in repr(seal.to_dict())
    assert seal.checks[0].detail == "exit 1; output: hook=https://x/abc/***"


def test_a_secret_split_by_a_nul_is_still_taken_out() -> None:
    """Production echoing the secret with a NUL inside: the NUL goes, so must the secret."""
    leaky = CheckResult("page", "page", False, "page shows: 'S3CRET\x00-TOKEN'", 3)
    seal = seal_from_run(run(leaky), secrets=["S3CRET-TOKEN"])
    assert "S3CRET" not in repr(seal.to_dict())
    assert "TOKEN" not in (seal.revision or "") + seal.summary


def test_reads_are_kept_on_the_record_and_older_records_have_none() -> None:
    page = CheckResult("home", "page", True, "200", 3,
                       reads=["POST /_dash-update-component ×3", "WEBSOCKET /ws"])
    [check] = seal_from_run(run(page)).checks
    assert check.reads == ["POST /_dash-update-component ×3", "WEBSOCKET /ws"]
    assert check.to_dict()["reads"] == check.reads
    assert check.reads_line == ("let through 4 reads: POST /_dash-update-component ×3, "
                                "WEBSOCKET /ws")
    older = CheckRecord.model_validate({"name": "home", "kind": "page", "ok": True,
                                        "outcome": "passed", "detail": "200"})
    assert (older.reads, older.reads_line) == ([], None)
    assert "reads" not in older.to_dict()
