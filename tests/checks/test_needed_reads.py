"""Which refused requests a page needed to draw its data, and the ``reads:`` line for each."""

from __future__ import annotations

import json

import pytest

from smokeseal.checks.reads import needed_read, parse_allow_failing

pytestmark = pytest.mark.unit

QUERY = json.dumps({"query": "{ orders { id } }"}).encode()
MUTATION = json.dumps({"query": "mutation { track(event: \"view\") }"}).encode()


@pytest.mark.parametrize(("method", "url", "body", "line"), [
    ("WEBSOCKET", "wss://app.example.com/_stcore/stream", None, "WEBSOCKET /_stcore/stream"),
    ("WEBSOCKET", "ws://app.example.com/socket.io/?EIO=4&transport=websocket", None,
     "WEBSOCKET /socket.io/"),
    ("POST", "https://app.example.com/api/graphql", QUERY, "GRAPHQL /api/graphql"),
    ("POST", "https://app.example.com/socket.io/?EIO=4&transport=polling&t=x", b"40",
     "POST /socket.io/"),
    ("POST", "https://app.example.com/_dash-update-component", b"{}",
     "POST /_dash-update-component"),
    ("POST", "https://app.example.com/_blazor/negotiate?negotiateVersion=1", None,
     "POST /_blazor/negotiate"),
])
def test_a_data_channel_is_named_by_the_read_that_declares_it(method, url, body, line):
    assert needed_read(method, url, body, "application/json") == line


@pytest.mark.parametrize(("method", "url", "body"), [
    ("POST", "https://app.example.com/api/graphql", MUTATION),  # a write, never a read
    ("POST", "https://app.example.com/collect", b"v=1&t=pageview"),
    ("POST", "https://app.example.com/api/cart", b'{"query": 1}'),
    ("PUT", "https://app.example.com/api/cart", QUERY),
    ("POST", "https://app.example.com/socket.io/?EIO=4&transport=websocket", b"x"),
    # A page cannot make any path a data channel by dressing its query as one.
    ("POST", "https://app.example.com/api/account/delete?EIO=4&transport=polling", b"x"),
    ("POST", "https://app.example.com/api/negotiate", b"x"),
])
def test_writes_a_page_can_do_without_are_not_needed(method, url, body):
    assert needed_read(method, url, body, "application/json") is None


def test_allow_failing_matches_method_and_path_or_prefix():
    optional = parse_allow_failing("GET /api/optional*")
    assert optional.covers("GET", "https://app.example.com/api/optional/1?x=2")
    assert not optional.covers("POST", "https://app.example.com/api/optional/1")
    assert not optional.covers("GET", "https://app.example.com/api/other")
    live = parse_allow_failing("websocket /live")
    assert live.covers("WEBSOCKET", "wss://app.example.com/live")
    assert not live.covers("WEBSOCKET", "wss://app.example.com/live/2")
    assert parse_allow_failing("* /x").covers("DELETE", "/x")


@pytest.mark.parametrize(("entry", "names"), [
    ("GET", "write it as"), ("GET api", "must start with '/'"),
    ("GET /a?b", "leave out the query"), ("GET /a*b", "may only end"),
    ("G(T /a", "not an HTTP method"),
])
def test_a_bad_allow_failing_entry_says_what_is_wrong(entry, names):
    with pytest.raises(ValueError, match=names):
        parse_allow_failing(entry)
