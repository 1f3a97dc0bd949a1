from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from urllib.parse import urlencode

import pytest

from smokeseal.checks.base import CheckResult
from smokeseal.checks.http import BODY_LIMIT, WriteRefused, read_only_client, run_get_check
from smokeseal.config import Check, Expect
from tests.checks.standins_http import Served, elsewhere_app, gzip_bomb, serve, site_app
from tests.conftest import Demo, Edge, _read_only_proof

pytestmark = pytest.mark.component


def get(path: str, **kwargs: object) -> Check:
    return Check(get=path, **kwargs)  # type: ignore[arg-type]


async def run(check: Check, base_url: str):  # type: ignore[no-untyped-def]
    async with read_only_client() as client:
        return await run_get_check(client, check, base_url)


def test_a_200_passes_with_the_status_as_detail(demo: Demo) -> None:
    result = asyncio.run(run(get("/up", name="up", expect=Expect(status=200)), demo.url))
    assert (result.ok, result.detail, result.kind, result.name) == (True, "200", "get", "up")
    assert result.url == demo.url + "/up"
    assert demo.state.requests == [("GET", "/up")]


def test_any_2xx_passes_when_no_status_is_expected(demo: Demo) -> None:
    assert asyncio.run(run(get("/up"), demo.url)).ok
    assert not asyncio.run(run(get("/devops"), demo.url)).ok


def test_a_hidden_route_answering_200_fails_with_a_plain_detail(demo: Demo) -> None:
    demo.state.set_faults("devops_exposed")
    result = asyncio.run(run(get("/devops", expect=Expect(status=404)), demo.url))
    assert not result.ok
    assert result.detail == "expected 404, got 200"


def test_a_list_of_statuses_accepts_any_of_them(demo: Demo) -> None:
    assert asyncio.run(run(get("/devops", expect=Expect(status=[401, 404])), demo.url)).ok
    result = asyncio.run(run(get("/up", expect=Expect(status=[401, 404])), demo.url))
    assert result.detail == "expected 401 or 404, got 200"


def test_text_and_headers_are_checked(edge: Edge) -> None:
    passing = get("/ok", expect=Expect(text="from the edge", header={"x-edge": "v=2"}))
    assert asyncio.run(run(passing, edge.url)).ok
    failing = get("/ok", expect=Expect(text="welcome", header={"X-Edge": "v=3", "X-Gone": "1"}))
    detail = asyncio.run(run(failing, edge.url)).detail
    assert detail == ("text 'welcome' not found in the body; header X-Edge: expected 'v=3', "
                      "got 'yes; v=2'; header X-Gone missing")


def test_head_sends_head(edge: Edge) -> None:
    assert asyncio.run(run(get("/ok", method="HEAD"), edge.url)).ok
    assert edge.log == [("HEAD", "/ok")]


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirects_are_followed_as_get_and_the_final_url_reported(edge: Edge, code: int) -> None:
    result = asyncio.run(run(get(f"/redirect?code={code}"), edge.url))
    assert result.ok
    assert result.url == edge.url + "/ok"
    assert result.detail == f"200 via 1 redirect to {edge.url}/ok"
    assert edge.log == [("GET", "/redirect"), ("GET", "/ok")]


def test_a_redirect_loop_is_named_and_ends(edge: Edge) -> None:
    result = asyncio.run(run(get("/loop"), edge.url))
    assert not result.ok
    assert result.detail == (f"redirect loop: more than 10 redirects, through {edge.url}/loop "
                             "again and again")
    assert edge.log == [("GET", "/loop")] * 11


def test_a_server_that_never_answers_fails_within_the_timeout(edge: Edge) -> None:
    result = asyncio.run(run(get("/hang", timeout=0.5), edge.url))
    assert not result.ok
    assert result.detail in ("no complete answer within 0.5 s", "timed out waiting for the answer")
    assert result.duration_ms < 5000


def test_a_trickling_body_cannot_outlast_the_timeout(edge: Edge) -> None:
    result = asyncio.run(run(get("/trickle", timeout=1), edge.url))
    assert result.detail == "no complete answer within 1 s"


def test_a_huge_body_is_read_only_up_to_the_limit(edge: Edge) -> None:
    result = asyncio.run(run(get("/big", expect=Expect(text="never there")), edge.url))
    assert result.detail == "text 'never there' not found in the body"
    assert BODY_LIMIT < 50 * 1024 * 1024


def test_max_ms_fails_a_slow_answer(edge: Edge) -> None:
    result = asyncio.run(run(get("/slow?s=0.3", expect=Expect(max_ms=50)), edge.url))
    assert not result.ok
    assert result.detail.startswith("took ") and result.detail.endswith(" ms, over max_ms 50")


def test_connection_refused_is_said_plainly(closed_port: int) -> None:
    result = asyncio.run(run(get("/up"), f"http://127.0.0.1:{closed_port}"))
    assert (result.ok, result.detail) == (False, "connection refused")


def test_the_client_refuses_to_send_anything_but_get_or_head(edge: Edge) -> None:
    async def attempt(method: str) -> None:
        async with read_only_client() as client:
            await client.request(method, edge.url + "/ok")

    for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        with pytest.raises(WriteRefused, match=f"refused to send {method}"):
            asyncio.run(attempt(method))
    assert edge.log == []


def test_the_user_agent_says_who_is_asking(edge: Edge) -> None:
    async def agent() -> str:
        async with read_only_client() as client:
            return client.headers["user-agent"]

    assert asyncio.run(agent()).startswith("smokeseal/")


def test_a_name_that_does_not_resolve_is_a_dns_failure() -> None:
    result = asyncio.run(run(get("/up"), "http://smokeseal-no-such-host.invalid"))
    assert result.detail.startswith("DNS lookup failed: ")


# --- redirects never leave the app (issue 14) ---------------------------------------------

@pytest.fixture(scope="module")
def _site_server() -> Iterator[Served]:
    with serve(site_app()) as served:
        yield served


@pytest.fixture(scope="module")
def _elsewhere_server() -> Iterator[Served]:
    with serve(elsewhere_app()) as served:
        yield served


def _proved(served: Served, request: pytest.FixtureRequest, name: str) -> Iterator[Served]:
    served.log.clear()
    yield served
    _read_only_proof(request, list(served.log.seen), name)


@pytest.fixture
def site(_site_server: Served, request: pytest.FixtureRequest) -> Iterator[Served]:
    """The app under test: routes that redirect where the test says."""
    yield from _proved(_site_server, request, "the redirecting app")


@pytest.fixture
def elsewhere(_elsewhere_server: Served, request: pytest.FixtureRequest) -> Iterator[Served]:
    """Another host (an SSO provider, say), on another port of 127.0.0.1."""
    yield from _proved(_elsewhere_server, request, "the other host")


def to(target: str, code: int = 302) -> str:
    return f"/to?{urlencode({'url': target, 'code': code})}"


def run_on(check: Check, base_url: str, app_urls: Sequence[str] = ()) -> CheckResult:
    async def go() -> CheckResult:
        async with read_only_client() as client:
            return await run_get_check(client, check, base_url, app_urls=app_urls)

    return asyncio.run(go())


def test_a_redirect_to_another_host_fails_and_nothing_is_sent_there(
        site: Served, elsewhere: Served) -> None:
    # Green while broken, before: the sign-in page of the SSO host answered 200 for /account.
    result = run_on(get(to(f"{elsewhere.url}/login")), site.url)
    assert (result.ok, result.detail) == (
        False, f"redirected off the app to the sign-in page {elsewhere.url}/login: this page "
               "needs a session (cookies: or headers:)")
    assert result.url == site.url + to(f"{elsewhere.url}/login")
    assert elsewhere.log.seen == []
    assert site.log.paths() == [to(f"{elsewhere.url}/login")]


def test_another_host_name_on_the_same_port_is_another_host(site: Served) -> None:
    target = f"http://localhost:{site.port}/landed"
    result = run_on(get(to(target)), site.url)
    other = f"http://localhost:{site.port}"
    assert result.detail == (f"redirected off the app to {target}; if {other} serves this app, "
                             f"add it: aliases: [{other}]; if the check is meant to end there: "
                             f"expect: {{redirect_to: {other}}}")
    assert site.log.paths() == [to(target)]  # /landed was never asked for


def test_a_scheme_relative_location_to_another_host_is_off_the_app(
        site: Served, elsewhere: Served) -> None:
    target = f"//127.0.0.1:{elsewhere.port}/login"
    result = run_on(get(to(target)), site.url)
    assert result.detail.startswith(f"redirected off the app to the sign-in page http:{target}:")
    assert elsewhere.log.seen == []


def test_redirects_on_the_app_and_to_its_aliases_are_followed(
        site: Served, elsewhere: Served) -> None:
    # Red while fine, otherwise: apex to www, or the app's own absolute URLs.
    same_host = run_on(get(to(f"{site.url}/landed")), site.url)
    assert (same_host.ok, same_host.detail) == (True, f"200 via 1 redirect to {site.url}/landed")
    alias = run_on(get(to(f"{elsewhere.url}/version", 301)), site.url,
                   app_urls=[site.url, elsewhere.url])
    assert (alias.ok, alias.url) == (True, f"{elsewhere.url}/version")
    assert alias.detail == f"200 via 1 redirect to {elsewhere.url}/version"
    assert elsewhere.log.seen == [("GET", "/version")]


def test_off_the_app_is_judged_against_the_app_urls_not_only_the_base_url(
        site: Served, elsewhere: Served) -> None:
    # --url points the suite elsewhere (a staging host): the check may still end on base_url.
    result = run_on(get(to("/landed")), site.url, app_urls=[elsewhere.url])
    assert result.ok


def test_a_redirect_named_by_redirect_to_is_the_expected_answer(
        site: Served, elsewhere: Served) -> None:
    target = f"{elsewhere.url}/login"
    for redirect_to in (f"{elsewhere.url}/login", "127.0.0.1"):
        for code in (302, 303, 307):  # any 3xx, when no status is given
            result = run_on(get(to(target, code), expect=Expect(redirect_to=redirect_to)),
                            site.url)
            assert (result.ok, result.detail) == (True, f"{code} (Location: {target})")
    assert elsewhere.log.seen == []


def test_redirect_to_fails_when_the_redirect_goes_somewhere_else(
        site: Served, elsewhere: Served) -> None:
    wanted = "https://sso.example.com/login"
    off = run_on(get(to(f"{elsewhere.url}/login"), expect=Expect(redirect_to=wanted)), site.url)
    assert off.detail == f"redirected off the app to {elsewhere.url}/login, not to {wanted}"
    stays = run_on(get("/landed", expect=Expect(redirect_to=wanted)), site.url)
    assert stays.detail == f"expected a redirect to {wanted}, got 200"
    assert elsewhere.log.seen == []


def test_redirect_to_with_a_status_checks_that_status(site: Served, elsewhere: Served) -> None:
    target = f"{elsewhere.url}/login"
    result = run_on(get(to(target, 302), expect=Expect(redirect_to=target, status=301)), site.url)
    assert result.detail == f"expected 301, got 302 (Location: {target})"


def test_not_following_judges_the_first_answer_and_names_its_location(
        site: Served, elsewhere: Served) -> None:
    target = f"{elsewhere.url}/login"
    check = get(to(target), follow_redirects=False,
                expect=Expect(status=302, header={"Location": "/login"}))
    result = run_on(check, site.url)
    assert (result.ok, result.detail) == (True, f"302 (Location: {target})")
    on_app = run_on(get(to("/landed"), follow_redirects=False), site.url)
    assert on_app.detail == f"expected 2xx, got 302 (Location: {site.url}/landed)"
    wrong = run_on(get(to("/landed"), follow_redirects=False,
                       expect=Expect(status=302, header={"Location": "/signin"})), site.url)
    assert wrong.detail == ("header Location: expected '/signin', got '/landed' "
                            f"(Location: {site.url}/landed)")
    assert elsewhere.log.seen == []
    assert "/landed" not in site.log.paths()


def test_not_text_fails_naming_each_text_that_is_there(site: Served) -> None:
    texts = ["Internal Server Error", "Traceback", "Something went wrong"]
    result = run_on(get("/error-shell", expect=Expect(status=200, not_text=texts)), site.url)
    assert result.detail == ("text 'Internal Server Error' found in the body; "
                             "text 'Something went wrong' found in the body")
    assert run_on(get("/landed", expect=Expect(not_text="Internal Server Error")), site.url).ok


def test_a_long_chain_of_new_urls_is_too_many_redirects(site: Served) -> None:
    assert run_on(get("/chain?n=10"), site.url).detail == (
        f"200 via 10 redirects to {site.url}/chain?n=0&s=0")
    result = run_on(get("/chain?n=15"), site.url)
    assert result.detail == ("too many redirects: more than 10, the last to "
                             f"{site.url}/chain?n=4&s=0")
    assert len(site.log.seen) == 11 + 11  # the passing chain, then the limit: never endless


def test_coming_back_to_the_same_url_with_a_cookie_is_not_a_loop(site: Served) -> None:
    result = run_on(get("/dance", expect=Expect(text="danced")), site.url)
    assert (result.ok, result.detail) == (True, f"200 via 1 redirect to {site.url}/dance")


def test_one_deadline_covers_every_hop(site: Served) -> None:
    # Each hop answers within the timeout; all four together do not.
    result = run_on(get("/chain?n=4&s=0.4", timeout=1), site.url)
    assert result.detail == "no complete answer within 1 s"
    assert result.duration_ms < 3000


def test_head_stays_head_across_redirects(site: Served) -> None:
    assert run_on(get(to("/landed", 302), method="HEAD"), site.url).ok
    assert site.log.seen == [("HEAD", to("/landed", 302)), ("HEAD", "/landed")]


def test_an_endless_body_is_cut_at_the_limit_and_judged(site: Served) -> None:
    # Without the cap this would read until the deadline and say nothing about the text.
    result = run_on(get("/endless", timeout=20, expect=Expect(text="never there")), site.url)
    assert result.detail == "text 'never there' not found in the body"


@pytest.mark.parametrize(("location", "says"), [
    ("http://[::1", "server broke the HTTP protocol: Invalid URL in location header: "),
    ("javascript:alert(1)", "{url} redirected to a malformed Location: "),
    ("ftp://files.example.com/x", "redirected off the app to ftp://files.example.com/x"),
])
def test_a_malformed_or_foreign_location_is_a_failure_not_a_crash(
        site: Served, location: str, says: str) -> None:
    path = "/raw-location?" + urlencode({"url": location})
    result = run_on(get(path), site.url)
    assert not result.ok
    assert result.detail.startswith(says.format(url=site.url + path))


# --- compressed bodies: decoded under the limit, or not at all --------------------------------

def _peak_mb(go: Callable[[], CheckResult]) -> tuple[CheckResult, float]:
    """What ``go`` returns, and the most memory Python held meanwhile above where it began
    (the servers on their threads included), in MiB."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        result = go()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, (peak - before) / 2**20


#: Generous: the body limit is 2 MiB; decoding a bomb whole takes 64 MiB to gigabytes.
MEMORY_BOUND_MB = 48


@pytest.fixture(scope="module")
def bombs() -> None:
    """Built before the clock and the memory count start (it takes a second)."""
    for layers in (1, 2):
        gzip_bomb(layers)


@pytest.mark.usefixtures("bombs")
def test_a_stacked_gzip_bomb_is_not_decoded_and_the_body_is_unknown(site: Served) -> None:
    # Before: 1.8 KB of "gzip, gzip" took 2 GB of memory and blocked the event loop for
    # seconds, decoded whole before the body limit applied.
    check = get("/bomb?layers=2", timeout=5, expect=Expect(text="hello"))
    result, peak = _peak_mb(lambda: run_on(check, site.url))
    assert peak < MEMORY_BOUND_MB, f"{peak:.0f} MiB"
    assert result.duration_ms < 5000
    assert (result.ok, result.detail) == (
        False, "cannot read the body (Content-Encoding: gzip, gzip)")
    status_only = run_on(get("/bomb?layers=2", expect=Expect(status=200)), site.url)
    assert (status_only.ok, status_only.detail) == (True, "200")  # the status is known


@pytest.mark.usefixtures("bombs")
def test_a_gzip_bomb_is_inflated_only_up_to_the_limit(site: Served) -> None:
    check = get("/bomb?layers=1", timeout=5, expect=Expect(text="hello"))
    result, peak = _peak_mb(lambda: run_on(check, site.url))
    assert peak < MEMORY_BOUND_MB, f"{peak:.0f} MiB"
    assert result.duration_ms < 5000
    assert result.detail == "text 'hello' not found in the body"  # judged on 2 MiB of zeros


def test_endless_gzip_that_holds_nothing_is_cut_and_judged(site: Served) -> None:
    # Compressed bytes are capped too: else this would read until the deadline.
    result = run_on(get("/empty-blocks", timeout=5, expect=Expect(text="hello")), site.url)
    assert result.detail == "text 'hello' not found in the body"


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "deflate", "raw-deflate"])
def test_gzip_and_deflate_bodies_are_read(site: Served, coding: str) -> None:
    result = run_on(get(f"/compressed?as={coding}",
                        expect=Expect(text="hello from a compressed body")), site.url)
    assert (result.ok, result.detail) == (True, "200")
    # Only what smokeseal decodes under the limit is asked for.
    asked = run_on(get(f"/compressed?as={coding}",
                       expect=Expect(text="(asked for: gzip, deflate)")), site.url)
    assert asked.ok, asked.detail


@pytest.mark.parametrize(("coding", "why"), [
    ("br", "Content-Encoding: br"),
    ("zstd", "Content-Encoding: zstd"),
    ("gzip, br", "Content-Encoding: gzip, br"),
    ("corrupt-gzip", "Content-Encoding: gzip, but the body is not gzip: Error -3 while "
                     "decompressing data: incorrect header check"),
])
def test_a_body_that_cannot_be_decoded_fails_what_needs_it_and_only_that(
        site: Served, coding: str, why: str) -> None:
    path = "/compressed?" + urlencode({"as": coding})
    # Absent from a body that cannot be read is not known either: before, raw br bytes
    # "did not contain" the error text and the check passed.
    for expect in (Expect(text="hello"), Expect(not_text="Internal Server Error")):
        result = run_on(get(path, expect=expect), site.url)
        assert (result.ok, result.detail) == (False, f"cannot read the body ({why})")
    status = run_on(get(path, expect=Expect(status=200, header={"X-Shop": "open"})), site.url)
    assert (status.ok, status.detail) == (True, "200")
    header = run_on(get(path, expect=Expect(header={"X-Shop": "closed"})), site.url)
    assert header.detail == "header X-Shop: expected 'closed', got 'open'"


@pytest.mark.parametrize("coding", ["UTF-8", "none", "binary", "identity", "text"])
def test_a_coding_that_compresses_nothing_is_read_as_it_is(site: Served, coding: str) -> None:
    # Misconfigured servers send these; browsers and httpx read the body as it is.
    path = "/compressed?" + urlencode({"as": coding})
    result = run_on(get(path, expect=Expect(text="hello from a compressed body")), site.url)
    assert (result.ok, result.detail) == (True, "200")


@pytest.mark.parametrize("charset", ["zlib", "hex", "rot13", "idna", "no-such-charset"])
def test_a_charset_that_is_not_a_text_codec_is_read_as_utf8(site: Served, charset: str) -> None:
    # Before: charset=zlib raised LookupError out of the check (httpx accepts the codec name).
    result = run_on(get(f"/charset?name={charset}", expect=Expect(text="hello, café")),
                    site.url)
    assert (result.ok, result.detail) == (True, "200")
