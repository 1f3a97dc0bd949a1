"""Parsing and matching declared reads, and judging a GraphQL body: pure functions."""

from __future__ import annotations

import json
import re
import time

import pytest

from smokeseal.checks.base import Tally, listed_total
from smokeseal.checks.reads import (
    MAX_GRAPHQL_BYTES,
    Read,
    ReadPolicy,
    graphql_errors,
    graphql_refusal,
    origin_of,
    override_refusal,
    parse_read,
)

pytestmark = pytest.mark.unit

APP = "https://app.example.com"


def body(payload: object) -> bytes:
    return json.dumps(payload).encode()


@pytest.mark.parametrize(("entry", "read"), [
    ("POST /_dash-update-component", Read("POST", "/_dash-update-component")),
    ("post /x", Read("POST", "/x")),
    ("graphql /graphql", Read("GRAPHQL", "/graphql")),
    ("WEBSOCKET /_stcore/*", Read("WEBSOCKET", "/_stcore/", prefix=True)),
    ("  PROPFIND   /dav  ", Read("PROPFIND", "/dav")),
    ("REPORT /*", Read("REPORT", "/", prefix=True)),
])
def test_a_read_is_parsed(entry: str, read: Read) -> None:
    assert parse_read(entry) == read


def test_a_read_says_itself_as_written() -> None:
    assert str(parse_read("websocket /ws*")) == "WEBSOCKET /ws*"


@pytest.mark.parametrize("entry", ["GET /a", "HEAD /a", "POST a", "POST /a*b", "POST", "",
                                   "POST /a b", "P@ST /a", "POST /a#x", "POST /**"])
def test_a_bad_read_is_refused(entry: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(entry))):
        parse_read(entry)


def test_a_path_matches_exactly_or_as_a_prefix() -> None:
    exact, prefix = parse_read("POST /api/read"), parse_read("POST /api/read*")
    assert exact.matches("/api/read") and not exact.matches("/api/read/more")
    assert not exact.matches("/api/reader")
    assert prefix.matches("/api/read") and prefix.matches("/api/reader/x")
    assert not prefix.matches("/api/rea")


def policy(*reads: str, app_urls: tuple[str, ...] = (APP,)) -> ReadPolicy:
    return ReadPolicy.of([parse_read(r) for r in reads], app_urls)


def test_only_the_apps_origin_and_the_declared_method_pass() -> None:
    reads = policy("POST /_dash-update-component", "GRAPHQL /graphql", "WEBSOCKET /ws")
    dash = parse_read("POST /_dash-update-component")
    assert reads.http_read("POST", f"{APP}/_dash-update-component?x=1") == dash
    assert reads.http_read("POST", f"{APP}:443/_dash-update-component") == dash
    assert reads.http_read("PUT", f"{APP}/_dash-update-component") is None
    assert reads.http_read("POST", "https://evil.example/_dash-update-component") is None
    assert reads.http_read("POST", "http://app.example.com/_dash-update-component") is None
    assert reads.http_read("POST", f"{APP}:8443/_dash-update-component") is None
    assert reads.http_read("POST", f"{APP}/graphql") == parse_read("GRAPHQL /graphql")
    # GraphQL is read by POST only; a socket is no HTTP read.
    assert reads.http_read("PUT", f"{APP}/graphql") is None
    assert reads.http_read("POST", f"{APP}/ws") is None
    assert reads.socket_read("wss://app.example.com/ws") == parse_read("WEBSOCKET /ws")
    assert reads.socket_read("ws://app.example.com/ws") is None  # http is another origin
    assert reads.socket_read("wss://app.example.com/ws2") is None
    assert reads.socket_read("wss://other.example/ws") is None


def test_a_read_declared_by_its_method_wins_over_graphql() -> None:
    reads = policy("GRAPHQL /graphql", "POST /graphql")
    assert reads.http_read("POST", f"{APP}/graphql") == parse_read("POST /graphql")


def test_an_alias_or_the_url_override_is_the_apps_origin() -> None:
    reads = policy("POST /x", app_urls=("http://127.0.0.1:8000", APP))
    assert reads.http_read("POST", "http://127.0.0.1:8000/x") is not None
    assert reads.http_read("POST", "http://localhost:8000/x") is None
    assert origin_of("HTTP://App.Example.com") == ("http", "app.example.com", 80)
    assert origin_of("data:text/plain,x") is None


@pytest.mark.parametrize("request_body", [
    body({"query": "{ tasks { id } }"}),
    body({"query": "query Tasks { tasks { id } }", "operationName": "Tasks"}),
    body({"query": "query A { a } query B { b }", "operationName": "B"}),
    body({"query": "query T { ...F } fragment F on Task { id }", "variables": {"x": 1}}),
    body({"query": "{ a }", "operationName": None}),
    body([{"query": "{ a }"}, {"query": "query B { b }"}]),
])
def test_a_query_passes(request_body: bytes) -> None:
    assert graphql_refusal(request_body, "application/json") is None


def test_a_document_sent_as_application_graphql_is_judged_as_it_is() -> None:
    assert graphql_refusal(b"query { a }", "application/graphql; charset=utf-8") is None
    assert graphql_refusal(b"mutation { a }", "application/graphql") == \
        "a mutation, not a query"


@pytest.mark.parametrize(("request_body", "content_type", "why"), [
    (body({"query": "mutation Drop { drop }"}), "application/json",
     "a mutation Drop, not a query"),
    (body({"query": "subscription { tasks }"}), "application/json",
     "a subscription, not a query"),
    (body({"query": "query Safe { a } mutation Drop { drop }", "operationName": "Safe"}),
     "application/json",
     "the document holds a mutation Drop: only documents of queries pass, whichever "
     "operation is selected"),
    (body([{"query": "{ a }"}, {"query": "mutation { drop }"}]), "application/json",
     "batch [1]: a mutation, not a query"),
    (body([]), "application/json", "an empty batch"),
    (body({"query": "query A { a } query B { b }"}), "application/json",
     "several operations and no operationName to select one"),
    (body({"query": "query A { a }", "operationName": "B"}), "application/json",
     "operationName 'B' is not in the document"),
    (body({"query": "{ a "}), "application/json", "the query does not parse: Syntax Error"),
    (b"{ a }", "application/json", "the body is not JSON"),
    (b"not json", "text/plain", "the body is not JSON"),
    (body({"query": 42}), "application/json", "'query' is not a string"),
    (body({"query": "{ a }", "operationName": 1}), "application/json",
     "'operationName' is not a string"),
    (body({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ab"}}}),
     "application/json", "a persisted query: the server may run its stored document"),
    (body({"query": "{ a }", "extensions": {"persistedQuery": {"sha256Hash": "ab"}}}),
     "application/json", "a persisted query: the server may run its stored document"),
    (body({"operationName": "A"}), "application/json", "no query text"),
    (b'{"query": "mutation { drop }", "query": "{ a }"}', "application/json",
     "the key 'query' appears twice"),
    (body({"query": "{ a }", "documentId": "drop"}), "application/json",
     "it carries 'documentId': the server may run another document"),
    (body({"query": "{ a }", "id": "drop"}), "application/json", "it carries 'id'"),
    (body("{ a }"), "application/json", "not a GraphQL request"),
    (body({"query": "type Task { id: ID }"}), "application/json",
     "the document holds more than operations and fragments"),
    (body({"query": "fragment F on T { id }"}), "application/json",
     "the document holds no operation"),
    (b"--x\r\nContent-Disposition: form-data; name=operations\r\n\r\n{}\r\n--x--",
     "multipart/form-data; boundary=x", "a multipart body (an upload) is not a query"),
    (None, "application/json", "no body"),
    (b"\xff\xfe{}", "application/json", "the body is not UTF-8 text"),
])
def test_anything_but_a_query_is_refused_saying_why(request_body: bytes | None,
                                                    content_type: str, why: str) -> None:
    refusal = graphql_refusal(request_body, content_type)
    assert refusal is not None and refusal.startswith(why), refusal


@pytest.mark.parametrize("huge", [
    body({"query": "{ a " + "b " * (MAX_GRAPHQL_BYTES // 2) + "}"}),
    body({"query": "{ a " * 100_000 + "}" * 100_000}),
    body({"query": "{ " + "a " * 200_000 + "}"}),
])
def test_a_huge_or_deep_body_is_refused_quickly(huge: bytes) -> None:
    started = time.monotonic()
    assert graphql_refusal(huge, "application/json") is not None
    assert time.monotonic() - started < 5  # a bound on harm, not a speed target


def test_a_tally_lists_each_entry_once_with_its_count() -> None:
    tally = Tally(limit=2)
    for entry in ["a", "b", "a", "c", "a", "d"]:
        tally.add(entry)
    assert tally.listed() == ["a ×3", "b", "+2 more"]
    assert tally.total == listed_total(tally.listed()) == 6


@pytest.mark.unit
@pytest.mark.parametrize("url", [
    "https://app.example.com/graphql?query=mutation%7Bdrop%7D",
    "https://app.example.com/graphql?operationName=Drop",
    "https://app.example.com/graphql?documentId=abc",
    "https://app.example.com/graphql?extensions=%7B%7D",
])
def test_an_operation_named_in_the_url_of_a_post_is_refused(url: str) -> None:
    refusal = graphql_refusal(body({"query": "{ a }"}), "application/json", url)
    assert refusal is not None and refusal.startswith("the URL carries"), refusal


def test_a_url_with_other_parameters_still_passes() -> None:
    assert graphql_refusal(body({"query": "{ a }"}), "application/json",
                           "https://app.example.com/graphql?endId=1") is None


@pytest.mark.parametrize(("url", "headers", "form"), [
    ("https://a.example/api", {"X-HTTP-Method-Override": "DELETE"}, None),
    ("https://a.example/api", {"x-http-method": "DELETE"}, None),
    ("https://a.example/api", {"X-Method-Override": "PUT"}, None),
    ("https://a.example/api?_method=DELETE", {}, None),
    ("https://a.example/api", {"Content-Type": "application/x-www-form-urlencoded"},
     b"a=1&_method=DELETE"),
])
def test_a_read_that_asks_for_another_method_is_refused(
        url: str, headers: dict[str, str], form: bytes | None) -> None:
    refusal = override_refusal(url, headers, form)
    assert refusal is not None and "another method" in refusal


def test_a_plain_read_asks_for_no_other_method() -> None:
    assert override_refusal("https://a.example/api?x=1", {"content-type": "application/json"},
                            b'{"_method": "DELETE"}') is None


@pytest.mark.parametrize("path", ["/api/..;/admin", "/api/..%2Fadmin", "/api%2F..%2Fadmin",
                                  "/api/%2e%2e/admin", "/api//admin", "/api/x;jsessionid=1",
                                  "/api/..%5cadmin"])
def test_a_path_that_may_mean_another_matches_no_read(path: str) -> None:
    policy = ReadPolicy.of([parse_read("POST /api/*")], ["https://app.example.com"])
    assert policy.http_read("POST", f"https://app.example.com{path}") is None
    assert policy.http_read("POST", "https://app.example.com/api/search") is not None


@pytest.mark.parametrize(("answer", "failed", "partial"), [
    ({"data": None, "errors": [{"message": "db down"}]}, "db down", None),
    ({"errors": [{"message": "db down"}]}, "db down", None),
    ({"data": {"a": 1}, "errors": [{"message": "one field"}]}, None, "one field"),
    ({"data": {"a": 1}}, None, None),
    ({"data": {"a": 1}, "errors": []}, None, None),
    ([{"data": {"a": 1}}, {"data": None, "errors": [{"message": "second"}]}], "second", None),
    # A healthy app refusing a signed-out visitor its `me` query.
    ({"data": None, "errors": [{"message": "Not authenticated",
                                "extensions": {"code": "UNAUTHENTICATED"}}]},
     None, "Not authenticated"),
    ({"data": None, "errors": [{"message": "boom", "extensions": {"code": "INTERNAL"}}]},
     "boom", None),
])
def test_a_graphql_answer_with_errors_and_no_data_is_a_failed_read(
        answer: object, failed: str | None, partial: str | None) -> None:
    assert graphql_errors(json.dumps(answer).encode()) == (failed, partial)


def test_an_answer_that_is_no_graphql_has_no_errors() -> None:
    assert graphql_errors(b"<html>") == (None, None)
    assert graphql_errors(b'"errors"') == (None, None)


@pytest.mark.parametrize("entry", ["POST /api/search;jsessionid=1", "POST /a//b",
                                   "POST /a/%2F*", "WEBSOCKET /ws/../admin"])
def test_a_declared_path_that_could_never_match_is_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="never matches"):
        parse_read(entry)
