"""One canonical host, found by its redirects: a stand-in reached by two loopback names,
``localhost`` sending every path to the same path on ``127.0.0.1`` (as an apex domain sends
every path to www). ``doctor`` names the canonical host with the exact fix, its gate line is
ship's own gate, and a check that ends on the other host says which keys to change."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from smokeseal.config import Gate, load_config
from smokeseal.doctor import Finding, diagnose
from smokeseal.errors import ShipError
from smokeseal.runner import run_app
from smokeseal.ship import wait_for_gate
from tests.conftest import TwoNames


def _config(url: str, suite: str = "", aliases: str = "") -> str:
    return (f"apps:\n  shop:\n    url: {url}\n{aliases}"
            "    gate: {path: /up, timeout: 1, interval: 0.1}\n" + suite)


def _diagnose(path: Path, tmp_path: Path) -> list[Finding]:
    return [f for f in diagnose(path, f"sqlite:///{tmp_path / 'ledger.db'}")
            if f.area == "app shop"]


@pytest.mark.component
def test_doctor_names_the_host_every_path_is_sent_to_as_the_canonical_one(
        two_names: TwoNames, write_config: Callable[[str], Path], tmp_path: Path) -> None:
    """Before: the url's redirect was named without the aliases: value, and the gate line
    said "gate /up answers 200" (it followed the redirect to the other name) while ship's
    gate refused that redirect and failed."""
    apex, www = two_names.apex, two_names.www
    fix = f"in apps.shop, set url: {www} and aliases: [{apex}]"
    host, gate = _diagnose(write_config(_config(apex)), tmp_path)
    assert (host.ok, host.message, host.fix) == (
        False, f"{apex} redirects every path asked (/, /up) to the same path on {www}: {www} "
               "is the canonical host, and every check would leave the app", fix)
    assert (gate.ok, gate.message, gate.fix) == (
        False, f"gate {apex}/up redirected off the app to {www}/up: ship would fail its gate",
        fix)
    # What doctor said of the gate is what ship's gate does.
    with pytest.raises(ShipError, match=f"redirected off the app to {www}/up; "):
        wait_for_gate(apex, Gate(path="/up", timeout=0.5, interval=0.1))


@pytest.mark.component
def test_with_the_fix_doctor_is_healthy_and_the_gate_passes_as_ships_does(
        two_names: TwoNames, write_config: Callable[[str], Path], tmp_path: Path) -> None:
    apex, www = two_names.apex, two_names.www
    found = _diagnose(write_config(_config(www, aliases=f"    aliases: [{apex}]\n")),
                      tmp_path)
    assert [f.message for f in found if not f.ok] == []
    said = [f.message for f in found]
    assert said[:2] == [f'canonical host: {www} answers 200 ("Two Names")',
                        "gate /up answers 200"]
    assert f"alias {apex} redirects to the canonical host" in said
    assert wait_for_gate(www, Gate(path="/up", timeout=1, interval=0.1),
                         app_urls=[apex]) is None


@pytest.mark.component
def test_a_get_check_that_ends_on_the_canonical_host_names_both_keys(
        two_names: TwoNames, write_config: Callable[[str], Path]) -> None:
    apex, www = two_names.apex, two_names.www
    suite = "    suite:\n      - {name: tasks, get: '/tasks?page=2', retries: 0}\n"
    [result] = run_app(load_config(write_config(_config(apex, suite))), "shop").results
    assert (result.ok, result.detail) == (
        False, f"redirected off the app to {www}/tasks?page=2; {apex} sends it to the same "
               f"path on {www}, the canonical host: set url: {www} and aliases: [{apex}]")
    # The other name was never asked: the walk stops where it would leave the app.
    assert two_names.log.seen == [("GET", "/tasks")]


@pytest.mark.integration
def test_a_page_check_that_ends_on_the_canonical_host_names_both_keys(
        two_names: TwoNames, write_config: Callable[[str], Path],
        browser_executable: str) -> None:
    apex, www = two_names.apex, two_names.www
    suite = "    suite:\n      - {name: tasks, page: /tasks, retries: 0, timeout: 10}\n"
    [result] = run_app(load_config(write_config(_config(apex, suite))), "shop").results
    assert not result.ok
    assert result.detail.startswith(
        f"left the app: ended on {www}/tasks; {apex} sends it to the same path on {www}, the "
        f"canonical host: set url: {www} and aliases: [{apex}]")
