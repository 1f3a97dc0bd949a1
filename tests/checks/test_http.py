from __future__ import annotations

import asyncio

import pytest

from smokeseal.checks.http import BODY_LIMIT, WriteRefused, read_only_client, run_get_check
from smokeseal.config import Check, Expect
from tests.conftest import Demo, Edge

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


def test_a_redirect_loop_is_named(edge: Edge) -> None:
    result = asyncio.run(run(get("/loop"), edge.url))
    assert not result.ok
    assert result.detail == "redirect loop: more than 10 redirects"


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
