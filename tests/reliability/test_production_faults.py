"""Production half up: every fault is a failed check with a clear detail, within its timeout.

The stand-ins record every request; the fixtures prove afterwards that only GET/HEAD came.
"""

from __future__ import annotations

import pytest

from smokeseal.checks.base import CheckResult
from smokeseal.config import Check, Expect
from smokeseal.runner import run_suite
from tests.conftest import Edge
from tests.reliability.conftest import BadTLS, Hostile

pytestmark = pytest.mark.component

TIMEOUT = 2.0
#: Past the check's own timeout: starting a tab, closing it, a loaded machine.
SLACK_MS = 4000


def page(path: str, **expect: object) -> Check:
    return Check(page=path, timeout=TIMEOUT, expect=Expect(**expect))  # type: ignore[arg-type]


def get(path: str, **expect: object) -> Check:
    return Check(get=path, timeout=TIMEOUT, expect=Expect(**expect))  # type: ignore[arg-type]


def one(check: Check, base_url: str, browser: str | None = None) -> CheckResult:
    run = run_suite([check], base_url, browser_executable=browser)
    [result] = run.results
    return result


def test_an_untrusted_certificate_fails_both_kinds_of_check(bad_tls: BadTLS,
                                                            browser_executable: str) -> None:
    fetched = one(get("/"), bad_tls.unknown_ca)
    assert (fetched.ok, fetched.detail) == (
        False, f"{bad_tls.unknown_ca}: certificate not trusted (unable to get local issuer "
               "certificate): set SSL_CERT_FILE or ca_file to your CA bundle")
    rendered = one(page("/"), bad_tls.unknown_ca, browser_executable)
    assert not rendered.ok
    assert rendered.detail == (f"could not load: {bad_tls.unknown_ca}: certificate not "
                               "trusted (ERR_CERT_AUTHORITY_INVALID): set SSL_CERT_FILE or "
                               "ca_file to your CA bundle")
    assert bad_tls.recorder.seen == []  # nothing got past the handshake


@pytest.mark.parametrize(("server", "reason"), [
    ("wrong_name", "IP address mismatch, certificate is not valid for '127.0.0.1'."),
    ("expired", "certificate has expired"),
])
def test_a_trusted_ca_still_names_a_wrong_host_or_an_expired_certificate(
        bad_tls: BadTLS, server: str, reason: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", bad_tls.ca_file)  # a private CA, as operators have
    result = one(get("/"), getattr(bad_tls, server))
    url = getattr(bad_tls, server)
    assert (result.ok, result.detail) == (False, f"{url}: certificate rejected ({reason})")


def test_the_trusted_ca_makes_a_good_certificate_pass(bad_tls: BadTLS,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", bad_tls.ca_file)
    result = one(get("/"), bad_tls.unknown_ca)
    assert (result.ok, result.detail) == (True, "200")
    assert bad_tls.recorder.seen == [("GET", "/")]


@pytest.mark.parametrize("path", ["/never-loads", "/hang"])
def test_a_page_that_never_finishes_loading_fails_at_its_timeout(
        hostile: Hostile, browser_executable: str, path: str) -> None:
    result = one(page(path, selector="main"), hostile.url, browser_executable)
    assert not result.ok
    assert result.detail == "could not load: page did not finish loading within 2 s"
    assert TIMEOUT * 1000 <= result.duration_ms < TIMEOUT * 1000 + SLACK_MS


@pytest.mark.parametrize(("base", "error"), [
    ("closed", "net::ERR_CONNECTION_REFUSED"),
    ("http://smokeseal-no-such-host.invalid", "net::ERR_NAME_NOT_RESOLVED"),
])
def test_a_page_on_a_dead_or_unknown_host_says_which(browser_executable: str, closed_port: int,
                                                     base: str, error: str) -> None:
    base_url = f"http://127.0.0.1:{closed_port}" if base == "closed" else base
    result = one(page("/"), base_url, browser_executable)
    assert (result.ok, result.detail) == (False, f"could not load: {error} at {base_url}/")


def test_a_page_in_a_redirect_loop_fails_naming_it(edge: Edge, browser_executable: str) -> None:
    result = one(page("/loop"), edge.url, browser_executable)
    assert result.detail == f"could not load: net::ERR_TOO_MANY_REDIRECTS at {edge.url}/loop"
    assert set(edge.log) == {("GET", "/loop")}


def test_a_redirect_to_another_host_fails_naming_where_it_went(
        hostile: Hostile, browser_executable: str) -> None:
    fetched = one(get("/away"), hostile.url)
    assert (fetched.ok, fetched.detail) == (
        False, f"redirected off the app to {hostile.other_host_url}/landed; if "
               f"{hostile.other_host_url} serves this app, add it: aliases: "
               f"[{hostile.other_host_url}]; if the check is meant to end there: "
               f"expect: {{redirect_to: {hostile.other_host_url}}}")
    rendered = one(page("/away", selector="main"), hostile.url, browser_executable)
    assert (rendered.ok, rendered.url) == (False, f"{hostile.other_host_url}/landed")
    assert f"left the app: ended on {hostile.other_host_url}/landed" in rendered.detail


def test_a_redirect_elsewhere_can_be_expected(hostile: Hostile,
                                              browser_executable: str) -> None:
    landed = f"{hostile.other_host_url}/landed"
    result = one(get("/away", redirect_to=landed), hostile.url)
    assert (result.ok, result.detail) == (True, f"302 (Location: {landed})")
    kept = one(Check(get="/away", follow_redirects=False,
                     expect=Expect(status=302, header={"Location": "/landed"})), hostile.url)
    assert kept.ok, kept.detail
    rendered = one(page("/away", selector="main", redirect_to=landed), hostile.url,
                   browser_executable)
    assert rendered.ok, rendered.detail
