"""The seal against production stand-ins that break the ways real releases break: never green
on a broken production, always a verdict, recorded on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from smokeseal.config import Config, load_config
from smokeseal.ledger import Ledger
from smokeseal.ship import resolve_release, seal_release, ship
from tests.conftest import Broken

pytestmark = pytest.mark.integration

RELEASE_SHA = "3f2a9c1b7d0e"
OLD_SHA = "1a2b3c4d5e6f"


def broken_config(broken: Broken, write_config: Callable[[str], Path],
                  suite: str = "") -> Config:
    """The built-in health suite (or ``suite``), the revision read from /version."""
    text = (f"apps:\n  shop:\n    url: {broken.url}\n"
            "    gate: {timeout: 1, interval: 0.2}\n"
            "    version: {path: /version, json: sha}\n" + suite)
    return load_config(write_config(text))


@pytest.fixture
def config(broken: Broken, write_config: Callable[[str], Path], browser_executable: str,
           monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("SMOKESEAL_BROWSER", browser_executable)
    return broken_config(broken, write_config)


def shipped_seal(config: Config, ledger: Ledger, version: str = "v1",
                 sha: str = RELEASE_SHA) -> dict[str, object]:
    release = resolve_release(ledger, config, "shop", version=version, sha=sha)
    result = ship(config, ledger, release)
    assert result.release.state == "shipped"
    assert result.seal is not None
    stored = ledger.release(release.id).smoke_seal
    assert stored == result.seal.to_dict()
    return stored


def by_name(seal: dict[str, object]) -> dict[str, dict[str, object]]:
    return {c["name"]: c for c in seal["checks"]}  # type: ignore[index, union-attr]


def test_a_healthy_release_is_green_and_records_the_revision_served(
        config: Config, ledger_url: str) -> None:
    with Ledger(ledger_url) as ledger:
        seal = shipped_seal(config, ledger)
    assert seal["status"] == "green", seal["summary"]
    assert seal["revision"] == RELEASE_SHA
    assert seal["schema_version"] == 2
    assert {c["outcome"] for c in seal["checks"]} == {"passed"}  # type: ignore[union-attr]
    assert by_name(seal)["version"]["ok"] is True


@pytest.mark.parametrize(("fault", "why"), [
    ("blank", "/assets/app.js"),
    ("error_shell", "Something went wrong"),
    ("sso", "localhost"),
])
def test_a_broken_home_page_is_never_green(config: Config, broken: Broken, ledger_url: str,
                                           fault: str, why: str) -> None:
    broken.fault(fault)
    with Ledger(ledger_url) as ledger:
        seal = shipped_seal(config, ledger)
    assert seal["status"] == "red"
    home = by_name(seal)["home renders"]
    assert home["outcome"] == "failed"
    assert why in str(home["detail"]), home["detail"]
    assert "home renders: " in str(seal["summary"])
    assert seal["rollback"]


def test_an_old_build_still_answering_is_shipped_with_a_red_seal_naming_both_shas(
        config: Config, broken: Broken, ledger_url: str) -> None:
    broken.state["revision"] = OLD_SHA
    with Ledger(ledger_url) as ledger:
        seal = shipped_seal(config, ledger)
    assert seal["status"] == "red"
    assert seal["revision"] == OLD_SHA
    version = by_name(seal)["version"]
    assert version["outcome"] == "failed"
    assert OLD_SHA[:7] in str(version["detail"]) and RELEASE_SHA[:7] in str(version["detail"])


def test_a_flaky_first_answer_is_green_and_named(config: Config, broken: Broken,
                                                 ledger_url: str) -> None:
    broken.fault("flaky")
    with Ledger(ledger_url) as ledger:
        seal = shipped_seal(config, ledger)
    assert seal["status"] == "green"
    home = by_name(seal)["home renders"]
    assert home["outcome"] == "flaky"
    assert "500" in str(home["first_failure"])
    assert "1 flaky: home renders (" in str(seal["summary"])


def test_a_spinning_page_is_that_checks_failure_and_the_seal_is_still_recorded(
        broken: Broken, write_config: Callable[[str], Path], browser_executable: str,
        monkeypatch: pytest.MonkeyPatch, ledger_url: str) -> None:
    monkeypatch.setenv("SMOKESEAL_BROWSER", browser_executable)
    broken.fault("spin")
    config = broken_config(broken, write_config, suite=(
        "    suite:\n"
        "      - {name: home renders, page: /, timeout: 2, retries: 0}\n"
        "      - {name: up, get: /up}\n"))
    with Ledger(ledger_url) as ledger:
        seal = shipped_seal(config, ledger)
    assert seal["status"] == "red"
    checks = by_name(seal)
    assert checks["home renders"]["outcome"] == "failed"
    assert checks["up"]["outcome"] == "passed"
    assert checks["version"]["outcome"] == "passed"


def test_a_nul_in_production_text_does_not_stop_the_seal_being_written(
        config: Config, broken: Broken, ledger_url: str) -> None:
    broken.fault("nul_error")
    with Ledger(ledger_url) as ledger:
        seal = shipped_seal(config, ledger)
    assert seal["status"] == "red"
    detail = str(by_name(seal)["home renders"]["detail"])
    assert "badbyte" in detail and "\x00" not in detail


def test_skipped_page_checks_are_never_green(config: Config, ledger_url: str) -> None:
    with Ledger(ledger_url) as ledger:
        release = resolve_release(ledger, config, "shop", version="v1", sha=RELEASE_SHA)
        ship(config, ledger, release, use_browser=False)
        seal, _ = seal_release(config, ledger, ledger.release(release.id), use_browser=False)
    assert seal.status == "red"
    assert [c.outcome for c in seal.checks if c.kind == "page"] == ["skipped"]
    assert "not verified: 1 check skipped (home renders)" in seal.summary
