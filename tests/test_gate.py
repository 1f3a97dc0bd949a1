"""The ship's gate waits for the live build: ``/up`` answering 200 is not enough while the old
build still answers. Against a real build stand-in whose revision flips mid-deploy."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smokeseal.checks.version import Revision
from smokeseal.config import Config, Gate, VersionSource, load_config
from smokeseal.errors import ShipError
from smokeseal.ledger import Ledger
from smokeseal.ship import deploy_and_gate, resolve_release, wait_for_gate
from tests.checks.standins_http import NEW, OLD, Live, live_build
from tests.conftest import _read_only_proof

JSON = VersionSource.model_validate({"json": "sha"})
QUICK = Gate(timeout=10, interval=0.05)
#: A gate that gives up soon: for the cases where the right build never comes.
SHORT = Gate(timeout=0.6, interval=0.05)


@pytest.fixture(scope="module")
def _live() -> Iterator[Live]:
    with live_build() as live:
        yield live


@pytest.fixture
def live(_live: Live, request: pytest.FixtureRequest) -> Iterator[Live]:
    """The build stand-in, serving OLD until told otherwise; read-only proof after."""
    _live.reset()
    yield _live
    _read_only_proof(request, list(_live.build.log.seen), "the build stand-in")


def gate(live: Live, gate: Gate = QUICK, *, version: VersionSource | None = JSON,
         sha: str | None = NEW, clock: Callable[[], float] = time.monotonic
         ) -> tuple[Revision | None, list[str]]:
    said: list[str] = []
    seen = wait_for_gate(live.url, gate, version=version, sha=sha, say=said.append, clock=clock)
    return seen, said


@pytest.mark.component
def test_a_rolling_deploy_is_waited_for_until_the_release_s_build_answers(live: Live) -> None:
    live.state.flip_after = 3  # three reads still meet the old build
    seen, said = gate(live)
    assert seen == Revision(NEW, "json key 'sha' of /version")
    assert live.state.reads == 4
    assert said == [
        f"gate: waiting for {live.url}/up to answer 200 and 3f2a9c1 to be live (up to 10 s)",
        "gate: attempt 1: 200, but 1a2b3c4 is still live, not 3f2a9c1; retrying every 0.05 s",
        f"gate: {live.url}/up answered 200 and 3f2a9c1 is live after 4 attempts",
    ]  # attempts 2 and 3 saw the same: not said again


@pytest.mark.component
def test_a_build_that_never_flips_ships_and_says_the_seal_will_tell(live: Live) -> None:
    started = time.monotonic()
    seen, said = gate(live, SHORT)
    assert time.monotonic() - started < 5
    assert seen == Revision(OLD, "json key 'sha' of /version")
    assert said[-1] == ("gate: /up answers 200 but 1a2b3c4 is still live, not 3f2a9c1; "
                        "shipping, the seal will say so")
    assert live.state.reads > 1  # it did wait, polling


@pytest.mark.component
def test_an_up_that_never_answers_200_fails_the_ship_as_before(live: Live) -> None:
    live.state.up = [503]
    with pytest.raises(ShipError, match=r"gate: .*/up did not answer 200 within 0.6 s "
                                        r"\(\d+ attempts, last: status 503\)"):
        gate(live, SHORT)
    assert live.state.reads == 0  # the build is asked only once /up is up


@pytest.mark.component
def test_an_unreadable_version_is_waited_out_like_an_old_build_then_ships(live: Live) -> None:
    # The first release that adds /version meets the old build's 404: that is "not yet",
    # not a reason to fail the ship; past the timeout the seal's version check says why.
    seen, said = gate(live, SHORT, version=VersionSource.model_validate(
        {"path": "/version/404", "json": "sha"}))
    assert seen == Revision(None, "/version/404 answered 404")
    assert said[1] == ("gate: attempt 1: 200, but the live revision could not be read "
                       "(/version/404 answered 404); retrying every 0.05 s")
    assert said[-1] == ("gate: /up answers 200 but the live revision could not be read "
                        "(/version/404 answered 404); shipping, the seal will say so")
    assert live.build.log.paths().count("/version/404") > 1


@pytest.mark.component
def test_a_hanging_version_endpoint_cannot_hold_the_gate(live: Live) -> None:
    started = time.monotonic()
    seen, _ = gate(live, SHORT, version=VersionSource.model_validate(
        {"path": "/version/hang", "json": "sha", "timeout": 0.3}))
    assert seen == Revision(None, "/version/hang gave no complete answer within 0.3 s")
    assert time.monotonic() - started < 5


@pytest.mark.component
def test_an_up_that_drops_after_a_200_still_ships(live: Live) -> None:
    # As before, one 200 from /up passes the gate; waiting longer for the build must not
    # turn a later blip into a failed ship.
    live.state.up = [200, 503]
    seen, said = gate(live, SHORT)
    assert seen is not None and seen.value == OLD
    assert said[-1] == ("gate: /up answered 200 earlier (now status 503) but 1a2b3c4 is still "
                        "live, not 3f2a9c1; shipping, the seal will say so")


@pytest.mark.component
def test_the_build_is_read_only_once_up_answers_200(live: Live) -> None:
    live.state.old = NEW  # the new build is already there; /up is still starting
    live.state.up = [503, 502, 200]
    seen, said = gate(live)
    assert seen is not None and seen.value == NEW
    assert (live.state.up_asked, live.state.reads) == (3, 1)
    assert said[-1] == f"gate: {live.url}/up answered 200 and 3f2a9c1 is live after 3 attempts"


@pytest.mark.component
@pytest.mark.parametrize(("version", "sha"), [(None, NEW), (JSON, None)])
def test_without_both_a_version_source_and_a_sha_the_gate_is_up_only(
        live: Live, version: VersionSource | None, sha: str | None) -> None:
    seen, said = gate(live, version=version, sha=sha)
    assert seen is None
    assert said == [f"gate: waiting for {live.url}/up to answer 200 (up to 10 s)",
                    f"gate: {live.url}/up answered 200 after 1 attempt"]
    assert live.state.reads == 0


@pytest.mark.component
def test_the_version_endpoint_may_redirect_to_an_alias_and_nowhere_else(live: Live) -> None:
    away = VersionSource.model_validate({"path": "/version/away", "json": "sha"})
    said: list[str] = []
    seen = wait_for_gate(live.url, QUICK, version=away, sha=NEW,
                         app_urls=[live.elsewhere.url], say=said.append)
    assert seen is not None and seen.value == "3f2a9c1deadbeef"  # the alias serves NEW
    assert live.elsewhere.log.seen == [("GET", "/version")]
    live.elsewhere.log.clear()
    unaliased, _ = gate(live, SHORT, version=away)
    assert unaliased is not None and unaliased.value is None
    assert unaliased.detail.startswith("/version/away redirected off the app to ")
    assert live.elsewhere.log.seen == []


@pytest.mark.component
def test_the_gate_s_deadline_is_on_its_clock(live: Live) -> None:
    # A clock that is past the deadline right after the first attempt: one attempt, no wait.
    ticks = iter([0.0])

    def clock() -> float:
        return next(ticks, 1e9)

    started = time.monotonic()
    seen, said = gate(live, Gate(timeout=120, interval=30), clock=clock)
    assert time.monotonic() - started < 5
    assert (live.state.up_asked, live.state.reads) == (1, 1)
    assert seen is not None and seen.value == OLD
    assert said[-1].endswith("shipping, the seal will say so")


# --- each poll stays on the app and ends in time; nothing but ShipError escapes ---------------

@pytest.mark.component
def test_an_up_that_redirects_off_the_app_is_not_up_and_the_other_host_gets_nothing(
        live: Live) -> None:
    # Before: /up 302 to another host's sign-in page, which answered 200, passed the gate.
    away = Gate(path="/up/away", timeout=0.6, interval=0.05)
    said: list[str] = []
    with pytest.raises(ShipError) as raised:
        wait_for_gate(live.url, away, say=said.append)
    assert str(raised.value).startswith(f"gate: {live.url}/up/away did not answer 200 within "
                                        "0.6 s (")
    left = (f"redirected off the app to {live.elsewhere.url}/login; a sign-in page: the check "
            "needs a valid session (cookies: or headers:), or, if it is meant to end there: "
            f"expect: {{redirect_to: {live.elsewhere.url}}}")
    assert str(raised.value).endswith(f" attempts, last: {left})")
    assert said[1] == f"gate: attempt 1: {left}; retrying every 0.05 s"
    assert live.elsewhere.log.seen == []
    # An alias is the app: there, the redirect is followed.
    seen = wait_for_gate(live.url, away, app_urls=[live.elsewhere.url])
    assert seen is None
    assert live.elsewhere.log.seen == [("GET", "/login")]


@pytest.mark.component
def test_a_trickling_up_cannot_hold_the_gate_past_its_timeout(live: Live) -> None:
    # Before: one byte a second kept a gate with timeout 3 going for a minute, each byte
    # inside httpx's per-read timeout.
    trickling = Gate(path="/up/trickle", timeout=1.5, interval=0.05)
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            wait_for_gate(live.url, trickling)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    started = time.monotonic()
    # On a thread, so that a gate that does hang fails this test instead of holding it.
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(trickling.timeout + 5)
    assert not thread.is_alive(), "the gate was still polling"
    assert time.monotonic() - started < trickling.timeout + 2
    assert len(outcome) == 1 and isinstance(outcome[0], ShipError)
    assert str(outcome[0]).endswith("last: no complete answer within 1.5 s)")


@pytest.mark.component
def test_a_version_pattern_that_backtracks_cannot_hold_the_gate(live: Live) -> None:
    path = "/version/long-line?n=40000"
    started = time.monotonic()
    seen, _ = gate(live, SHORT, version=VersionSource.model_validate(
        {"path": path, "pattern": r"(\w*)\d"}))
    assert time.monotonic() - started < 5
    assert seen is not None and seen.value is None
    assert seen.detail.startswith(f"pattern took too long on the body of {path}")


@pytest.mark.component
def test_a_charset_that_is_not_a_text_codec_does_not_stop_the_gate(live: Live) -> None:
    # Before: LookupError out of the gate after the deploy ran; ship exited 3, the release
    # left assembled.
    live.state.old = NEW
    seen, said = gate(live, version=VersionSource.model_validate(
        {"path": "/version/charset?name=zlib", "json": "sha"}))
    assert seen == Revision(NEW, "json key 'sha' of /version/charset?name=zlib")
    assert said[-1] == f"gate: {live.url}/up answered 200 and 3f2a9c1 is live after 1 attempt"


@pytest.mark.component
def test_an_unexpected_error_reading_the_revision_is_unreadable_never_raised(
        live: Live) -> None:
    # A malformed alias (the config refuses it; wait_for_gate takes what it is given) makes
    # the version endpoint's redirect raise ValueError where no one expects one. The gate
    # raises nothing but ShipError: this is a revision it could not read.
    moved = VersionSource.model_validate({"path": "/version/moved", "json": "sha"})
    said: list[str] = []
    seen = wait_for_gate(live.url, SHORT, version=moved, sha=NEW, app_urls=["http://[::1"],
                         say=said.append)
    assert seen == Revision(None, "revision unreadable: ValueError: Invalid IPv6 URL")
    assert said[-1] == ("gate: /up answers 200 but the live revision could not be read "
                        "(revision unreadable: ValueError: Invalid IPv6 URL); shipping, the "
                        "seal will say so")
    # The same in a poll of /up (here one that redirects on the app) is a poll that did not
    # pass: the gate fails the ship as it should, with a ShipError that says why.
    with pytest.raises(ShipError, match=r"last: unexpected error: ValueError: Invalid IPv6 "
                                        r"URL\)$"):
        wait_for_gate(live.url, Gate(path="/version/moved", timeout=0.3, interval=0.05),
                      app_urls=["http://[::1"])


# --- deploy_and_gate passes the app's version source and the release's sha --------------------

def _config(live: Live, write_config: Callable[[str], Path], *,
            version: str = "{path: /version, json: sha}") -> Config:
    return load_config(write_config(
        f"apps:\n  shop:\n    url: {live.url}\n    deploy: 'true'\n"
        f"    gate: {{timeout: 0.6, interval: 0.05}}\n    version: {version}\n"))


@pytest.mark.integration
def test_ship_waits_for_the_release_s_build(live: Live, write_config: Callable[[str], Path],
                                            tmp_path: Path) -> None:
    config = _config(live, write_config)
    live.state.flip_after = 2
    said: list[str] = []
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        release = resolve_release(ledger, config, "shop", version="v2", sha="3f2a9c1")
        shipped = deploy_and_gate(config, ledger, release, say=said.append)
    assert shipped.state == "shipped"
    assert f"gate: {live.url}/up answered 200 and 3f2a9c1 is live after 3 attempts" in said
    assert live.state.reads == 3


@pytest.mark.integration
def test_ship_with_the_old_build_still_live_ships_and_says_so(
        live: Live, write_config: Callable[[str], Path], tmp_path: Path) -> None:
    config = _config(live, write_config)
    said: list[str] = []
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        release = resolve_release(ledger, config, "shop", version="v2", sha="3f2a9c1")
        shipped = deploy_and_gate(config, ledger, release, say=said.append)
    assert shipped.state == "shipped"
    assert ("gate: /up answers 200 but 1a2b3c4 is still live, not 3f2a9c1; shipping, the seal "
            "will say so") in said


@pytest.mark.integration
def test_ship_still_fails_when_up_never_answers(live: Live, write_config: Callable[[str], Path],
                                                tmp_path: Path) -> None:
    config = _config(live, write_config)
    live.state.up = [500]
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        release = resolve_release(ledger, config, "shop", version="v2", sha="3f2a9c1")
        with pytest.raises(ShipError, match="did not answer 200"):
            deploy_and_gate(config, ledger, release)
        assert ledger.release(release.id).state == "assembled"
